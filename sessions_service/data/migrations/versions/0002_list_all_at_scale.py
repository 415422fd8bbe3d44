"""list.all at scale: partial indexes per sort key, trigram indexes, active-session counts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 14:40:00

Index names start with ``px_``: they differ per database (PostgreSQL collations, INCLUDE,
pg_trgm) and so live only here; ``migrations/env.py`` leaves them out of ``db check``.

``session_counts`` holds, per hour of ``expires_at``, how many sessions are not logged out,
kept exact by triggers, so an unfiltered ``total`` needs no scan of the sessions table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Sort keys whose columns may be NULL: indexed as the query sorts them (NULL as '').
DEVICE_COLUMNS = ("device_name", "device_type", "device_os_name", "device_os_version")

PG_FUNCTION = """
CREATE FUNCTION session_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO session_counts (bucket, active)
    SELECT floor(extract(epoch FROM expires_at) / 3600)::bigint AS b, -count(*)
    FROM old_rows WHERE logout_at IS NULL GROUP BY b ORDER BY b
    ON CONFLICT (bucket) DO UPDATE SET active = session_counts.active + EXCLUDED.active;
  ELSE
    INSERT INTO session_counts (bucket, active)
    SELECT floor(extract(epoch FROM expires_at) / 3600)::bigint AS b, count(*)
    FROM new_rows WHERE logout_at IS NULL GROUP BY b ORDER BY b
    ON CONFLICT (bucket) DO UPDATE SET active = session_counts.active + EXCLUDED.active;
  END IF;
  RETURN NULL;
END $$;
"""

# Row level: PostgreSQL allows no transition tables on a trigger with a column list, and
# only logouts and expiry changes can move the counts (not activity or 2FA updates).
PG_UPDATE_FUNCTION = """
CREATE FUNCTION session_counts_update_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.logout_at IS NULL THEN
    INSERT INTO session_counts (bucket, active)
    VALUES (floor(extract(epoch FROM OLD.expires_at) / 3600)::bigint, -1)
    ON CONFLICT (bucket) DO UPDATE SET active = session_counts.active - 1;
  END IF;
  IF NEW.logout_at IS NULL THEN
    INSERT INTO session_counts (bucket, active)
    VALUES (floor(extract(epoch FROM NEW.expires_at) / 3600)::bigint, 1)
    ON CONFLICT (bucket) DO UPDATE SET active = session_counts.active + 1;
  END IF;
  RETURN NULL;
END $$;
"""

PG_TRUNCATE_FUNCTION = """
CREATE FUNCTION session_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM session_counts;
  RETURN NULL;
END $$;
"""

PG_TRIGGERS = [
    "CREATE TRIGGER session_counts_truncate AFTER TRUNCATE ON sessions "
    "FOR EACH STATEMENT EXECUTE FUNCTION session_counts_truncate()",
    "CREATE TRIGGER session_counts_insert AFTER INSERT ON sessions "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION session_counts_apply()",
    "CREATE TRIGGER session_counts_update AFTER UPDATE OF logout_at, expires_at ON sessions "
    "FOR EACH ROW WHEN (OLD.logout_at IS DISTINCT FROM NEW.logout_at "
    "OR OLD.expires_at IS DISTINCT FROM NEW.expires_at) "
    "EXECUTE FUNCTION session_counts_update_row()",
    "CREATE TRIGGER session_counts_delete AFTER DELETE ON sessions "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION session_counts_apply()",
]

SQLITE_BUCKET = "CAST(strftime('%s', {row}.expires_at) AS INTEGER) / 3600"
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER session_counts_insert AFTER INSERT ON sessions
    WHEN NEW.logout_at IS NULL BEGIN
      INSERT INTO session_counts (bucket, active) VALUES ({SQLITE_BUCKET.format(row="NEW")}, 1)
      ON CONFLICT (bucket) DO UPDATE SET active = active + 1;
    END""",
    f"""CREATE TRIGGER session_counts_update_old AFTER UPDATE OF logout_at, expires_at ON sessions
    WHEN OLD.logout_at IS NULL BEGIN
      INSERT INTO session_counts (bucket, active) VALUES ({SQLITE_BUCKET.format(row="OLD")}, -1)
      ON CONFLICT (bucket) DO UPDATE SET active = active - 1;
    END""",
    f"""CREATE TRIGGER session_counts_update_new AFTER UPDATE OF logout_at, expires_at ON sessions
    WHEN NEW.logout_at IS NULL BEGIN
      INSERT INTO session_counts (bucket, active) VALUES ({SQLITE_BUCKET.format(row="NEW")}, 1)
      ON CONFLICT (bucket) DO UPDATE SET active = active + 1;
    END""",
    f"""CREATE TRIGGER session_counts_delete AFTER DELETE ON sessions
    WHEN OLD.logout_at IS NULL BEGIN
      INSERT INTO session_counts (bucket, active) VALUES ({SQLITE_BUCKET.format(row="OLD")}, -1)
      ON CONFLICT (bucket) DO UPDATE SET active = active - 1;
    END""",
]


