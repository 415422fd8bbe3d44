"""The REST API: one blueprint under /api/v1 guarded by the auth hook."""

from __future__ import annotations

from flask import Blueprint

from ..auth import enforce_policy

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(enforce_policy)

from . import login, sessions  # noqa: E402,F401  (views register themselves on bp)
