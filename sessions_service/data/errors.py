"""What went wrong in the database: one classifier per kind of failure, for both drivers."""

from __future__ import annotations

import sqlite3

import psycopg
import sqlalchemy as sa

# PostgreSQL's undefined_table and undefined_column; SQLite says it in words.
_MISSING_SCHEMA_SQLSTATES = {"42P01", "42703"}
_MISSING_SCHEMA_SQLITE = ("no such table", "no such column")


def _driver_error(exc: BaseException) -> BaseException:
    """The DB-API exception under a SQLAlchemy one (or ``exc`` itself, raised by a driver)."""
    return exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc


def is_missing_schema_error(exc: BaseException) -> bool:
    """True when a statement failed because a table or column does not exist yet."""
    orig = _driver_error(exc)
    if getattr(orig, "sqlstate", None) in _MISSING_SCHEMA_SQLSTATES:
        return True
    return isinstance(orig, sqlite3.OperationalError) and str(orig).startswith(
        _MISSING_SCHEMA_SQLITE
    )


def is_connect_error(exc: BaseException) -> bool:
    """True when the database could not be reached or opened at all (no statement ran)."""
    return (
        isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) and exc.statement is None
    )


def is_sqlite_error(exc: BaseException) -> bool:
    """True when SQLite raised it."""
    return isinstance(_driver_error(exc), sqlite3.Error)


def is_database_error(exc: BaseException) -> bool:
    """True for a failure of the database itself (lost connection, timeout, lock, disk)."""
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
        return True
    # Bulk writes (data.bulk) go through the drivers directly, so their errors arrive unwrapped.
    orig = _driver_error(exc)
    return isinstance(
        orig, sqlite3.OperationalError | psycopg.OperationalError | psycopg.InterfaceError
    )


def error_reason(exc: BaseException) -> str:
    """The driver's first line about what failed (libpq and SQLite never include a password)."""
    lines = str(_driver_error(exc)).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__
