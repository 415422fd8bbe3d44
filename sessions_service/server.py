"""Run the app under gunicorn after checking configuration and schema in the master."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from .db import SchemaNotCurrent, get_engine, schema_is_current, upgrade_schema

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
    GunicornServer(
        {
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
    ).run()
