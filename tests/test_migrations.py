"""Migrations on both databases: upgrade from nothing, down and up again with data kept."""

from __future__ import annotations

import sqlalchemy as sa

from sessions_service.clock import utcnow
from sessions_service.core import accounts, logins
from sessions_service.data import queries
from sessions_service.data.schema import downgrade_schema, schema_is_current, upgrade_schema
from sessions_service.state import get_engine, new_session, settings_of

from .conftest import make_app


def test_upgrade_is_not_cut_short_by_the_api_statement_timeout(tmp_path, blank_database_url):
    """Index builds on a big table take long; the API's timeout must not cancel them."""
    app = make_app(tmp_path, blank_database_url, SESSIONS_DB_STATEMENT_TIMEOUT_MS="1")
    try:
        assert not schema_is_current(settings_of(app))
        upgrade_schema(settings_of(app))
        assert schema_is_current(settings_of(app))
    finally:
        get_engine(app).dispose()


def _totals(app) -> tuple[int, int]:
    """(total from the hourly counts, plain count of active sessions)."""
    now = utcnow()
    with new_session(app) as db:
        fast = queries.list_sessions(db, now=now, offset=0, count=0, sort=[("loginAt", -1)])
        plain = db.scalar(
            sa.text("SELECT count(*) FROM sessions WHERE logout_at IS NULL AND expires_at > :now"),
            {
                "now": now
                if not settings_of(app).is_sqlite
                else now.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
            },
        )
    return fast.total, int(plain or 0)


def test_down_and_up_again_keeps_sessions_and_rebuilds_counts(tmp_path, blank_database_url):
    app = make_app(tmp_path, blank_database_url)
    try:
        upgrade_schema(settings_of(app))
        with new_session(app) as db:
            user = accounts.create_user(db, "mover", "pw", bcrypt_rounds=4)
            for _ in range(7):
                logins.create_session(
                    db, user, user_agent=None, ip="", host="", now=utcnow(), expiration_days=90
                )
            db.commit()
        assert _totals(app) == (7, 7)
        downgrade_schema(settings_of(app), "0001")
        assert not schema_is_current(settings_of(app))
        upgrade_schema(settings_of(app))
        assert _totals(app) == (7, 7)
    finally:
        get_engine(app).dispose()
