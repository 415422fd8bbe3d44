"""Reads and writes of users, from ready values: names already normalised and case-folded into
their keys, passwords already hashed (core.accounts applies those rules).

Every function takes a Session first and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from sessions_service.data.ids import new_id
from sessions_service.data.models import Totp, User


def any_key_taken(db: Session, keys: Iterable[str]) -> bool:
    """True when any of ``keys`` is someone's ``username_key`` or ``email_key``."""
    keys = sorted(set(keys))
    clash = sa.or_(User.username_key.in_(keys), User.email_key.in_(keys))
    return db.scalar(sa.select(User.id).where(clash).limit(1)) is not None


def insert_user(
    db: Session,
    *,
    username: str,
    username_key: str,
    email: str | None,
    email_key: str | None,
    name: str | None,
    roles: Sequence[str],
    password_hash: str | None,
) -> User:
    """Add an active user from ready values (normalised names, their keys, a password hash)."""
    user = User(
        id=new_id(),
        username=username,
        username_key=username_key,
        email=email,
        email_key=email_key,
        name=name,
        active=True,
        roles=list(dict.fromkeys(roles)) or ["user"],
        password_hash=password_hash,
        twofa_failed_attempts=0,
    )
    db.add(user)
    db.flush()
    return user


def find_user_by_key(db: Session, key: str) -> User | None:
    """The user whose ``username_key`` or ``email_key`` is ``key``."""
    return db.scalar(sa.select(User).where(sa.or_(User.username_key == key, User.email_key == key)))


def find_user_by_username_key(db: Session, username_key: str) -> User | None:
    """The user whose ``username_key`` is ``username_key``."""
    return db.scalar(sa.select(User).where(User.username_key == username_key))


@dataclass(frozen=True)
class UserRecord:
    """What an operator sees of a user: never a hash."""

    id: str
    username: str
    name: str | None
    email: str | None
    roles: list[str]
    active: bool
    created_at: datetime
    has_password: bool
    totp_enabled: bool


def list_users(db: Session) -> Iterator[UserRecord]:
    """Every user, by username, read in chunks (an import may have made millions)."""
    totp_enabled = (
        sa.select(Totp.user_id).where(Totp.user_id == User.id, Totp.enabled.is_(True)).exists()
    )
    stmt = (
        sa.select(
            User.id,
            User.username,
            User.name,
            User.email,
            User.roles,
            User.active,
            User.created_at,
            User.password_hash.is_not(None),
            totp_enabled,
        )
        .order_by(User.username_key)
        .execution_options(yield_per=1000)
    )
    for user_id, username, name, email, roles, active, created, has_password, totp in db.execute(
        stmt
    ):
        # SQLite answers the two tests as 0/1.
        yield UserRecord(
            user_id, username, name, email, roles, active, created, bool(has_password), bool(totp)
        )


def set_active(db: Session, user: User, active: bool) -> None:
    """Activate or deactivate a user (deactivating does not end sessions by itself)."""
    user.active = active
    db.flush()


def set_password_hash(db: Session, user: User, password_hash: str) -> None:
    """Replace a user's password hash."""
    user.password_hash = password_hash
    db.flush()


def set_roles(db: Session, user: User, roles: Sequence[str]) -> None:
    """Replace a user's roles."""
    user.roles = list(dict.fromkeys(roles))
    db.flush()
