"""Users under the identity rules: every name normalised and case-folded, every password
hashed, before the data layer stores or looks it up (the CLI, the demo and login all come
through here; the importer applies the same rules in bulk). Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from sessions_service.config import USERNAME_PATTERN
from sessions_service.core import identity
from sessions_service.core.identity import fold
from sessions_service.core.security import hash_password
from sessions_service.data.models import User
from sessions_service.data.queries import users


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
    username_pattern: str = USERNAME_PATTERN,
) -> User:
    """Add a user under the identity rules; raises IdentityError, or UserExists when the
    username or email equals anyone's username or email."""
    username = identity.normalize_username(username, username_pattern)
    email = identity.normalize_email(email) if email else None
    username_key = fold(username)
    email_key = fold(email) if email else None
    # Usernames and emails share one namespace of keys; checked before bcrypt spends its time.
    keys = {username_key} if email_key is None else {username_key, email_key}
    if users.any_key_taken(db, keys):
        raise UserExists(f"username or email already exists: {username}")
    return users.insert_user(
        db,
        username=username,
        username_key=username_key,
        email=email,
        email_key=email_key,
        name=name,
        roles=roles,
        password_hash=hash_password(password, bcrypt_rounds) if password else None,
    )


def find_user_for_login(db: Session, login: str) -> User | None:
    """A user by username or email, normalised and case-folded as identity.py stores them."""
    key = identity.login_key(login)
    if key is None:
        return None
    return users.find_user_by_key(db, key)


def get_user_by_username(db: Session, username: str) -> User | None:
    """A user by username, case-insensitively."""
    return users.find_user_by_username_key(db, fold(username))


def set_password(db: Session, user: User, password: str, *, bcrypt_rounds: int = 10) -> None:
    """Replace a user's password (stored as its bcrypt hash)."""
    users.set_password_hash(db, user, hash_password(password, bcrypt_rounds))
