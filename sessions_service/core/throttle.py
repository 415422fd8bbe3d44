"""Login throttling, as Rocket.Chat's ``Block_Multiple_Failed_Logins_*`` settings do it.

Failed logins since the last successful one are counted per login name (case-folded, known
user or not, so a block tells nothing about who exists) and per client IP. Once a count
reaches its limit, further logins under that name or from that IP are refused — even with
the right password — until the block's time has passed since the last counted failure; after
that one more attempt is let through, and if it fails too the block starts again. A
successful login clears the counts of its name, its user's username and email, and its IP.

Every attempt is counted *before* the password is checked, by one conditional upsert per
scope that only increments while the scope is not blocked (``claim``). Concurrent logins on
any worker or instance queue on the row, so no more than the limit ever reach bcrypt, and a
blocked attempt costs two small statements and no bcrypt time. An attempt whose password was
right but whose TOTP code was missing or wrong is given back (``refund``): the password was no
guess, and the two-factor lockout (SPEC §3) already counts wrong codes. Blocked attempts are
not counted, so they do not extend a block.

Flask-free; nothing here commits (the login view does).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from sessions_service.config import Settings
from sessions_service.core.identity import fold
from sessions_service.data.dialect import upsert
from sessions_service.data.models import LoginThrottle

USER, IP = "user", "ip"
IPV6_PREFIX = 64  # one IPv6 client usually holds a whole /64
_TABLE: sa.Table = LoginThrottle.__table__  # type: ignore[assignment]


def user_key(login_name: str) -> str:
    """The stored key of a login name: SHA-256 of its case-folded form (never the text)."""
    return hashlib.sha256(fold(login_name).encode()).hexdigest()


def ip_key(ip: str, settings: Settings) -> str | None:
    """The stored key of a client address (IPv6 by /64); None when not counted."""
    if not ip:
        return None
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in settings.login_block_ip_allowlist):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


@dataclass(frozen=True)
class Limit:
    """How many failures block a scope, and for how long."""

    attempts: int
    duration: timedelta


def limits(settings: Settings) -> dict[str, Limit]:
    """The enabled scopes and their limits (none when throttling is off)."""
    if not settings.login_block_enabled:
        return {}
    found = {}
    if settings.login_block_by_ip:
        found[IP] = Limit(
            settings.login_block_ip_attempts,
            timedelta(minutes=settings.login_block_ip_minutes),
        )
    if settings.login_block_by_user:
        found[USER] = Limit(
            settings.login_block_user_attempts,
            timedelta(minutes=settings.login_block_user_minutes),
        )
    return found


class Blocked(Exception):
    """Logins of this scope are blocked; the caller rolls back what ``claim`` counted."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


@dataclass(frozen=True)
class Attempt:
    """A counted login attempt: each scope's key and its failures, this attempt included."""

    now: datetime
    keys: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    limits: dict[str, Limit] = field(default_factory=dict)

    def blocks_if_failed(self) -> list[tuple[str, datetime]]:
        """The scopes this attempt's failure blocks, and until when."""
        return [
            (scope, self.now + self.limits[scope].duration)
            for scope, count in self.counts.items()
            if count >= self.limits[scope].attempts
        ]


def _count(db: Session, scope: str, key: str, limit: Limit, now: datetime) -> int | None:
    """Add one failure unless the scope is blocked; the new count, or None when blocked."""
    table = _TABLE
    stmt = upsert(db, table).values(scope=scope, key=key, failures=1, last_failure_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.scope, table.c.key],
        set_={"failures": table.c.failures + 1, "last_failure_at": stmt.excluded.last_failure_at},
        where=sa.or_(
            table.c.failures < limit.attempts,
            table.c.last_failure_at <= now - limit.duration,
        ),
    ).returning(table.c.failures)
    count: int | None = db.execute(stmt).scalar_one_or_none()
    return count


def claim(db: Session, login_name: str, ip: str, now: datetime, settings: Settings) -> Attempt:
    """Count this attempt as a failure until it succeeds; raises Blocked (IP first, as
    Rocket.Chat). The caller commits before checking the password, or rolls back on Blocked."""
    active = limits(settings)
    keys = {}
    # Always IP before user, here and below: rows are locked in one order, so concurrent
    # logins on PostgreSQL queue instead of deadlocking.
    if IP in active:
        address = ip_key(ip, settings)
        if address is not None:
            keys[IP] = address
    if USER in active:
        keys[USER] = user_key(login_name)
    counts = {}
    for scope, key in keys.items():
        count = _count(db, scope, key, active[scope], now)
        if count is None:
            raise Blocked(scope)
        counts[scope] = count
    return Attempt(now, keys, counts, active)


def refund(db: Session, attempt: Attempt) -> None:
    """Take back a counted attempt whose password was right (its failure was two-factor)."""
    for scope, key in attempt.keys.items():
        db.execute(
            sa.update(_TABLE)
            .where(_TABLE.c.scope == scope, _TABLE.c.key == key, _TABLE.c.failures > 0)
            .values(failures=_TABLE.c.failures - 1)
        )


def clear(db: Session, attempt: Attempt, identities: list[str | None]) -> None:
    """A successful login: forget the failures of its IP, login name and ``identities``."""
    if IP in attempt.keys:
        _forget(db, IP, attempt.keys[IP])
    if USER not in attempt.limits:
        return
    names = {user_key(name) for name in identities if name}
    if USER in attempt.keys:
        names.add(attempt.keys[USER])
    for key in sorted(names):  # one row at a time, in one order (see claim)
        _forget(db, USER, key)


def _forget(db: Session, scope: str, key: str) -> None:
    db.execute(sa.delete(_TABLE).where(_TABLE.c.scope == scope, _TABLE.c.key == key))
