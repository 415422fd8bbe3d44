"""One engine per app, with each database's connection settings.

Nothing here runs at import time: the app factory (or an operator command) builds the engine.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from sessions_service.config import Settings
from sessions_service.data.dialect import sqlite_setup


def sqlite_file(url: sa.URL) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory or URI-style database."""
    if url.database in (None, "", ":memory:") or url.query.get("uri"):
        return None
    return Path(url.database)


def _create_private(path: Path) -> Any:
    """A do_connect hook: create the database file 0600 (whatever the umask) if missing.

    SQLite makes its -wal and -shm files with the main file's mode, so they are 0600 too.
    """

    def on_do_connect(*_args: Any) -> None:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            # A DB-API error, so SQLAlchemy wraps it as it wraps sqlite3's own (which would
            # only say "unable to open database file").
            raise sqlite3.OperationalError(f"cannot create {path}: {exc.strerror}") from None

    return on_do_connect


def create_db_engine(settings: Settings, *, statement_timeout: bool = True) -> Engine:
    """One engine per app, with each database's connection settings.

    ``statement_timeout=False`` makes an engine for schema work: its connections carry no
    API statement timeout at all, so neither the dialect's first-connect introspection nor a
    long index build can be cancelled by it.
    """
    if settings.is_sqlite:
        engine = sa.create_engine(
            settings.database_url,
            hide_parameters=True,
            connect_args={"timeout": settings.db_statement_timeout_ms / 1000},
        )
        path = sqlite_file(engine.url)
        if path is not None:
            event.listen(engine, "do_connect", _create_private(path))
        # Registered after the dialect's own hook, so RE2 replaces its Python-re regexp.
        event.listen(engine, "connect", sqlite_setup(settings.db_statement_timeout_ms))
        return engine
    timeout_ms = settings.db_statement_timeout_ms if statement_timeout else 0
    return sa.create_engine(
        settings.database_url,
        hide_parameters=True,
        pool_pre_ping=True,
        # Threaded workers: more requests may run at once than under sync workers.
        pool_size=8,
        max_overflow=8,
        pool_timeout=5,
        connect_args={
            "connect_timeout": 5,
            "options": f"-c statement_timeout={timeout_ms}",
            "application_name": "sessions-service",
            # Never server-side prepared statements: a generic plan can be far slower for
            # list.all's filters than the custom plan made for each pattern.
            "prepare_threshold": None,
        },
    )
