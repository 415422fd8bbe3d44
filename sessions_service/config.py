"""Settings read from the environment by ``create_app()`` (never at import time)."""

from __future__ import annotations

import functools
import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import re2
from cryptography.fernet import Fernet

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
INT32_MAX = 2**31 - 1
DAY_MS = 24 * 3600 * 1000
WEEK_MINUTES = 7 * 24 * 60
# Rocket.Chat's default username rule (SESSIONS_USERNAME_PATTERN); identity.py applies it.
USERNAME_PATTERN = "[0-9a-zA-Z-_.]+"

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


@functools.lru_cache(maxsize=8)
def compile_username_pattern(pattern: str) -> Any:
    """The compiled RE2 pattern (linear time whatever the operator wrote); raises re2.error."""
    return re2.compile(pattern, _RE2_OPTIONS)


class ConfigError(Exception):
    """A setting is missing or malformed; the message says how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Typed service settings; every field maps to one documented variable."""

    database_url: str
    secret_keys: tuple[str, ...]
    login_expiration_days: int = 90
    twofa_password_fallback: bool = True
    twofa_remember_for: int = 1800
    api_default_count: int = 50
    api_upper_count_limit: int = 100
    forwarded_count: int = 0
    db_statement_timeout_ms: int = 5000
    filter_timeout_ms: int = 2000
    filter_max_concurrent: int = 2
    bcrypt_rounds: int = 10
    request_body_timeout_s: int = 10
    secret_key_generated: bool = False
    username_pattern: str = USERNAME_PATTERN
    # Rocket.Chat's Block_Multiple_Failed_Logins_* settings (throttle.py).
    login_block_enabled: bool = True
    login_block_by_user: bool = True
    login_block_user_attempts: int = 10
    login_block_user_minutes: float = 5.0
    login_block_by_ip: bool = True
    login_block_ip_attempts: int = 50
    login_block_ip_minutes: float = 5.0
    login_block_ip_allowlist: tuple[IPNetwork, ...] = ()

    @property
    def secret_key(self) -> str:
        """The key that encrypts (the first); the others only decrypt."""
        return self.secret_keys[0]

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite kind."""
        return self.database_url.startswith("sqlite")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _int(
    environ: Mapping[str, str],
    name: str,
    default: int,
    minimum: int = 0,
    maximum: int = INT32_MAX,
) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _pattern(environ: Mapping[str, str], name: str, default: str) -> str:
    raw = environ.get(name, "")
    if not raw.strip():
        return default
    try:
        compile_username_pattern(raw.strip())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        reason = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        raise ConfigError(f"{name} is not a valid regular expression (RE2): {reason}") from None
    return raw.strip()


def _minutes(environ: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of minutes; decimals allowed (0.5 is 30 seconds)."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number of minutes, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be more than 0 minutes, got {raw.strip()}")
    if value > WEEK_MINUTES:
        raise ConfigError(f"{name} must be at most {WEEK_MINUTES} minutes (a week), got {value:g}")
    return value


def _networks(environ: Mapping[str, str], name: str) -> tuple[IPNetwork, ...]:
    """Comma-separated IP addresses and CIDR blocks."""
    networks = []
    for part in environ.get(name, "").split(","):
        if not part.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"{name} must list IP addresses or CIDR blocks, got {part.strip()!r}"
            ) from None
    return tuple(networks)


def normalize_database_url(url: str) -> str:
    """Make ``postgresql://`` and ``postgres://`` mean psycopg 3, as the SPEC says."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_MAKE_ONE = "make one with: sessions-service keys generate"


def parse_secret_keys(raw: str, source: str = "SESSIONS_SECRET_KEY") -> tuple[str, ...]:
    """Comma-separated Fernet keys, each checked; errors name the position, never the key."""
    keys = tuple(part.strip() for part in raw.split(","))
    for position, key in enumerate(keys, start=1):
        where = f"{source} key {position} of {len(keys)}" if len(keys) > 1 else source
        if not key:
            raise ConfigError(f"{where} is empty; {_MAKE_ONE}")
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigError(
                f"{where} is not a Fernet key (urlsafe base64 of 32 bytes); {_MAKE_ONE}"
            ) from None
    return keys


