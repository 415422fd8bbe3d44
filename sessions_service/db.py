"""Engine, sessions and every difference between SQLite and PostgreSQL.

Nothing here runs at import time: ``init_app`` builds one engine per Flask app.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import re2
import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app, g
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from .config import Settings
from .patterns import PatternTooComplex, check_complexity

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable Alembic names)."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Timezone-aware UTC now, truncated to milliseconds (the API's precision)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; naive UTC in SQLite, timestamptz in PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(UTC)
        # SQLite stores text; a fixed naive format keeps string order = time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- regular expressions -------------------------------------------------------------

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.case_sensitive = False
_RE2_OPTIONS.log_errors = False


class InvalidPattern(ValueError):
    """The filter pattern is rejected by RE2 or by the database, or asks too much of them."""

    def __init__(self, detail: str, reason: str = "is not a valid regular expression") -> None:
        super().__init__(detail)
        self.reason = reason  # what the API answer says after "filter "


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    """Compile a case-insensitive RE2 pattern (cached); raises InvalidPattern."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        raise InvalidPattern(str(exc)) from None


def _sqlite_regexp(pattern: str | None, value: Any) -> bool:
    """SQLite's ``value REGEXP pattern`` calls ``regexp(pattern, value)``: RE2, linear time."""
    if pattern is None or value is None:
        return False
    try:
        return compile_pattern(pattern).search(str(value)) is not None
    except InvalidPattern:
        return False


def regex_match(column: Any, pattern: str, dialect: str) -> ColumnElement[bool]:
    """Case-insensitive unanchored match of ``column`` against a bound pattern."""
    if dialect == "postgresql":
        return column.op("~*", return_type=sa.Boolean)(sa.bindparam(None, pattern, sa.String))
    return column.op("REGEXP", return_type=sa.Boolean)(sa.bindparam(None, pattern, sa.String))


def check_pattern(db: Session, pattern: str) -> None:
    """Raise InvalidPattern if RE2 or (on PostgreSQL) the database rejects the pattern, or
    it is too complex to run (``patterns.check_complexity``)."""
    try:
        check_complexity(pattern, compile_pattern(pattern).programsize)
    except PatternTooComplex as exc:
        raise InvalidPattern(str(exc), reason=f"is too complex ({exc})") from None
    if db.get_bind().dialect.name != "postgresql":
        return
    try:
        with db.begin_nested():
            db.execute(sa.text("SELECT '' ~* :p"), {"p": pattern})
    except sa.exc.DataError as exc:
        if not is_invalid_regex_error(exc):
            raise
        raise InvalidPattern("PostgreSQL rejects this regular expression") from None


def is_invalid_regex_error(exc: BaseException) -> bool:
    """True for PostgreSQL's SQLSTATE 2201B (invalid regular expression)."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "2201B"


def sort_text(column: Any, dialect: str, *, nullable: bool) -> ColumnElement[Any]:
    """A text sort key: NULL as '' (lowest) and code-point order on both databases.

    Written exactly as the ``px_*`` indexes of migration 0002, so they serve it: the ''
    is a literal (a bound parameter would not match an index expression).
    """
    expr = sa.func.coalesce(column, sa.literal_column("''")) if nullable else column
    if dialect == "postgresql":
        return expr.collate("C")
    return expr  # SQLite's default BINARY collation compares UTF-8 bytes = code points


# --- bounded filter work --------------------------------------------------------------

# SQLite VM instructions between two looks at the clock: a few dozen rows' worth.
FILTER_PROGRESS_OPS = 1000


class FilterBusy(Exception):
    """The caller already runs as many filtered queries as SESSIONS_FILTER_MAX_CONCURRENT."""


class FilterTimedOut(Exception):
    """A filtered query ran past SESSIONS_FILTER_TIMEOUT_MS."""


def _slot_key(owner: str, slot: int) -> int:
    """A stable signed 64-bit key for one of ``owner``'s concurrency slots."""
    digest = hashlib.blake2b(f"{owner}\x00{slot}".encode(), digest_size=8, person=b"filter")
    return int.from_bytes(digest.digest(), "big", signed=True)


