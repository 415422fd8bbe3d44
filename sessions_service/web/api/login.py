"""POST /login and POST /logout, in Rocket.Chat's login envelope."""

from __future__ import annotations

from typing import Any

from flask import g, request

from sessions_service.clock import utcnow
from sessions_service.core import logins, throttle, twofactor
from sessions_service.data import queries
from sessions_service.state import settings_of
from sessions_service.web import events
from sessions_service.web.api import bp
from sessions_service.web.auth import (
    begin_login,
    current_principal,
    endpoint,
    verify_credentials,
    verify_login_code,
)
from sessions_service.web.clientip import request_ip
from sessions_service.web.db import get_db
from sessions_service.web.errors import InvalidParams, LoginFailed, SecretKeyWrong
from sessions_service.web.schemas import LoginBody, LoginResultSchema, LogoutResultSchema


@bp.post("/login")
@endpoint(LoginResultSchema, public=True, body=LoginBody)
def login() -> dict[str, Any]:
    """Check credentials (and TOTP when enabled), then open a session."""
    params, cfg, db, now = g.params, settings_of(), get_db(), utcnow()
    login_name = params.get("user") or params.get("username")
    if not login_name:
        raise InvalidParams("user or username is required")
    try:
        attempt = begin_login(db, login_name, now)  # blocked: refused before any bcrypt time
    except LoginFailed:
        db.rollback()  # a refused attempt counts nowhere (not for its IP if its name is blocked)
        raise
    db.commit()  # other workers see the count before this attempt's password is checked
    user = verify_credentials(db, login_name, params["password"], attempt)
    try:
        passed_totp = verify_login_code(db, user, params.get("code"), now, attempt)
    except (LoginFailed, SecretKeyWrong):
        db.commit()  # the attempt given back, and a wrong code's count, survive the error answer
        raise
    user_agent, ip = request.headers.get("User-Agent"), request_ip()
    session, token = logins.create_session(
        db,
        user,
        user_agent=user_agent,
        ip=ip,
        host=request.host,
        now=now,
        expiration_days=cfg.login_expiration_days,
    )
    if passed_totp:
        twofactor.remember(db, session.id, twofactor.fingerprint(user_agent, ip), now, cfg)
    throttle.clear(db, attempt, [login_name, user.username, user.email])
    db.commit()  # the accepted TOTP step, the new session and the cleared counts, together
    events.emit("login", "success", user_id=user.id, sessionId=session.id)
    return {"data": {"userId": user.id, "authToken": token, "me": user}}


@bp.post("/logout")
@endpoint(LogoutResultSchema)
def logout() -> dict[str, Any]:
    """End the calling session; its token stops working at once."""
    principal, db = current_principal(), get_db()
    queries.logout_session(db, principal.session.id, principal.user.id, utcnow())
    db.commit()
    events.emit(
        "session.logout",
        "success",
        user_id=principal.user.id,
        sessionId=principal.session.id,
        by=principal.user.id,
    )
    return {"data": {"message": "You've been logged out!"}}
