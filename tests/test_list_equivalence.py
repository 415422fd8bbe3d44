"""The indexed list query returns exactly what the straightforward query would.

The reference here is the plain reading of the SPEC: join users, match the regex against
every field, sort the whole result by the sort keys (missing values as "", code-point
order, sessionId as tie-breaker in the first key's direction), then page; total = count.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from sessions_service.clock import utcnow
from sessions_service.data import queries
from sessions_service.data.dialect import regex_match
from sessions_service.data.models import User, UserSession
from sessions_service.state import new_session, settings_of

FIELDS = (
    User.username,
    User.name,
    UserSession.device_name,
    UserSession.device_type,
    UserSession.device_os_name,
    UserSession.id,
    UserSession.user_id,
    UserSession.ip,
    UserSession.host,
)
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/112.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/113.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.5 Mobile/15E148 Safari/604.1",
    "RC Mobile; Android 13; v4.39.0 (1234)",
    "garbage agent",  # type other, name ""
    None,  # no device at all
]
PATTERNS = [
    "firefox",
    "FIREFOX",
    "user-1",
    "^user-1$",
    r"^10\.1\.",
    "^$",
    ".*",
    "mobile",
    "chrome|safari",
    "example",
    "ä",
    "[0-9]{3}",
    "windows",
    "other",
    "zz-no-match",
    "^a",
]
SORTS = [
    [("loginAt", -1)],
    [("loginAt", 1)],
    [("device.name", 1)],
    [("device.name", -1)],
    [("device.os.name", 1)],
    [("device.os.version", -1)],
    [("_user.name", 1)],
    [("_user.name", -1)],
    [("_user.username", 1)],
    [("_user.username", -1)],
    [("device.os.name", -1), ("_user.username", 1)],
]


@pytest.fixture
def population(app, helpers):
    """~240 sessions of 30 users with every awkward case; returns the app's 'now'."""
    rng = random.Random(7)
    names = [None, "", "Ängel", "ängel", "Zoë", "bob", "Bob", "al", "Al Smith"]
    accounts = []
    for i in range(30):
        accounts.append(helpers.user(f"user-{i}", name=names[i % len(names)]))
    now = utcnow()
    for _ in range(240):
        account = accounts[rng.randrange(len(accounts))]
        helpers.session_for(
            account,
            user_agent=rng.choice(AGENTS),
            ip=rng.choice(["10.1.2.3", "10.10.0.1", "192.168.0.9", "", "2001:db8::1"]),
            host=rng.choice(["chat.example.com", "localhost:3000", ""]),
            # Many logins share a timestamp: the tie-breaker decides their order.
            login_at=now - timedelta(minutes=rng.randrange(0, 60 * 24 * 100) // 7 * 7),
        )
    # Logged out, expired, and expiring within the current hour.
    helpers.sql(
        "UPDATE sessions SET logout_at = login_at WHERE id IN "
        "(SELECT id FROM sessions ORDER BY id LIMIT 40)"
    )
    ids = [row[0] for row in helpers.sql("SELECT id FROM sessions ORDER BY id DESC LIMIT 30")]
    for k, session_id in enumerate(ids):
        delta = [timedelta(minutes=-5), timedelta(minutes=5), timedelta(hours=2)][k % 3]
        helpers.sql(
            "UPDATE sessions SET expires_at = :t WHERE id = :id",
            t=_bind_time(app, now + delta),
            id=session_id,
        )
    return now


def _bind_time(app, value):
    if settings_of(app).is_sqlite:
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value


def _reference(db, now, pattern: str | None, user_id: str | None = None) -> list[dict[str, Any]]:
    stmt = (
        sa.select(
            UserSession.id,
            UserSession.login_at,
            UserSession.device_name,
            UserSession.device_os_name,
            UserSession.device_os_version,
            User.name,
            User.username,
        )
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.logout_at.is_(None), UserSession.expires_at > now)
    )
    if user_id:
        stmt = stmt.where(UserSession.user_id == user_id)
    if pattern:
        stmt = stmt.where(sa.or_(*(regex_match(c, pattern) for c in FIELDS)))
    return [row._asdict() for row in db.execute(stmt)]


KEY = {
    "loginAt": "login_at",
    "device.name": "device_name",
    "device.os.name": "device_os_name",
    "device.os.version": "device_os_version",
    "_user.name": "name",
    "_user.username": "username",
}


def _sorted(rows: list[dict[str, Any]], sort) -> list[str]:
    out = sorted(rows, key=lambda r: r["id"], reverse=sort[0][1] == -1)
    for key, direction in reversed(sort):
        field = KEY[key]
        out.sort(key=lambda r, f=field: r[f] if r[f] is not None else "", reverse=direction == -1)
    return [r["id"] for r in out]


def test_every_pattern_and_sort_matches_the_reference(app, population):
    now = population
    with new_session(app) as db:
        for pattern in PATTERNS + [None]:
            rows = _reference(db, now, pattern)
            for sort in SORTS:
                expected = _sorted(rows, sort)
                for offset, count in ((0, 50), (17, 9), (len(expected) - 3, 10)):
                    page = queries.list_sessions(
                        db, now=now, offset=max(offset, 0), count=count, sort=sort, pattern=pattern
                    )
                    assert page.total == len(expected), (pattern, sort)
                    got = [s.id for s in page.sessions]
                    assert got == expected[max(offset, 0) : max(offset, 0) + count], (
                        pattern,
                        sort,
                        offset,
                    )


def test_own_list_matches_the_reference(app, helpers, population):
    now = population
    user_id = helpers.sql("SELECT id FROM users WHERE username = 'user-3'")[0][0]
    with new_session(app) as db:
        for pattern in (None, "firefox", ".*", "^$"):
            expected = _sorted(_reference(db, now, pattern, user_id), [("loginAt", -1)])
            page = queries.list_sessions(
                db,
                now=now,
                offset=0,
                count=100,
                sort=[("loginAt", -1)],
                pattern=pattern,
                user_id=user_id,
            )
            assert (page.total, [s.id for s in page.sessions]) == (len(expected), expected)


def test_unfiltered_total_stays_exact_through_logins_logouts_and_deletes(
    app, client, helpers, population
):
    """The trigger-kept hourly counts agree with a plain count after every kind of write."""

    def plain_count() -> int:
        with new_session(app) as db:
            return len(_reference(db, utcnow(), None))

    def fast_count() -> int:
        with new_session(app) as db:
            return queries.list_sessions(
                db, now=utcnow(), offset=0, count=0, sort=[("loginAt", -1)]
            ).total

    assert fast_count() == plain_count() > 0
    account = helpers.user("writer", password="pw-writer")
    login = helpers.login(account)
    assert fast_count() == plain_count()
    client.post("/api/v1/logout", headers=login.headers())
    assert fast_count() == plain_count()
    helpers.sql(
        "UPDATE sessions SET expires_at = login_at WHERE id IN "
        "(SELECT id FROM sessions WHERE logout_at IS NULL ORDER BY id LIMIT 5)"
    )
    assert fast_count() == plain_count()
    helpers.sql("DELETE FROM users WHERE username IN ('user-1', 'user-2')")
    assert fast_count() == plain_count()