@contextlib.contextmanager
def bounded_filter(db: Session, owner: str, settings: Settings) -> Iterator[None]:
    """Run regex-filtered queries of ``owner`` in the block: at most
    ``filter_max_concurrent`` at once across every worker and instance (else FilterBusy),
    and all of the block's statements together within ``filter_timeout_ms`` (else
    FilterTimedOut)."""
    conn = db.connection()
    deadline = time.monotonic() + settings.filter_timeout_ms / 1000
    slots, timeout = (
        (_pg_slot, _pg_deadline)
        if conn.dialect.name == "postgresql"
        else (_sqlite_slot, _sqlite_deadline)
    )
    with slots(conn, owner, settings.filter_max_concurrent), timeout(conn, deadline):
        try:
            yield
        except sa.exc.DBAPIError as exc:
            # Past the deadline any failure is the budget's doing. PostgreSQL may report a
            # cancel inside its regex code as SQLSTATE 2201B ("operation cancelled").
            if time.monotonic() < deadline:
                raise
            log.warning("a filtered query was cut off after %d ms", settings.filter_timeout_ms)
            raise FilterTimedOut() from exc


@contextlib.contextmanager
def _pg_slot(conn: sa.Connection, owner: str, slots: int) -> Iterator[None]:
    """One of ``slots`` transaction-scoped advisory locks: released when the transaction ends."""
    for slot in range(slots):
        if conn.scalar(
            sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _slot_key(owner, slot)}
        ):
            yield
            return
    raise FilterBusy()


