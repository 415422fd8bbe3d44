"""The REST API: one blueprint under /api/v1 guarded by the auth hook (docs_bp is public)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from sessions_service.web.auth import enforce_policy


def answer_options() -> Response | None:
    """OPTIONS: ``204`` with ``Allow``, before (and instead of) authentication and 2FA.

    It asks what a route accepts, nothing more: a code sent with it must not be checked, let
    alone consumed, and Flask's own answer would be an empty text/html 200.
    """
    if request.method != "OPTIONS":
        return None
    response = current_app.make_default_options_response()
    response.status_code = 204
    response.headers.remove("Content-Type")
    return response


API_PREFIX = "/api/v1"  # Rocket.Chat's REST prefix; the docs blueprint shares it
bp = Blueprint("api", __name__, url_prefix=API_PREFIX)
bp.before_request(answer_options)  # first: when it answers, no later hook runs
bp.before_request(enforce_policy)

from sessions_service.web.api import login, sessions  # noqa: E402,F401  (views register on bp)
from sessions_service.web.api.docs import docs_bp  # noqa: E402

docs_bp.before_request(answer_options)

__all__ = ["API_PREFIX", "bp", "docs_bp"]