def _secret_keys(
    environ: Mapping[str, str], instance_path: Path, sqlite: bool
) -> tuple[tuple[str, ...], bool]:
    """The Fernet keys: from the environment, else (SQLite only) a file made once."""
    raw = environ.get("SESSIONS_SECRET_KEY", "").strip()
    if raw:
        return parse_secret_keys(raw), False
    if not sqlite:
        raise ConfigError(f"SESSIONS_SECRET_KEY is required with PostgreSQL; {_MAKE_ONE}")
    key_file = instance_path / "secret.key"
    if key_file.exists():
        return parse_secret_keys(key_file.read_text().strip(), str(key_file)), False
    instance_path.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return (key,), True


def load_config(environ: Mapping[str, str], instance_path: str | Path) -> Settings:
    """Build Settings from an environment mapping; raises ConfigError on bad values."""
    instance = Path(instance_path)
    default_db = "sqlite:///" + str(instance / "sessions.db")
    database_url = normalize_database_url(environ.get("DATABASE_URL", "").strip() or default_db)
    if not (database_url.startswith("sqlite") or database_url.startswith("postgresql")):
        raise ConfigError("DATABASE_URL must be a sqlite:// or postgresql:// SQLAlchemy URL")
    if database_url == default_db:
        instance.mkdir(parents=True, exist_ok=True)
    secret_keys, generated = _secret_keys(environ, instance, database_url.startswith("sqlite"))
    default_count = _int(environ, "SESSIONS_API_DEFAULT_COUNT", 50)
    upper = _int(environ, "SESSIONS_API_UPPER_COUNT_LIMIT", 100, minimum=1)
    statement_timeout = _int(
        environ, "SESSIONS_DB_STATEMENT_TIMEOUT_MS", 5000, minimum=1, maximum=DAY_MS
    )
    return Settings(
        database_url=database_url,
        secret_keys=secret_keys,
        secret_key_generated=generated,
        # A century: expiry dates stay far from datetime's year 9999.
        login_expiration_days=_int(
            environ, "SESSIONS_LOGIN_EXPIRATION_DAYS", 90, minimum=1, maximum=36500
        ),
        twofa_password_fallback=_bool(environ, "SESSIONS_2FA_PASSWORD_FALLBACK", True),
        twofa_remember_for=_int(environ, "SESSIONS_2FA_REMEMBER_FOR", 1800, maximum=30 * 24 * 3600),
        api_default_count=min(default_count, upper),
        api_upper_count_limit=upper,
        # More proxies than this is a misconfiguration, not a network.
        forwarded_count=_int(environ, "SESSIONS_FORWARDED_COUNT", 0, maximum=16),
        db_statement_timeout_ms=statement_timeout,
        # A filtered list's whole budget, never more than one statement may take.
        filter_timeout_ms=min(
            _int(environ, "SESSIONS_FILTER_TIMEOUT_MS", 2000, minimum=1, maximum=DAY_MS),
            statement_timeout,
        ),
        filter_max_concurrent=_int(
            environ, "SESSIONS_FILTER_MAX_CONCURRENT", 2, minimum=1, maximum=1024
        ),
        # bcrypt's cost is 4..31; outside it hashing raises at the first login.
        bcrypt_rounds=_int(environ, "SESSIONS_BCRYPT_ROUNDS", 10, minimum=4, maximum=31),
        request_body_timeout_s=_int(
            environ, "SESSIONS_REQUEST_BODY_TIMEOUT", 10, minimum=1, maximum=3600
        ),
        username_pattern=_pattern(environ, "SESSIONS_USERNAME_PATTERN", USERNAME_PATTERN),
        login_block_enabled=_bool(environ, "SESSIONS_LOGIN_BLOCK_ENABLED", True),
        login_block_by_user=_bool(environ, "SESSIONS_LOGIN_BLOCK_BY_USER", True),
        login_block_user_attempts=_int(environ, "SESSIONS_LOGIN_BLOCK_USER_ATTEMPTS", 10, 1),
        login_block_user_minutes=_minutes(environ, "SESSIONS_LOGIN_BLOCK_USER_MINUTES", 5.0),
        login_block_by_ip=_bool(environ, "SESSIONS_LOGIN_BLOCK_BY_IP", True),
        login_block_ip_attempts=_int(environ, "SESSIONS_LOGIN_BLOCK_IP_ATTEMPTS", 50, 1),
        login_block_ip_minutes=_minutes(environ, "SESSIONS_LOGIN_BLOCK_IP_MINUTES", 5.0),
        login_block_ip_allowlist=_networks(environ, "SESSIONS_LOGIN_BLOCK_IP_ALLOWLIST"),
    )
