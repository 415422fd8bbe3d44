"""Two-factor checks: TOTP with replay protection, backup codes, password, lockout.

Replay and lockout state live in database rows changed by single conditional UPDATEs, so
every worker and every instance agrees on them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import queries
from .config import ConfigError, Settings
from .models import BackupCode, Totp, User, UserSession
from .security import (
    KeyMismatch,
    check_digest,
    constant_time_equals,
    decrypt_secret,
    encrypt_secret,
    hash_digest,
    new_backup_code,
    password_digest,
    reencrypt_secret,
)

TOTP_PERIOD = 30
TOTP_WINDOW = 1
MAX_FAILED_ATTEMPTS = 10
LOCK_DURATION = timedelta(minutes=15)
BACKUP_CODE_COUNT = 12
BACKUP_CODE_LENGTH = 8
ISSUER = "sessions-service"


ACCEPTED, WRONG, REPLAYED = "accepted", "wrong", "replayed"


@dataclass(frozen=True)
class Outcome:
    """Result of checking one code: accepted, or the error type and why (for the event log)."""

    accepted: bool
    error_type: str | None = None  # totp-required, totp-invalid, totp-max-attempts
    reason: str = ACCEPTED  # accepted, missing, wrong, replayed, locked, locked-now


def load_totp(db: Session, user_id: str) -> Totp | None:
    """The user's enabled TOTP credential, if any."""
    return db.scalar(sa.select(Totp).where(Totp.user_id == user_id, Totp.enabled.is_(True)))


def available_methods(user: User, totp: Totp | None, settings: Settings) -> list[str]:
    """The user's two-factor methods, best first (empty: the request passes)."""
    if totp is not None:
        return ["totp"]
    if settings.twofa_password_fallback and user.password_hash:
        return ["password"]
    return []


def choose_method(available: list[str], requested: str | None) -> str:
    """The method to check: the requested one if the user has it, else their first."""
    if requested and requested in available:
        return requested
    return available[0]


def fingerprint(user_agent: str | None, ip: str) -> str:
    """The client fingerprint a remembered two-factor check is bound to."""
    return hashlib.sha256(f"{user_agent or ''}\x00{ip}".encode()).hexdigest()


def is_locked(user: User, now: datetime) -> bool:
    """True while the user's two-factor is locked after too many wrong codes."""
    return user.twofa_locked_until is not None and user.twofa_locked_until > now


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    totp = pyotp.TOTP(secret, interval=TOTP_PERIOD)
    current = int(now.timestamp()) // TOTP_PERIOD
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        if constant_time_equals(totp.generate_otp(step), code):
            return step
    return None


