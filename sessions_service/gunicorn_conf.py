"""gunicorn settings for ``gunicorn wsgi:app`` (via the checkout's ``gunicorn.conf.py``) or
``gunicorn -c python:sessions_service.gunicorn_conf 'sessions_service:create_app()'``.

The same options as ``sessions-service serve``: ``127.0.0.1:3000`` unless ``--bind`` (or
``GUNICORN_CMD_ARGS``) says otherwise, ``WEB_CONCURRENCY`` workers (default 2), and the same
checks in the master before any worker starts: an embedded SQLite database is migrated, a
PostgreSQL schema that is behind is refused with the command that fixes it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from sessions_service.cli import expected_failure
from sessions_service.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    gunicorn_options,
    prepare_master,
    workers_from_env,
)

try:
    _options = gunicorn_options(DEFAULT_HOST, DEFAULT_PORT, workers_from_env(os.environ))
except Exception as exc:
    failure = expected_failure(exc)
    if failure is None:
        raise
    sys.exit(f"error: {failure.format_message()}")

bind = [_options["bind"]]
workers = _options["workers"]
worker_class = _options["worker_class"]
threads = _options["threads"]
worker_connections = _options["worker_connections"]
logger_class = _options["logger_class"]
control_socket_disable = _options["control_socket_disable"]
accesslog = _options["accesslog"]
access_log_format = _options["access_log_format"]
timeout = _options["timeout"]
limit_request_line = _options["limit_request_line"]
limit_request_fields = _options["limit_request_fields"]
limit_request_field_size = _options["limit_request_field_size"]
graceful_timeout = _options["graceful_timeout"]


def on_starting(server: Any) -> None:
    """Check configuration and schema once, in the master, before any worker boots."""
    try:
        prepare_master()
    except Exception as exc:
        failure = expected_failure(exc)  # the same one-line errors as the CLI's
        if failure is None:
            raise
        sys.exit(f"error: {failure.format_message()}")
