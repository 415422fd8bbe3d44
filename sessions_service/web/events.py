"""Request ids, and security events with the request's context.

``emit`` is ``core.events.emit`` with the current request's client IP and request id; the
record, its fields and its JSON line are core.events'. Where events go is configured by the
process (``ops.logconfig``), not here.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from sessions_service.core import events
from sessions_service.core.twofactor import Reason
from sessions_service.web.clientip import request_ip

REQUEST_ID_HEADER = "X-Request-Id"
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def emit(event: str, outcome: str, *, user_id: str | None = None, **fields: Any) -> None:
    """Write one security event, with the client IP and request id of the current request."""
    in_request = has_request_context()
    events.emit(
        event,
        outcome,
        user_id=user_id,
        ip=request_ip() if in_request else None,
        request_id=g.get("request_id") if in_request else None,
        **fields,
    )


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
    """Give every request an id (echoed in X-Request-Id)."""
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
