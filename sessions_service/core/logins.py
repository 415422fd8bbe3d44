"""Login sessions: each gets a new random token, stored only as its hash, and the device its
User-Agent names. Nothing here commits."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from sessions_service.core.security import hash_token, new_token
from sessions_service.core.useragent import parse_user_agent
from sessions_service.data.models import User, UserSession
from sessions_service.data.queries import sessions


def create_session(
    db: Session,
    user: User,
    *,
    user_agent: str | None,
    ip: str,
    host: str,
    now: datetime,
    expiration_days: int,
    bypass_2fa: bool = False,
) -> tuple[UserSession, str]:
    """Open a login session for ``user``; returns it and the plain token (stored hashed)."""
    token = new_token()
    # Parsed as stored, so the device always describes the stored User-Agent.
    user_agent = sessions.storable_user_agent(user_agent)
    session = sessions.insert_session(
        db,
        user_id=user.id,
        token_hash=hash_token(token),
        device=parse_user_agent(user_agent),
        user_agent=user_agent,
        ip=ip,
        host=host,
        login_at=now,
        expires_at=now + timedelta(days=expiration_days),
        bypass_2fa=bypass_2fa,
    )
    return session, token


def find_active_session_by_token(db: Session, token: str, now: datetime) -> UserSession | None:
    """The active session (with its user loaded) whose stored hash is this token's."""
    return sessions.find_active_session(db, hash_token(token), now)


def find_caller_by_token(
    db: Session, token: str, now: datetime, permission_id: str | None = None
) -> sessions.Caller | None:
    """The active session whose stored hash is this token's, with its user and the roles of
    ``permission_id`` (see permissions.holds), in one statement."""
    return sessions.find_caller(db, hash_token(token), now, permission_id)
