"""Reads and writes of users. Every function takes a Session first and never commits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from sessions_service.core import identity
from sessions_service.core.identity import fold
from sessions_service.core.security import hash_password
from sessions_service.data.ids import new_id
from sessions_service.data.models import Totp, User


class UserExists(ValueError):
    """The username or email is taken (case-insensitively, as a username or as an email)."""


def create_user(
    db: Session,
    username: str,
    password: str | None,
    *,
    name: str | None = None,
    email: str | None = None,
    roles: Sequence[str] = ("user",),
    bcrypt_rounds: int = 10,
    username_pattern: str = identity.USERNAME_PATTERN,
) -> User:
    """Add a user under the identity rules; raises IdentityError, or UserExists when the
    username or email equals anyone's username or email."""
    username = identity.normalize_username(username, username_pattern)
    email = identity.normalize_email(email) if email else None
    keys = sorted({fold(username), fold(email)} if email else {fold(username)})
    clash = sa.or_(User.username_key.in_(keys), User.email_key.in_(keys))
    if db.scalar(sa.select(User.id).where(clash).limit(1)):
        raise UserExists(f"username or email already exists: {username}")
    user = User(
        id=new_id(),
        username=username,
        username_key=fold(username),
        email=email,
        email_key=fold(email) if email else None,
        name=name,
        active=True,
        roles=list(dict.fromkeys(roles)) or ["user"],
        password_hash=hash_password(password, bcrypt_rounds) if password else None,
        twofa_failed_attempts=0,
    )
    db.add(user)
    db.flush()
    return user


def find_user_for_login(db: Session, login: str) -> User | None:
    """A user by username or email, normalised and case-folded as identity.py stores them."""
    key = identity.login_key(login)
    if key is None:
        return None
    return db.scalar(sa.select(User).where(sa.or_(User.username_key == key, User.email_key == key)))


def get_user_by_username(db: Session, username: str) -> User | None:
    """A user by username, case-insensitively."""
    return db.scalar(sa.select(User).where(User.username_key == fold(username)))


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


def set_password(db: Session, user: User, password: str, *, bcrypt_rounds: int = 10) -> None:
    """Replace a user's password hash."""
    user.password_hash = hash_password(password, bcrypt_rounds)
    db.flush()


def set_roles(db: Session, user: User, roles: Sequence[str]) -> None:
    """Replace a user's roles."""
    user.roles = list(dict.fromkeys(roles))
    db.flush()
