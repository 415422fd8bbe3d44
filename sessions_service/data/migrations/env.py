"""Alembic environment: the database comes from the app's config, never a second source."""

from __future__ import annotations

import warnings

from alembic import context
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from sessions_service.data import models  # noqa: F401  (registers the tables)
from sessions_service.data.base import Base

target_metadata = Base.metadata


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave out the per-database performance indexes (``px_*``, migration 0002)."""
    return not (type_ == "index" and name is not None and name.startswith("px_"))


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=True,  # ALTERs on SQLite go through table rebuilds
        compare_type=True,
    )
    with context.begin_transaction(), warnings.catch_warnings():
        # SQLite cannot reflect the px_* expression indexes; they are left out anyway.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa_exc.SAWarning)
        context.run_migrations()


def run_with_app() -> None:
    from sessions_service import create_app
    from sessions_service.state import get_engine

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
