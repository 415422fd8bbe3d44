"""POST /login and POST /logout, in Rocket.Chat's login envelope."""

from __future__ import annotations

from typing import Any

from flask import g, request

from .. import queries, twofactor
from ..auth import current_principal, endpoint, request_ip, settings
from ..db import get_db, utcnow
from ..errors import InvalidParams, LoginFailed, TwoFactorError
from ..schemas import LoginBody, LoginResultSchema, LogoutResultSchema
from ..security import burn_password_check, check_digest, password_digest
from . import bp


@bp.post("/login")
@endpoint(LoginResultSchema, public=True, body=LoginBody)
def login() -> dict[str, Any]:
    """Check credentials (and TOTP when enabled), then open a session."""
    params, cfg, db, now = g.params, settings(), get_db(), utcnow()
    login_name = params.get("user") or params.get("username")
    if not login_name:
        raise InvalidParams("user or username is required")
    digest = password_digest(params["password"])
    user = queries.find_user_for_login(db, login_name)
    if user is None:
        burn_password_check(digest, cfg.bcrypt_rounds)
        raise LoginFailed()
    if not check_digest(digest, user.password_hash) or not user.active:
        raise LoginFailed()
    user_agent, ip = request.headers.get("User-Agent"), request_ip()
    totp = twofactor.load_totp(db, user.id)
    if totp is not None:
        outcome = twofactor.check_code(db, user, totp, "totp", params.get("code"), now, cfg)
        db.commit()
        if not outcome.accepted:
            error = outcome.error_type or "totp-invalid"
            details = {"method": "totp", "codeGenerated": False, "availableMethods": ["totp"]}
            raise LoginFailed(error, TwoFactorError.MESSAGES[error], details)
    session, token = queries.create_session(
        db,
        user,
        user_agent=user_agent,
        ip=ip,
        host=request.host,
        now=now,
        expiration_days=cfg.login_expiration_days,
    )
    if totp is not None:
        twofactor.remember(db, session.id, twofactor.fingerprint(user_agent, ip), now, cfg)
    db.commit()
    return {"data": {"userId": user.id, "authToken": token, "me": user}}


@bp.post("/logout")
@endpoint(LogoutResultSchema)
def logout() -> dict[str, Any]:
    """End the calling session; its token stops working at once."""
    principal, db = current_principal(), get_db()
    queries.logout_session(db, principal.session.id, principal.user.id, utcnow())
    db.commit()
    return {"data": {"message": "You've been logged out!"}}
