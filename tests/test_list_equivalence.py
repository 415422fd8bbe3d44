"""The indexed list query returns exactly what the straightforward query would.

The reference here is the plain reading of the SPEC: join users, match the regex against
every field, sort the whole result by the sort keys (missing values as "", code-point
order, sessionId as tie-breaker in the first key's direction), then page; total = count.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from sessions_service.clock import utcnow
from sessions_service.core import accounts, logins
from sessions_service.data import queries
from sessions_service.data.dialect import regex_match
from sessions_service.data.models import User, UserSession
from sessions_service.state import get_engine, new_session, settings_of

from .conftest import make_app

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
PATTERN_IDS = [
    "firefox",
    "FIREFOX",
    "user-1",
    "user-1-anchored",
    "ip-prefix",
    "empty-field",
    "dot-star",
    "mobile",
    "chrome-or-safari",
    "example",
    "a-umlaut",
    "three-digits",
    "windows",
    "other",
    "no-match",
    "starts-with-a",
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


def build_population(app: Flask) -> datetime:
    """~240 sessions of 30 users with every awkward case, written in one transaction (one
    commit, not one per row); returns the app's 'now'."""
    rng = random.Random(7)
    names = [None, "", "Ängel", "ängel", "Zoë", "bob", "Bob", "al", "Al Smith"]
    settings = settings_of(app)
    now = utcnow()
    with new_session(app) as db:
        users = [
            accounts.create_user(
                db,
                f"user-{i}",
                "s3cret-pass",
                name=names[i % len(names)],
                bcrypt_rounds=4,
                username_pattern=settings.username_pattern,
            )
            for i in range(30)
        ]
        sessions = []
        for _ in range(240):
            user = users[rng.randrange(len(users))]
            session, _token = logins.create_session(
                db,
                user,
                user_agent=rng.choice(AGENTS),
                ip=rng.choice(["10.1.2.3", "10.10.0.1", "192.168.0.9", "", "2001:db8::1"]),
                host=rng.choice(["chat.example.com", "localhost:3000", ""]),
                # Many logins share a timestamp: the tie-breaker decides their order.
                now=now - timedelta(minutes=rng.randrange(0, 60 * 24 * 100) // 7 * 7),
                expiration_days=settings.login_expiration_days,
            )
            sessions.append(session)
        # Logged out, expired, and expiring within the current hour.
        by_id = sorted(sessions, key=lambda session: session.id)
        for session in by_id[:40]:
            session.logout_at = session.login_at
        for k, session in enumerate(reversed(by_id[-30:])):
            delta = [timedelta(minutes=-5), timedelta(minutes=5), timedelta(hours=2)][k % 3]
            session.expires_at = now + delta
        db.commit()
    return now


@pytest.fixture
def population(app: Flask) -> datetime:
    """The population in this test's own database (for a test that writes)."""
    return build_population(app)


@pytest.fixture(scope="module")
def shared(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Flask, datetime]]:
    """One population per database kind for the tests that only read: (app, now)."""
    app = make_app(tmp_path_factory.mktemp("equivalence"), module_database_url)
    try:
        yield app, build_population(app)
    finally:
        get_engine(app).dispose()


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


@pytest.mark.slow  # 17 × 11 sorts × 3 pages on each database: ~10 s in all
@pytest.mark.parametrize("pattern", [*PATTERNS, None], ids=[*PATTERN_IDS, "unfiltered"])
def test_every_pattern_and_sort_matches_the_reference(shared, pattern):
    """Every sort, and three pages of each, against the reference."""
    app, now = shared
    with new_session(app) as db:
        rows = _reference(db, now, pattern)
        for sort in SORTS:
            expected = _sorted(rows, sort)
            for offset, count in ((0, 50), (17, 9), (len(expected) - 3, 10)):
                page = queries.list_sessions(
                    db, now=now, offset=max(offset, 0), count=count, sort=sort, pattern=pattern
                )
                assert page.total == len(expected), sort
                got = [s.id for s in page.sessions]
                assert got == expected[max(offset, 0) : max(offset, 0) + count], (sort, offset)


def test_own_list_matches_the_reference(shared):
    app, now = shared
    with new_session(app) as db:
        user_id = db.scalar(sa.select(User.id).where(User.username == "user-3"))
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
