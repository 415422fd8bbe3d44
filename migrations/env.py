"""Alembic environment: the database comes from the app's config, never a second source."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from sessions_service import models  # noqa: F401  (registers the tables)
from sessions_service.db import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # ALTERs on SQLite go through table rebuilds
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_with_app() -> None:
    from sessions_service import create_app
    from sessions_service.db import get_engine

    engine = get_engine(create_app())
    if context.is_offline_mode():
        context.configure(
            url=engine.url,
            target_metadata=target_metadata,
            literal_binds=True,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    with engine.begin() as connection:
        run_migrations(connection)


connection = context.config.attributes.get("connection")
if connection is None:
    run_with_app()
else:
    run_migrations(connection)
