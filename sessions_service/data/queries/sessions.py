"""Reads and writes of login sessions, from ready values: a token's hash, never the token; the
device already parsed (core.logins makes both).

Every function takes a Session first and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, contains_eager

from sessions_service.data.dialect import rows_affected
from sessions_service.data.ids import new_id
from sessions_service.data.models import (
    DEVICE_COLUMNS,
    HOST_MAX,
    USER_AGENT_MAX,
    Device,
    Permission,
    User,
    UserSession,
    device_of,
)

ACTIVITY_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class UserRef:
    """The user of a listed session, as the API shows it (Rocket.Chat's ``_user``)."""

    username: str
    name: str | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A session as the read endpoints show it: plain values read as columns, no ORM object
    (nothing is written through it). Same attribute names as UserSession's."""

    id: str
    user_id: str
    device: Device | None
    host: str
    ip: str
    login_at: datetime
    last_activity_at: datetime
    logout_at: datetime | None
    user: UserRef


# What a SessionRecord is read from, in the order records() takes the values.
RECORD_COLUMNS: tuple[Any, ...] = (
    UserSession.id,
    UserSession.user_id,
    *(getattr(UserSession, column) for column in DEVICE_COLUMNS),
    UserSession.host,
    UserSession.ip,
    UserSession.login_at,
    UserSession.last_activity_at,
    UserSession.logout_at,
    User.username,
    User.name,
)


def records(rows: Iterable[Sequence[Any]]) -> list[SessionRecord]:
    """SessionRecords from rows of RECORD_COLUMNS."""
    found = []
    for session_id, user_id, *device, host, ip, login, activity, logout, username, name in rows:
        found.append(
            SessionRecord(
                session_id,
                user_id,
                device_of(*device),
                host,
                ip,
                login,
                activity,
                logout,
                UserRef(username, name),
            )
        )
    return found


def storable_user_agent(raw: str | None) -> str | None:
    """A User-Agent as the column keeps it: without NUL (PostgreSQL text cannot hold it), cut
    to USER_AGENT_MAX; None when nothing is left. Headers are otherwise kept as sent."""
    return (raw or "").replace("\x00", "")[:USER_AGENT_MAX] or None


def insert_session(
    db: Session,
    *,
    user_id: str,
    token_hash: str,
    device: Device | None,
    user_agent: str | None,
    ip: str,
    host: str,
    login_at: datetime,
    expires_at: datetime,
    bypass_2fa: bool = False,
) -> UserSession:
    """Add a login session from ready values (the token's hash, the parsed device)."""
    session = UserSession(
        id=new_id(),
        user_id=user_id,
        token_hash=token_hash,
        ip=ip,
        host=host.replace("\x00", "")[:HOST_MAX],
        user_agent=storable_user_agent(user_agent),
        login_at=login_at,
        last_activity_at=login_at,
        expires_at=expires_at,
        bypass_2fa=bypass_2fa,
    )
    session.device = device
    db.add(session)
    db.flush()
    return session


def active_conditions(now: datetime) -> list[sa.ColumnElement[bool]]:
    """Not logged out and not expired."""
    return [UserSession.logout_at.is_(None), UserSession.expires_at > now]


def find_active_session(db: Session, token_hash: str, now: datetime) -> UserSession | None:
    """The active session (with its user loaded) whose token hash is ``token_hash``."""
    caller = find_caller(db, token_hash, now)
    return None if caller is None else caller.session


@dataclass(frozen=True)
class Caller:
    """An active session found by its token hash, and what a request checks next about it."""

    session: UserSession  # with its user loaded
    # The roles holding the permission asked about, read in the same statement (None: no
    # permission was asked about, or no such permission exists).
    permission_roles: list[str] | None


def find_caller(
    db: Session, token_hash: str, now: datetime, permission_id: str | None = None
) -> Caller | None:
    """The active session whose token hash is ``token_hash``, its user and (when
    ``permission_id`` is given) that permission's roles: one statement, one round trip."""
    roles: Any = sa.null()
    if permission_id is not None:
        roles = sa.select(Permission.roles).where(Permission.id == permission_id).scalar_subquery()
    stmt = (
        sa.select(UserSession, roles)
        .join(UserSession.user)
        .options(contains_eager(UserSession.user))
        .where(UserSession.token_hash == token_hash, *active_conditions(now))
    )
    row = db.execute(stmt).first()
    return None if row is None else Caller(row[0], row[1])


def touch_session(db: Session, session_id: str, now: datetime) -> None:
    """Record activity, at most once per ACTIVITY_RESOLUTION per session."""
    db.execute(
        sa.update(UserSession)
        .where(
            UserSession.id == session_id,
            UserSession.last_activity_at < now - ACTIVITY_RESOLUTION,
        )
        .values(last_activity_at=now)
    )


def logout_session(
    db: Session, session_id: str, by_user_id: str, now: datetime, *, owner_id: str | None = None
) -> bool:
    """End an active session (only ``owner_id``'s, if given); False when none was active."""
    conditions = [UserSession.id == session_id, *active_conditions(now)]
    if owner_id is not None:
        conditions.append(UserSession.user_id == owner_id)
    result = db.execute(
        sa.update(UserSession).where(*conditions).values(logout_at=now, logout_by=by_user_id)
    )
    return rows_affected(result) == 1


def authorize_two_factor(db: Session, session_id: str, until: datetime, fingerprint: str) -> None:
    """Remember a passed two-factor check for this session and client fingerprint."""
    db.execute(
        sa.update(UserSession)
        .where(UserSession.id == session_id)
        .values(twofa_authorized_until=until, twofa_fingerprint=fingerprint)
    )


def get_session(
    db: Session, session_id: str, *, user_id: str | None = None
) -> SessionRecord | None:
    """A session by exact id, active or ended (optionally only if it is ``user_id``'s)."""
    stmt = sa.select(*RECORD_COLUMNS).join(UserSession.user).where(UserSession.id == session_id)
    if user_id is not None:
        stmt = stmt.where(UserSession.user_id == user_id)
    found = records(db.execute(stmt))
    return found[0] if found else None


def logout_user_sessions(db: Session, user_id: str, by_user_id: str | None, now: datetime) -> int:
    """End every active session of a user; returns how many were ended."""
    result = db.execute(
        sa.update(UserSession)
        .where(UserSession.user_id == user_id, *active_conditions(now))
        .values(logout_at=now, logout_by=by_user_id)
    )
    return rows_affected(result)
