"""/sessions/*: list, inspect and end login sessions."""

from __future__ import annotations

from typing import Any

from flask import g

from .. import queries
from ..auth import endpoint, settings
from ..db import get_db, utcnow
from ..permissions import VIEW_DEVICE_MANAGEMENT
from ..schemas import ListArgs, SessionSchema
from . import bp


def _page_size(params: dict[str, Any]) -> int:
    cfg = settings()
    return min(params.get("count", cfg.api_default_count), cfg.api_upper_count_limit)


@bp.get("/sessions/list.all")
@endpoint(query=ListArgs, permission=VIEW_DEVICE_MANAGEMENT, two_factor=True)
def list_all() -> dict[str, Any]:
    """Every user's active sessions, filtered, sorted, paged."""
    params, count = g.params, _page_size(g.params)
    page = queries.list_sessions(
        get_db(),
        now=utcnow(),
        offset=params["offset"],
        count=count,
        sort=params["sort"],
        pattern=params.get("filter") or None,
    )
    return {
        "sessions": SessionSchema(many=True).dump(page.sessions),
        "total": page.total,
        "count": count,
        "offset": params["offset"],
        "success": True,
    }