def _accept_step(db: Session, user_id: str, step: int) -> bool:
    """Consume a time step; False if it (or a later one) was already accepted."""
    result = db.execute(
        sa.update(Totp)
        .where(
            Totp.user_id == user_id,
            Totp.enabled.is_(True),
            sa.or_(Totp.last_step.is_(None), Totp.last_step < step),
        )
        .values(last_step=step)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def _accept_backup_code(db: Session, user_id: str, code: str, now: datetime) -> bool:
    rows = db.execute(
        sa.select(BackupCode.id, BackupCode.code_hash).where(
            BackupCode.user_id == user_id, BackupCode.used_at.is_(None)
        )
    ).all()
    digest = password_digest(code.strip().lower())
    for row_id, code_hash in rows:
        if check_digest(digest, code_hash):
            result = db.execute(
                sa.update(BackupCode)
                .where(BackupCode.id == row_id, BackupCode.used_at.is_(None))
                .values(used_at=now)
            )
            return bool(getattr(result, "rowcount", 0) == 1)
    return False


def _verify(
    db: Session,
    user: User,
    totp: Totp | None,
    method: str,
    code: str,
    now: datetime,
    settings: Settings,
) -> str:
    """ACCEPTED, WRONG, or REPLAYED (a right TOTP code whose step was already used)."""
    if method == "password":
        return ACCEPTED if check_digest(code.strip().lower(), user.password_hash) else WRONG
    if totp is None:
        return WRONG
    if len(code) == BACKUP_CODE_LENGTH:
        return ACCEPTED if _accept_backup_code(db, user.id, code, now) else WRONG
    step = _matching_step(decrypt_secret(settings.secret_keys, totp.secret_encrypted), code, now)
    if step is None:
        return WRONG
    return ACCEPTED if _accept_step(db, user.id, step) else REPLAYED


def _register_failure(db: Session, user_id: str, now: datetime) -> bool:
    """Count a wrong code atomically; True when this one locked the user's two-factor."""
    reaches_limit = User.twofa_failed_attempts + 1 >= MAX_FAILED_ATTEMPTS
    db.execute(
        sa.update(User)
        .where(User.id == user_id)
        .values(
            twofa_locked_until=sa.case(
                (reaches_limit, sa.literal(now + LOCK_DURATION, User.twofa_locked_until.type)),
                else_=User.twofa_locked_until,
            ),
            twofa_failed_attempts=sa.case((reaches_limit, 0), else_=User.twofa_failed_attempts + 1),
        )
    )
    locked_until = db.scalar(sa.select(User.twofa_locked_until).where(User.id == user_id))
    return locked_until is not None and locked_until > now


def check_code(
    db: Session,
    user: User,
    totp: Totp | None,
    method: str,
    code: str | None,
    now: datetime,
    settings: Settings,
) -> Outcome:
    """Check one code for ``method``; records failures and successes (caller commits)."""
    if is_locked(user, now):
        return Outcome(False, "totp-max-attempts", "locked")
    if not code:
        return Outcome(False, "totp-required", "missing")
    verdict = _verify(db, user, totp, method, code, now, settings)
    if verdict == ACCEPTED:
        db.execute(sa.update(User).where(User.id == user.id).values(twofa_failed_attempts=0))
        return Outcome(True)
    if _register_failure(db, user.id, now):
        return Outcome(False, "totp-max-attempts", "locked-now")
    return Outcome(False, "totp-invalid", verdict)


# --- enrolment ----------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    """What an operator hands to the user once: secret, provisioning URI, backup codes."""

    secret: str
    uri: str
    backup_codes: list[str]


def enable_totp(db: Session, user: User, settings: Settings) -> Enrolment:
    """Create (or replace) the user's TOTP secret and backup codes."""
    secret = pyotp.random_base32()
    codes = [new_backup_code() for _ in range(BACKUP_CODE_COUNT)]
    db.execute(sa.delete(BackupCode).where(BackupCode.user_id == user.id))
    db.execute(sa.delete(Totp).where(Totp.user_id == user.id))
    db.add(
        Totp(
            user_id=user.id,
            secret_encrypted=encrypt_secret(settings.secret_keys, secret),
            enabled=True,
            last_step=None,
        )
    )
    for code in codes:
        db.add(
            BackupCode(
                user_id=user.id,
                code_hash=hash_digest(password_digest(code), settings.bcrypt_rounds),
            )
        )
    db.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return Enrolment(secret, uri, codes)


def disable_totp(db: Session, user: User) -> bool:
    """Remove the user's TOTP secret and backup codes; False if there was none."""
    db.execute(sa.delete(BackupCode).where(BackupCode.user_id == user.id))
    result = db.execute(sa.delete(Totp).where(Totp.user_id == user.id))
    return bool(getattr(result, "rowcount", 0) >= 1)


def rotate_secrets(db: Session, settings: Settings, extra_keys: Sequence[str] = ()) -> int:
    """Re-encrypt every stored TOTP secret under the first key; returns how many.

    Raises KeyMismatch, before changing anything, if a secret decrypts with none of the keys.
    """
    keys = (*settings.secret_keys, *extra_keys)
    rows = db.scalars(sa.select(Totp)).all()
    rotated = [reencrypt_secret(keys, totp.secret_encrypted) for totp in rows]
    for totp, ciphertext in zip(rows, rotated, strict=True):
        totp.secret_encrypted = ciphertext
    db.flush()
    return len(rows)


class SecretKeyError(ConfigError):
    """SESSIONS_SECRET_KEY cannot read the stored TOTP secrets (the start-up canary failed)."""


def check_secret_keys(db: Session, settings: Settings) -> None:
    """Decrypt one stored TOTP secret as a canary; raises SecretKeyError if no key reads it."""
    ciphertext = db.scalar(sa.select(Totp.secret_encrypted).limit(1))
    if ciphertext is None:
        return
    try:
        decrypt_secret(settings.secret_keys, ciphertext)
    except KeyMismatch:
        count = len(settings.secret_keys)
        which = "its key does not" if count == 1 else f"none of its {count} keys"
        raise SecretKeyError(
            f"SESSIONS_SECRET_KEY cannot decrypt the stored TOTP secrets ({which} read them); "
            "set the key they were encrypted with"
        ) from None


def current_secret(totp: Totp, settings: Settings) -> str:
    """The decrypted TOTP secret (for the demo's printout only)."""
    return decrypt_secret(settings.secret_keys, totp.secret_encrypted)


def is_remembered(
    session: UserSession, client_fingerprint: str, now: datetime, settings: Settings
) -> bool:
    """True while a passed check is remembered for this session and client (see remember)."""
    return (
        settings.twofa_remember_for > 0
        and session.twofa_authorized_until is not None
        and session.twofa_authorized_until > now
        and session.twofa_fingerprint == client_fingerprint
    )


def remember(
    db: Session, session_id: str, client_fingerprint: str, now: datetime, settings: Settings
) -> None:
    """Let this session skip two-factor for a while from the same client (0 = never)."""
    if settings.twofa_remember_for > 0:
        until = now + timedelta(seconds=settings.twofa_remember_for)
        queries.authorize_two_factor(db, session_id, until, client_fingerprint)
