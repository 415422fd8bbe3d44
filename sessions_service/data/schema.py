"""Schema migrations (Alembic, shipped in the package): upgrade, check, compare."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from sessions_service.config import Settings
from sessions_service.data.engine import create_db_engine

# Shipped inside the package, so a wheel or a non-editable install can migrate.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _alembic_config(connection: sa.Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


@contextlib.contextmanager
def _schema_connection(settings: Settings) -> Iterator[sa.Connection]:
    """A transaction for schema work on an engine of its own, without the API's statement
    timeout (index builds on a large table take minutes)."""
    engine = create_db_engine(settings, statement_timeout=False)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def upgrade_schema(settings: Settings, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` on the app's database."""
    with _schema_connection(settings) as connection:
        alembic_command.upgrade(_alembic_config(connection), revision)


def downgrade_schema(settings: Settings, revision: str) -> None:
    """Undo migrations down to ``revision``."""
    with _schema_connection(settings) as connection:
        alembic_command.downgrade(_alembic_config(connection), revision)


class SchemaNotCurrent(Exception):
    """The database is not at the newest migration."""


def schema_is_current(settings: Settings) -> bool:
    """True when the database is at the newest migration."""
    with _schema_connection(settings) as connection:
        cfg = _alembic_config(connection)
        heads = set(ScriptDirectory.from_config(cfg).get_heads())
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def check_models_match_migrations(settings: Settings) -> None:
    """Raise if the models differ from the migrated schema (``alembic check``)."""
    with _schema_connection(settings) as connection:
        alembic_command.check(_alembic_config(connection))
