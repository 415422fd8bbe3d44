"""gunicorn settings for ``gunicorn wsgi:app`` (via the checkout's ``gunicorn.conf.py``) or
``gunicorn -c python:sessions_service.ops.gunicorn_conf 'sessions_service:create_app()'``.

The same options as ``sessions-service serve``: ``127.0.0.1:3000`` unless ``--bind`` (or
``GUNICORN_CMD_ARGS``) says otherwise, ``WEB_CONCURRENCY`` workers (default 2), and the same
checks in the master before any worker starts: an embedded SQLite database is migrated, a
PostgreSQL schema that is behind is refused with the command that fixes it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from sessions_service.ops.cli import expected_failure
from sessions_service.ops.server import (
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

# Every option gunicorn_options names, as this module's globals (gunicorn reads them there);
# bind is a list in a config file.
globals().update(_options, bind=[_options["bind"]])


def on_starting(server: Any) -> None:
    """Check configuration and schema once, in the master, before any worker boots."""
    try:
        prepare_master()
    except Exception as exc:
        failure = expected_failure(exc)  # the same one-line errors as the CLI's
        if failure is None:
            raise
        sys.exit(f"error: {failure.format_message()}")
