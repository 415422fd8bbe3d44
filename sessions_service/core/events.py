"""Security events: one structured log record per event, never a secret. Flask-free.

``emit`` logs each event at INFO to the ``sessions_service.security`` logger, its fields
(time, event, outcome, userId, ip, requestId, then the event's own) in the record's
``security_event`` attribute; ``EventFormatter`` renders them as one JSON line (``json.dumps``
escapes CR/LF, so user input cannot forge lines). Where the records go is the process's
logging configuration (``ops.logconfig`` when our own entry points start it), never the
library's. Tokens, codes, passwords and TOTP secrets are never passed in.

Here, below web and ops, so the CLI emits without Flask; the web layer passes the request's
client IP and id (``web.events``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sessions_service.clock import format_timestamp, utcnow

LOGGER_NAME = "sessions_service.security"  # documented (README): operators configure it by name
EVENT_ATTRIBUTE = "security_event"
MAX_FIELD = 128

log = logging.getLogger(LOGGER_NAME)


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD:
        return value[:MAX_FIELD] + "…"
    return value


def emit(
    event: str,
    outcome: str,
    *,
    user_id: str | None = None,
    ip: str | None = None,
    request_id: str | None = None,
    **fields: Any,
) -> None:
    """Write one security event (``ip`` and ``request_id`` are the request's, if any)."""
    record: dict[str, Any] = {
        "time": format_timestamp(utcnow()),
        "event": event,
        "outcome": outcome,
        "userId": _clip(user_id),
        "ip": ip,
        "requestId": request_id,
    }
    record.update({key: _clip(value) for key, value in fields.items()})
    # The message holds constants only: a plain-text handler shows no user input either.
    log.info("%s %s", event, outcome, extra={EVENT_ATTRIBUTE: record})


class EventFormatter(logging.Formatter):
    """A security event as its one JSON line; any other record as ``logging.Formatter``."""

    def format(self, record: logging.LogRecord) -> str:
        """The event's fields as compact ASCII JSON, in the order ``emit`` gave them."""
        fields = getattr(record, EVENT_ATTRIBUTE, None)
        if not isinstance(fields, dict):
            return super().format(record)
        return json.dumps(fields, ensure_ascii=True, separators=(",", ":"))
