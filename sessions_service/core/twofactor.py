"""Two-factor checks: TOTP with replay protection, backup codes, password, lockout.

Replay and lockout state live in database rows changed by single conditional UPDATEs, so
every worker and every instance agrees on them.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
from sqlalchemy.orm import Session

from sessions_service.config import ConfigError, Settings
from sessions_service.core.security import (
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
from sessions_service.data import queries
from sessions_service.data.dialect import rows_affected
from sessions_service.data.models import BackupCode, Totp, User, UserSession

TOTP_PERIOD = 30
TOTP_WINDOW = 1
MAX_FAILED_ATTEMPTS = 10
LOCK_DURATION = timedelta(minutes=15)
BACKUP_CODE_COUNT = 12
BACKUP_CODE_LENGTH = 8
ISSUER = "sessions-service"


class Reason(enum.StrEnum):
    """Why a check ended as it did (the security events' ``reason``)."""

    ACCEPTED = "accepted"
    MISSING = "missing"
    WRONG = "wrong"
    REPLAYED = "replayed"  # right code, but its TOTP step was used already
    LOCKED = "locked"  # locked before this check
    LOCKED_NOW = "locked-now"  # this check's failure reached the limit


class ErrorType(enum.StrEnum):
    """Rocket.Chat's ``errorType`` of a refused check, in the order the API documents them."""

    REQUIRED = "totp-required"
    INVALID = "totp-invalid"
    MAX_ATTEMPTS = "totp-max-attempts"


@dataclass(frozen=True)
class Outcome:
    """Result of checking one code: accepted, or the error type and why (for the event log)."""

    accepted: bool
    error_type: ErrorType | None = None
    reason: Reason = Reason.ACCEPTED


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
    return rows_affected(result) == 1


def _matching_backup_code(db: Session, user_id: str, code: str) -> int | None:
    """The id of the unused backup code ``code`` is (read only: nothing consumed yet)."""
    rows = db.execute(
        sa.select(BackupCode.id, BackupCode.code_hash).where(
            BackupCode.user_id == user_id, BackupCode.used_at.is_(None)
        )
    ).all()
    digest = password_digest(code.strip().lower())
    for row_id, code_hash in rows:
        if check_digest(digest, code_hash):
            row: int = row_id
            return row
    return None


def _accept_backup_code(db: Session, row_id: int, now: datetime) -> bool:
    """Use a backup code up; False when a concurrent request used it first."""
    result = db.execute(
        sa.update(BackupCode)
        .where(BackupCode.id == row_id, BackupCode.used_at.is_(None))
        .values(used_at=now)
    )
    return rows_affected(result) == 1


@dataclass(frozen=True)
class _Match:
    """A code that is right for the user, not yet consumed: a TOTP step or a backup code."""

    step: int | None = None
    backup_code_id: int | None = None


def _match(
    db: Session,
    user: User,
    totp: Totp | None,
    method: str,
    code: str,
    now: datetime,
    settings: Settings,
) -> _Match | None:
    """What the code matches, or None when it is wrong; writes nothing."""
    if method == "password":
        return _Match() if check_digest(code.strip().lower(), user.password_hash) else None
    if totp is None:
        return None
    if len(code) == BACKUP_CODE_LENGTH:
        row_id = _matching_backup_code(db, user.id, code)
        return None if row_id is None else _Match(backup_code_id=row_id)
    step = _matching_step(decrypt_secret(settings.secret_keys, totp.secret_encrypted), code, now)
    return None if step is None else _Match(step=step)


def _consume(db: Session, user_id: str, match: _Match, now: datetime) -> Reason:
    """ACCEPTED, REPLAYED (its TOTP step was used already) or WRONG (backup code used)."""
    if match.step is not None:
        return Reason.ACCEPTED if _accept_step(db, user_id, match.step) else Reason.REPLAYED
    if match.backup_code_id is not None:
        used = _accept_backup_code(db, match.backup_code_id, now)
        return Reason.ACCEPTED if used else Reason.WRONG
    return Reason.ACCEPTED  # the password method: nothing to use up


def _unlocked(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(User.twofa_locked_until.is_(None), User.twofa_locked_until <= now)


LOCKED = Outcome(False, ErrorType.MAX_ATTEMPTS, Reason.LOCKED)


def _hold_unlocked(db: Session, user_id: str, now: datetime) -> bool:
    """Take the user's row for this transaction unless their two-factor is locked.

    A conditional UPDATE, not a read: it waits for a concurrent failure that locks and
    re-checks after it (PostgreSQL's row lock; SQLite's single writer), and makes every later
    failure wait for this transaction. So a code accepted under it was accepted before any lock.
    """
    result = db.execute(
        sa.update(User)
        .where(User.id == user_id, _unlocked(now))
        .values(twofa_failed_attempts=User.twofa_failed_attempts)
    )
    return rows_affected(result) == 1


def _register_failure(db: Session, user_id: str, now: datetime, reason: Reason) -> Outcome:
    """Count a wrong code and lock at the limit, in one UPDATE that only an unlocked user's
    row matches: once locked, nothing is counted and the lock is not extended."""
    reaches_limit = User.twofa_failed_attempts + 1 >= MAX_FAILED_ATTEMPTS
    row = db.execute(
        sa.update(User)
        .where(User.id == user_id, _unlocked(now))
        .values(
            twofa_locked_until=sa.case(
                (reaches_limit, sa.literal(now + LOCK_DURATION, User.twofa_locked_until.type)),
                else_=User.twofa_locked_until,
            ),
            twofa_failed_attempts=sa.case((reaches_limit, 0), else_=User.twofa_failed_attempts + 1),
        )
        .returning(User.twofa_locked_until)
    ).first()
    if row is None:  # locked by a concurrent failure since the user was read
        return LOCKED
    locked_until = row[0]
    if locked_until is not None and locked_until > now:
        return Outcome(False, ErrorType.MAX_ATTEMPTS, Reason.LOCKED_NOW)
    return Outcome(False, ErrorType.INVALID, reason)


def check_code(
    db: Session,
    user: User,
    totp: Totp | None,
    method: str,
    code: str | None,
    now: datetime,
    settings: Settings,
) -> Outcome:
    """Check one code for ``method``; records failures and successes (caller commits).

    The user row read at authentication only answers early; whether the user is locked is
    decided again by the conditional UPDATE that records the outcome, so concurrent requests
    serialise on that row (see _hold_unlocked and _register_failure).
    """
    if is_locked(user, now):
        return LOCKED
    if not code:
        return Outcome(False, ErrorType.REQUIRED, Reason.MISSING)
    match = _match(db, user, totp, method, code, now, settings)
    if match is None:
        return _register_failure(db, user.id, now, Reason.WRONG)
    if not _hold_unlocked(db, user.id, now):
        return LOCKED
    verdict = _consume(db, user.id, match, now)
    if verdict != Reason.ACCEPTED:
        return _register_failure(db, user.id, now, verdict)
    db.execute(sa.update(User).where(User.id == user.id).values(twofa_failed_attempts=0))
    return Outcome(True)


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
    return rows_affected(result) >= 1


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
