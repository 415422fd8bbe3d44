"""Random tokens, token hashing, password hashing and secret encryption (ids: data.ids)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from collections.abc import Sequence

import bcrypt
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

BACKUP_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


def new_token() -> str:
    """A 43-character URL-safe auth token from the OS CSPRNG."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Meteor's login-token hash: base64(SHA-256(token))."""
    return base64.b64encode(hashlib.sha256(token.encode()).digest()).decode()


def password_digest(password: str) -> str:
    """The lowercase SHA-256 hex digest Meteor clients send instead of the password."""
    return hashlib.sha256(password.encode()).hexdigest()


def hash_password(password: str, rounds: int) -> str:
    """bcrypt over the password's SHA-256 hex digest (Meteor's scheme)."""
    return hash_digest(password_digest(password), rounds)


def hash_digest(digest: str, rounds: int) -> str:
    """bcrypt of an already-digested secret."""
    return bcrypt.hashpw(digest.encode(), bcrypt.gensalt(rounds)).decode()


def check_digest(digest: str, stored: str | None) -> bool:
    """Constant-time bcrypt check of a SHA-256 hex digest; False when nothing is stored."""
    if not stored or len(digest) > 128:
        return False
    try:
        return bcrypt.checkpw(digest.encode(), stored.encode())
    except ValueError:
        return False


@functools.lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    return bcrypt.hashpw(b"timing-equaliser", bcrypt.gensalt(rounds)).decode()


def burn_password_check(digest: str, rounds: int) -> None:
    """Spend about as long as a real check, so unknown users are not told apart by time."""
    check_digest(digest, _dummy_hash(rounds))


_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


def _usable_hash(stored: str | None) -> bool:
    """A hash bcrypt can check: ``$2a$``/``$2b$``/``$2y$``, cost, salt and hash (60 chars)."""
    return stored is not None and len(stored) == 60 and stored.startswith(_BCRYPT_PREFIXES)


def check_password_digest(digest: str, stored: str | None, rounds: int) -> bool:
    """check_digest in the same time for every user: with no usable hash (imported users,
    service accounts) a dummy hash at ``rounds`` is checked instead, so none answers faster."""
    if _usable_hash(stored):
        return check_digest(digest, stored)
    burn_password_check(digest, rounds)
    return False


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two strings without leaking where they differ."""
    return hmac.compare_digest(a.encode(), b.encode())


def new_backup_code() -> str:
    """An 8-character single-use backup code."""
    return "".join(secrets.choice(BACKUP_CODE_ALPHABET) for _ in range(8))


def generate_fernet_key() -> str:
    """A new SESSIONS_SECRET_KEY value."""
    return Fernet.generate_key().decode()


class KeyMismatch(ValueError):
    """A stored secret decrypts with none of the keys given."""


def _fernet(keys: Sequence[str]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt_secret(keys: Sequence[str], plaintext: str) -> str:
    """Encrypt a TOTP secret for storage under the first key."""
    return _fernet(keys).encrypt(plaintext.encode()).decode()


def decrypt_secret(keys: Sequence[str], ciphertext: str) -> str:
    """Decrypt a stored TOTP secret with whichever key reads it."""
    try:
        return _fernet(keys).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise KeyMismatch(f"a TOTP secret decrypts with none of the {len(keys)} keys") from None


def reencrypt_secret(keys: Sequence[str], ciphertext: str) -> str:
    """Re-encrypt under the first key a secret stored under any of ``keys``."""
    try:
        return _fernet(keys).rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise KeyMismatch(f"a TOTP secret decrypts with none of the {len(keys)} keys") from None
