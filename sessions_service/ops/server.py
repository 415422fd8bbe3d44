"""Run the app under gunicorn after checking configuration and schema in the master.

``sessions-service serve`` and plain ``gunicorn wsgi:app`` (through ``gunicorn_conf``) share
the same options and the same checks before any worker starts.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask
from gunicorn import glogging, util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from sessions_service.core.twofactor import check_secret_keys
from sessions_service.data.schema import SchemaNotCurrent, schema_is_current, upgrade_schema
from sessions_service.ops.logconfig import configure_logging
from sessions_service.state import get_engine, new_session, settings_of

# The path only, never the query string: a client may put secrets there by mistake.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


_QUERY = re.compile(r"\?[^\s'\"]*")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def scrub(text: str) -> str:
    """A log line's text: query strings cut (they may hold tokens), and every control or
    non-ASCII character escaped, so no input can forge a line or colour a terminal."""
    text = _QUERY.sub("?[query removed]", text)
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = ()
        return True


class ServiceLogger(glogging.Logger):
    """gunicorn's logger, with every access-log field and error-log line scrubbed, and the
    process's security-event logging unless the operator gave gunicorn a logging config."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.error_log.addFilter(_ScrubFilter())
        # In the master, before any worker forks (they inherit it); --log-config,
        # --log-config-json or logconfig_dict replace it, as they replace gunicorn's own.
        if not (cfg.logconfig or cfg.logconfig_json or cfg.logconfig_dict):
            configure_logging()

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: scrub(v) if isinstance(v, str) else v for k, v in atoms.items()}


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own error answers (400, 414, 431, …) in the API's JSON envelope; ``mesg``
    is left out because it may echo the request line."""
    body = json.dumps({"success": False, "error": reason}).encode()
    head = (
        f"HTTP/1.1 {int(status_int)} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class ServiceWorker(ThreadWorker):
    """gunicorn's threaded worker: a slow client holds one thread (of many) until its body
    deadline, never the whole worker; errors gunicorn answers itself are JSON."""

    def init_process(self) -> None:
        # gunicorn writes its error pages through this module function; in our own worker
        # processes it writes the JSON envelope instead of HTML.
        util.write_error = write_json_error
        super().init_process()


class GunicornServer(BaseApplication):
    """gunicorn with each worker building its own app (and engine) from the environment."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from sessions_service import create_app

        return create_app()


def _prepare(app: Flask) -> None:
    settings = settings_of(app)
    if settings.is_sqlite:
        upgrade_schema(settings_of(app))
    elif not schema_is_current(settings_of(app)):
        raise SchemaNotCurrent()
    with new_session(app) as db:
        check_secret_keys(db, settings)  # a wrong key stops the master, before any worker


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000  # Rocket.Chat's, so the documented curl example works
DEFAULT_WORKERS = 2
# Threads per worker: enough that clients trickling their bodies (each held at most
# SESSIONS_REQUEST_BODY_TIMEOUT) leave most of them free; only running requests use the GIL.
DEFAULT_THREADS = 32


def gunicorn_options(host: str, port: int, workers: int) -> dict[str, Any]:
    """The gunicorn settings every way of serving uses."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "sessions_service.ops.server.ServiceWorker",
        "threads": DEFAULT_THREADS,
        # A worker takes no more connections than it has threads: the rest wait in the
        # listen backlog for a worker that can serve them at once, so a burst of slow clients
        # landing on one worker cannot queue ordinary requests behind their body deadlines.
        "worker_connections": DEFAULT_THREADS,
        "logger_class": "sessions_service.ops.server.ServiceLogger",
        # A control socket shared by every master of this user (~/.gunicorn) is an attack
        # surface nobody here uses.
        "control_socket_disable": True,
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "timeout": 30,
        # Explicit request limits: gunicorn refuses longer ones itself (414/431/400).
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "graceful_timeout": 10,
    }


def workers_from_env(environ: Mapping[str, str]) -> int:
    """Worker count from ``WEB_CONCURRENCY`` (gunicorn's own variable), else the default."""
    raw = environ.get("WEB_CONCURRENCY", "").strip()
    if not raw:
        return DEFAULT_WORKERS
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise click.ClickException(
            f"WEB_CONCURRENCY must be a whole number from 1 to 64, got {raw!r}"
        )
    return int(raw)


def prepare_master() -> None:
    """Build the app once in the master: config errors, migration and schema checks."""
    from sessions_service import create_app

    app = create_app()
    try:
        _prepare(app)
    finally:
        get_engine(app).dispose()


def prepare_and_serve(host: str, port: int, workers: int, demo: bool = False) -> None:
    """Validate config, migrate (SQLite, or any database for the demo), maybe seed, serve."""
    from sessions_service import create_app

    app = create_app()  # configuration errors stop here, before any worker starts
    if demo:
        from sessions_service.ops.demo import print_instructions, seed_if_empty

        upgrade_schema(settings_of(app))
        with app.app_context():
            seed_if_empty(app)
            print_instructions(app, host, port)
    else:
        _prepare(app)
    get_engine(app).dispose()
    GunicornServer(gunicorn_options(host, port, workers)).run()