@contextlib.contextmanager
def _pg_deadline(conn: sa.Connection, deadline: float) -> Iterator[None]:
    """Before each statement, lower this transaction's statement_timeout to the time left."""
    previous = conn.scalar(sa.text("SELECT current_setting('statement_timeout')"))

    def before(_conn: Any, cursor: Any, *_args: Any) -> None:
        left_ms = max(1, int((deadline - time.monotonic()) * 1000))
        cursor.connection.execute(
            "SELECT set_config('statement_timeout', %s, true)", (str(left_ms),)
        )

    event.listen(conn, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(conn, "before_cursor_execute", before)
    # Only reached without an error: an aborted transaction takes the setting with it.
    conn.execute(sa.text("SELECT set_config('statement_timeout', :v, true)"), {"v": previous})


@contextlib.contextmanager
def _sqlite_deadline(conn: sa.Connection, deadline: float) -> Iterator[None]:
    """A progress handler that interrupts the running statement once the deadline passes.

    RE2 is linear, but REGEXP runs once per row: only a clock bounds the total.
    """
    raw: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
    raw.set_progress_handler(lambda: time.monotonic() >= deadline, FILTER_PROGRESS_OPS)
    try:
        yield
    finally:
        raw.set_progress_handler(None, FILTER_PROGRESS_OPS)


class _SlotLocks:
    """SQLite's concurrency slots: byte-range locks on one file next to the database
    (across processes) plus a set of held keys (POSIX locks do not exclude threads of the
    same process). A database without a file gets only the in-process part."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._pid = -1
        self._files: dict[Path, int] = {}
        self._held: set[tuple[Path | None, int]] = set()

    def _fd(self, path: Path) -> int:
        if self._pid != os.getpid():  # a forked worker: its parent's locks are not its own
            self._pid, self._files, self._held = os.getpid(), {}, set()
        if path not in self._files:
            # Kept open for the life of the process: closing any descriptor of the file
            # would drop every POSIX lock the process holds on it.
            self._files[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._files[path]

    def acquire(self, path: Path | None, key: int) -> bool:
        """Take the slot without waiting; False when someone holds it."""
        with self._mutex:
            if path is not None:
                fd = self._fd(path)
            if (path, key) in self._held:
                return False
            if path is not None:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, key)
                except OSError:
                    return False
            self._held.add((path, key))
            return True

    def release(self, path: Path | None, key: int) -> None:
        """Give the slot back."""
        with self._mutex:
            if path is not None:
                fcntl.lockf(self._fd(path), fcntl.LOCK_UN, 1, key)
            self._held.discard((path, key))


_SQLITE_SLOTS = _SlotLocks()


@contextlib.contextmanager
def _sqlite_slot(conn: sa.Connection, owner: str, slots: int) -> Iterator[None]:
    """One of ``slots`` locks of ``owner``, released when the block ends."""
    database = _sqlite_file(conn.engine.url)
    path = None if database is None else database.with_name(database.name + ".filter-locks")
    for slot in range(slots):
        key = _slot_key(owner, slot) & (2**62 - 1)  # a non-negative file offset
        if _SQLITE_SLOTS.acquire(path, key):
            try:
                yield
            finally:
                _SQLITE_SLOTS.release(path, key)
            return
    raise FilterBusy()


# --- engine and per-request session -------------------------------------------------


def _sqlite_setup(busy_timeout_ms: int) -> Any:
    """A connect hook: RE2 REGEXP, foreign keys, WAL, and a bounded wait on locks."""

    def on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.create_function("regexp", 2, _sqlite_regexp, deterministic=True)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return on_connect


def _sqlite_file(url: sa.URL) -> Path | None:
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
        path = _sqlite_file(engine.url)
        if path is not None:
            event.listen(engine, "do_connect", _create_private(path))
        # Registered after the dialect's own hook, so RE2 replaces its Python-re regexp.
        event.listen(engine, "connect", _sqlite_setup(settings.db_statement_timeout_ms))
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


def init_app(app: Flask, settings: Settings) -> None:
    """Attach the engine and session factory to the app and close sessions on teardown."""
    engine = create_db_engine(settings)
    app.extensions["sessions_db"] = {
        "engine": engine,
        "sessionmaker": sessionmaker(bind=engine, expire_on_commit=False),
    }
    app.teardown_appcontext(close_db)


def get_engine(app: Flask | None = None) -> Engine:
    """The app's engine."""
    target = app or current_app
    engine: Engine = target.extensions["sessions_db"]["engine"]
    return engine


def new_session(app: Flask | None = None) -> Session:
    """A new ORM session bound to the app's engine (caller closes it)."""
    target = app or current_app
    factory: sessionmaker[Session] = target.extensions["sessions_db"]["sessionmaker"]
    return factory()


def get_db() -> Session:
    """The request's ORM session, created on first use and closed on teardown."""
    if "db" not in g:
        g.db = new_session()
    db: Session = g.db
    return db


def upsert(db: Session, table: sa.Table) -> Any:
    """An ``INSERT`` with ``on_conflict_do_update`` (and RETURNING) in this database's dialect."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    if db.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite_dialect.insert(table)


def close_db(_exc: BaseException | None = None) -> None:
    """Close (and so roll back anything uncommitted in) the request's session."""
    db = g.pop("db", None)
    if db is not None:
        db.close()


# --- schema migrations ----------------------------------------------------------------

# Shipped inside the package, so a wheel or a non-editable install can migrate.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _alembic_config(connection: sa.Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


@contextlib.contextmanager
def _schema_connection(app: Flask) -> Iterator[sa.Connection]:
    """A transaction for schema work on an engine of its own, without the API's statement
    timeout (index builds on a large table take minutes)."""
    engine = create_db_engine(app.config["SETTINGS"], statement_timeout=False)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def upgrade_schema(app: Flask, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` on the app's database."""
    with _schema_connection(app) as connection:
        alembic_command.upgrade(_alembic_config(connection), revision)


def downgrade_schema(app: Flask, revision: str) -> None:
    """Undo migrations down to ``revision``."""
    with _schema_connection(app) as connection:
        alembic_command.downgrade(_alembic_config(connection), revision)


class SchemaNotCurrent(Exception):
    """The database is not at the newest migration."""


def schema_is_current(app: Flask) -> bool:
    """True when the database is at the newest migration."""
    with _schema_connection(app) as connection:
        cfg = _alembic_config(connection)
        heads = set(ScriptDirectory.from_config(cfg).get_heads())
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def check_models_match_migrations(app: Flask) -> None:
    """Raise if the models differ from the migrated schema (``alembic check``)."""
    with _schema_connection(app) as connection:
        alembic_command.check(_alembic_config(connection))


# --- what went wrong ----------------------------------------------------------------

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
    # The importer writes through the drivers directly, so their errors arrive unwrapped.
    orig = _driver_error(exc)
    return isinstance(
        orig, sqlite3.OperationalError | psycopg.OperationalError | psycopg.InterfaceError
    )


def error_reason(exc: BaseException) -> str:
    """The driver's first line about what failed (libpq and SQLite never include a password)."""
    lines = str(_driver_error(exc)).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__
