"""/sessions/*: list, inspect and end login sessions."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from flask import g

from sessions_service.clock import utcnow
from sessions_service.core.permissions import LOGOUT_DEVICE_MANAGEMENT, VIEW_DEVICE_MANAGEMENT
from sessions_service.data import queries
from sessions_service.data.limits import FilterBusy, FilterTimedOut, bounded_filter
from sessions_service.state import settings_of
from sessions_service.web import events
from sessions_service.web.api import bp
from sessions_service.web.auth import current_principal, endpoint
from sessions_service.web.db import get_db
from sessions_service.web.errors import NotFound, ServiceUnavailable, TooManyRequests
from sessions_service.web.schemas import (
    ListArgs,
    OwnSessionInfoSchema,
    OwnSessionPageSchema,
    SessionIdResultSchema,
    SessionIdSchema,
    SessionInfoSchema,
    SessionPageSchema,
)


def _page(user_id: str | None) -> dict[str, Any]:
    """Run list/list.all with the validated parameters (a filter within its budget)."""
    params, cfg, db = g.params, settings_of(), get_db()
    count = min(params.get("count", cfg.api_default_count), cfg.api_upper_count_limit)
    pattern = params.get("filter") or None
    bounded = bounded_filter(db, current_principal().user.id, cfg) if pattern else nullcontext()
    try:
        with bounded:
            page = queries.list_sessions(
                db,
                now=utcnow(),
                offset=params["offset"],
                count=count,
                sort=params["sort"],
                pattern=pattern,
                user_id=user_id,
            )
    except FilterBusy:
        raise TooManyRequests() from None
    except FilterTimedOut:
        raise ServiceUnavailable() from None  # as any statement over its timeout
    return {
        "sessions": page.sessions,
        "total": page.total,
        "count": count,
        "offset": params["offset"],
    }


@bp.get("/sessions/list.all")
@endpoint(SessionPageSchema, query=ListArgs, permission=VIEW_DEVICE_MANAGEMENT, two_factor=True)
def list_all() -> dict[str, Any]:
    """Every user's active sessions, filtered, sorted, paged."""
    return _page(user_id=None)


@bp.get("/sessions/list")
@endpoint(OwnSessionPageSchema, query=ListArgs)
def list_own() -> dict[str, Any]:
    """The caller's own active sessions."""
    return _page(current_principal().user.id)


@bp.get("/sessions/info")
@endpoint(OwnSessionInfoSchema, query=SessionIdSchema, not_found=True)
def info() -> queries.SessionRecord:
    """One of the caller's sessions, active or ended."""
    return _found(
        queries.get_session(get_db(), g.params["sessionId"], user_id=current_principal().user.id)
    )


@bp.get("/sessions/info.admin")
@endpoint(
    SessionInfoSchema,
    query=SessionIdSchema,
    permission=VIEW_DEVICE_MANAGEMENT,
    two_factor=True,
    not_found=True,
)
def info_admin() -> queries.SessionRecord:
    """Any user's session by exact id, active or ended."""
    return _found(queries.get_session(get_db(), g.params["sessionId"]))


def _found(session: queries.SessionRecord | None) -> queries.SessionRecord:
    if session is None:
        raise NotFound()
    return session


def _logout(owner_id: str | None) -> dict[str, Any]:
    db, session_id = get_db(), g.params["sessionId"]
    ended = queries.logout_session(
        db, session_id, current_principal().user.id, utcnow(), owner_id=owner_id
    )
    if not ended:
        raise NotFound()
    db.commit()
    caller = current_principal().user.id
    events.emit("session.logout", "success", user_id=caller, sessionId=session_id, by=caller)
    return {"sessionId": session_id}


@bp.post("/sessions/logout.me")
@endpoint(SessionIdResultSchema, body=SessionIdSchema, not_found=True)
def logout_me() -> dict[str, Any]:
    """End one of the caller's own active sessions."""
    return _logout(owner_id=current_principal().user.id)


@bp.post("/sessions/logout")
@endpoint(
    SessionIdResultSchema,
    body=SessionIdSchema,
    permission=LOGOUT_DEVICE_MANAGEMENT,
    two_factor=True,
    not_found=True,
)
def logout_any() -> dict[str, Any]:
    """End any user's active session."""
    return _logout(owner_id=None)
