"""The REST API: one blueprint under /api/v1 guarded by the auth hook (docs_bp is public)."""

from __future__ import annotations

from flask import Blueprint

from ..auth import enforce_policy

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(enforce_policy)

from . import login, sessions  # noqa: E402,F401  (views register themselves on bp)
from .docs import docs_bp  # noqa: E402

__all__ = ["bp", "docs_bp"]
