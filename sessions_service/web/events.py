"""Request ids and security events: one JSON line per event, never a secret.

Events go to the ``sessions_service.core.security`` logger as single-line JSON (``json.dumps``
escapes CR/LF, so user input cannot forge lines). Fields: time, event, outcome, userId, ip,
requestId, and event-specific extras. Tokens, codes, passwords and TOTP secrets are never
passed in.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from sessions_service.clock import format_timestamp, utcnow
from sessions_service.core.twofactor import Reason
from sessions_service.web.clientip import request_ip

log = logging.getLogger("sessions_service.core.security")
REQUEST_ID_HEADER = "X-Request-Id"
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_FIELD = 128


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD:
        return value[:MAX_FIELD] + "…"
    return value


def emit(event: str, outcome: str, *, user_id: str | None = None, **fields: Any) -> None:
    """Write one security event."""
    record: dict[str, Any] = {
        "time": format_timestamp(utcnow()),
        "event": event,
        "outcome": outcome,
        "userId": _clip(user_id),
        "ip": request_ip() if has_request_context() else None,
        "requestId": g.get("request_id") if has_request_context() else None,
    }
    record.update({key: _clip(value) for key, value in fields.items()})
    log.info(json.dumps(record, ensure_ascii=True, separators=(",", ":")))


_TWO_FACTOR_EVENTS = {
    Reason.REPLAYED: ("2fa.replay", "failure"),
    Reason.LOCKED_NOW: ("2fa.lockout", "failure"),
    Reason.LOCKED: ("2fa", "locked"),
}


def two_factor(user_id: str, method: str, reason: Reason, where: str) -> None:
    """Record a two-factor check's result (reason from twofactor.Outcome)."""
    if reason == Reason.ACCEPTED:
        emit("2fa", "success", user_id=user_id, method=method, endpoint=where)
        return
    event, outcome = _TWO_FACTOR_EVENTS.get(reason, ("2fa", "failure"))
    emit(event, outcome, user_id=user_id, method=method, reason=reason, endpoint=where)


def _assign_request_id() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _CLIENT_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id") or uuid.uuid4().hex
    return response


def init_app(app: Flask) -> None:
    """Give every request an id (echoed in X-Request-Id) and make events visible."""
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