def _postgresql() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    active = "WHERE logout_at IS NULL"
    op.execute(
        'CREATE INDEX px_sessions_active_login ON sessions (login_at, (id COLLATE "C")) '
        f"INCLUDE (expires_at) {active}"
    )
    op.execute(
        f"CREATE INDEX px_sessions_active_user ON sessions (user_id, login_at) "
        f"INCLUDE (expires_at, id) {active}"
    )
    op.execute(f"CREATE INDEX px_sessions_active_expires ON sessions (expires_at) {active}")
    for column in DEVICE_COLUMNS:
        op.execute(
            f"CREATE INDEX px_sessions_active_{column} ON sessions "
            f'((COALESCE({column}, \'\') COLLATE "C"), (id COLLATE "C")) '
            # With the column itself included, a device filter's count is index-only.
            f"INCLUDE (expires_at, {column}) {active}"
        )
        # The filter compares this expression as text; its statistics give the planner
        # real row estimates (else it guesses 0.5% and never goes parallel).
        op.execute(
            f"CREATE STATISTICS px_stat_sessions_{column} "
            f"ON ((COALESCE({column}, '')::text)) FROM sessions"
        )
    for column in ("id", "ip", "host"):
        op.execute(
            f"CREATE INDEX px_sessions_active_{column}_trgm ON sessions "
            f"USING gin ({column} gin_trgm_ops) {active}"
        )
    op.execute('CREATE INDEX px_users_username_c ON users ((username COLLATE "C"))')
    op.execute("CREATE INDEX px_users_name_c ON users ((COALESCE(name, '') COLLATE \"C\"))")
    for column in ("id", "username", "name"):
        op.execute(
            f"CREATE INDEX px_users_{column}_trgm ON users USING gin ({column} gin_trgm_ops)"
        )
    op.execute(PG_FUNCTION)
    op.execute(PG_UPDATE_FUNCTION)
    op.execute(PG_TRUNCATE_FUNCTION)
    for statement in PG_TRIGGERS:
        op.execute(statement)
    op.execute(
        "INSERT INTO session_counts (bucket, active) "
        "SELECT floor(extract(epoch FROM expires_at) / 3600)::bigint AS b, count(*) "
        "FROM sessions WHERE logout_at IS NULL GROUP BY b"
    )


def _sqlite() -> None:
    active = "WHERE logout_at IS NULL"
    op.execute(f"CREATE INDEX px_sessions_active_login ON sessions (login_at, id) {active}")
    op.execute(f"CREATE INDEX px_sessions_active_user ON sessions (user_id, login_at) {active}")
    op.execute(f"CREATE INDEX px_sessions_active_expires ON sessions (expires_at) {active}")
    for column in DEVICE_COLUMNS:
        op.execute(
            f"CREATE INDEX px_sessions_active_{column} ON sessions "
            f"(COALESCE({column}, ''), id) {active}"
        )
    op.execute("CREATE INDEX px_users_username_c ON users (username)")
    op.execute("CREATE INDEX px_users_name_c ON users (COALESCE(name, ''))")
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute(
        "INSERT INTO session_counts (bucket, active) "
        f"SELECT {SQLITE_BUCKET.format(row='sessions')} AS b, count(*) "
        "FROM sessions WHERE logout_at IS NULL GROUP BY b"
    )


def upgrade() -> None:
    op.create_table(
        "session_counts",
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", name=op.f("pk_session_counts")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql()
    else:
        _sqlite()


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS session_counts_{name} ON sessions")
        op.execute("DROP FUNCTION IF EXISTS session_counts_apply()")
        op.execute("DROP FUNCTION IF EXISTS session_counts_update_row()")
        op.execute("DROP FUNCTION IF EXISTS session_counts_truncate()")
        for column in DEVICE_COLUMNS:
            op.execute(f"DROP STATISTICS IF EXISTS px_stat_sessions_{column}")
    else:
        for name in ("insert", "update_old", "update_new", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS session_counts_{name}")
    names = bind.execute(
        sa.text(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'px\\_%'"
            if bind.dialect.name == "postgresql"
            else "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'px\\_%' "
            "ESCAPE '\\'"
        )
    ).scalars()
    for name in list(names):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_table("session_counts")
