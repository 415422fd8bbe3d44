"""Run the app under gunicorn after checking configuration and schema in the master.

``sessions-service serve`` and plain ``gunicorn wsgi:app`` (through ``gunicorn_conf``) share
the same options and the same checks before any worker starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from .db import SchemaNotCurrent, get_engine, new_session, schema_is_current, upgrade_schema
from .twofactor import check_secret_keys

# The path only, never the query string: a client may put secrets there by mistake.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


class GunicornServer(BaseApplication):
    """gunicorn with each worker building its own app (and engine) from the environment."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from . import create_app

        return create_app()


def _prepare(app: Flask) -> None:
    settings = app.config["SETTINGS"]
    if settings.is_sqlite:
        upgrade_schema(app)
    elif not schema_is_current(app):
        raise SchemaNotCurrent()
    with new_session(app) as db:
        check_secret_keys(db, settings)  # a wrong key stops the master, before any worker


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000  # Rocket.Chat's, so the documented curl example works
DEFAULT_WORKERS = 2


def gunicorn_options(host: str, port: int, workers: int) -> dict[str, Any]:
    """The gunicorn settings every way of serving uses."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
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
    from . import create_app

    app = create_app()
    try:
        _prepare(app)
    finally:
        get_engine(app).dispose()


def prepare_and_serve(host: str, port: int, workers: int, demo: bool = False) -> None:
    """Validate config, migrate (SQLite, or any database for the demo), maybe seed, serve."""
    from . import create_app

    app = create_app()  # configuration errors stop here, before any worker starts
    if demo:
        from .demo import print_instructions, seed_if_empty

        upgrade_schema(app)
        with app.app_context():
            seed_if_empty(app)
            print_instructions(app, host, port)
    else:
        _prepare(app)
    get_engine(app).dispose()
    GunicornServer(gunicorn_options(host, port, workers)).run()
