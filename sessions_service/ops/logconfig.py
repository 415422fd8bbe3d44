"""The process's logging: security events as one JSON line each on stderr.

Applied where a process starts — the console script's ``main``, gunicorn's master (through
``server.ServiceLogger``, for ``serve``, ``demo`` and plain ``gunicorn wsgi:app``) and
``flask --app app`` (``app.py``) — and never by ``create_app``, so a process that embeds the
app keeps its own logging configuration. Nothing else is configured: other loggers behave as
Python and gunicorn leave them.
"""

from __future__ import annotations

import logging.config
from typing import Any

from sessions_service.core.events import LOGGER_NAME

LOGGING: dict[str, Any] = {
    "version": 1,
    # Loggers created before this runs (gunicorn's, the app's) must keep working.
    "disable_existing_loggers": False,
    "formatters": {"security_event": {"()": "sessions_service.core.events.EventFormatter"}},
    "handlers": {
        "security_stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "security_event",
        }
    },
    "loggers": {
        LOGGER_NAME: {
            "level": "INFO",
            "handlers": ["security_stderr"],
            # Written once, as JSON: not again by a root or Flask handler in another format.
            "propagate": False,
        }
    },
}


def configure_logging() -> None:
    """Send security events to stderr as JSON lines (idempotent: handlers are replaced)."""
    logging.config.dictConfig(LOGGING)
