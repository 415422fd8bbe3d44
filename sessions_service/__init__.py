"""sessions-service: Rocket.Chat's device-management Sessions REST API on Flask.

Configuration comes from the environment when ``create_app()`` runs (see README.md):
``DATABASE_URL`` (default: SQLite in the instance folder) and ``SESSIONS_*``.

Errors are Rocket.Chat's envelope: ``{"success": false, "error": "...", "errorType"?, "details"?}``
(401 bodies also carry ``status``/``message``; login errors use ``{"status": "error", ...}``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from sessions_service import state
from sessions_service.config import load_config
from sessions_service.web import api, db, errors, events, headers
from sessions_service.web.request_body import BufferedBody

MAX_BODY_BYTES = 64 * 1024


def create_app(environ: Mapping[str, str] | None = None, **flask_kwargs: Any) -> Flask:
    """Build the app: config → db → error handlers → blueprints → cli."""
    from sessions_service.ops import cli  # cli imports create_app for its console script

    app = Flask(__name__, **flask_kwargs)
    settings = load_config(os.environ if environ is None else environ, app.instance_path)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    state.init_app(app, settings)
    if settings.secret_key_generated:
        app.logger.warning(
            "SESSIONS_SECRET_KEY not set: generated one into %s/secret.key; keep that file "
            "(TOTP secrets cannot be read without it) or set SESSIONS_SECRET_KEY",
            app.instance_path,
        )
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep Rocket.Chat's key order
    db.init_app(app)
    events.init_app(app)
    headers.init_app(app)
    errors.register_error_handlers(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(api.docs_bp)
    cli.register(app)
    app.wsgi_app = BufferedBody(  # type: ignore[method-assign]
        app.wsgi_app, max_bytes=MAX_BODY_BYTES, timeout_s=settings.request_body_timeout_s
    )
    return app
