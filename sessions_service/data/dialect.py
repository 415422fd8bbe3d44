"""Where SQLite and PostgreSQL differ: regular expressions, sort keys, upserts, connect hooks."""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

import re2
import sqlalchemy as sa
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement, Grouping
from sqlalchemy.sql.operators import OperatorType
from sqlalchemy.sql.visitors import InternalTraversal

from sessions_service.data.patterns import PatternTooComplex, check_complexity

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


def regex_match(column: Any, pattern: str) -> ColumnElement[bool]:
    """Case-insensitive unanchored match of ``column`` against ``pattern``, a bound parameter.

    PostgreSQL renders flags "i" as ``~*``. SQLite renders ``REGEXP`` and ignores the flags: its
    ``regexp`` function is RE2's, case-insensitive itself (sqlite_setup replaces the dialect's).
    """
    # Bound as plain String whatever the column's type, as the pattern always has been.
    return column.regexp_match(sa.bindparam(None, pattern, sa.String), flags="i")


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


class _Collated(ColumnElement[Any]):
    """A text expression in a collation PostgreSQL names and SQLite leaves to its default."""

    inherit_cache = True
    _traverse_internals = [("text", InternalTraversal.dp_clauseelement)]
    postgresql_collation = ""

    def __init__(self, text: ColumnElement[Any]) -> None:
        self.text = text
        self.type = text.type

    @property
    def _from_objects(self) -> list[Any]:
        return self.text._from_objects

    def self_group(self, against: OperatorType | None = None) -> ColumnElement[Any]:
        # Parenthesised where PostgreSQL's ``x COLLATE c`` is, so its SQL reads as it always has.
        return Grouping(self) if operators.is_precedent(operators.collate, against) else self


class _SortText(_Collated):
    """Code-point order: ``x COLLATE "C"`` on PostgreSQL; on SQLite ``x``, as its default
    BINARY collation compares UTF-8 bytes, which is code-point order."""

    inherit_cache = True
    postgresql_collation = "C"


class _DatabaseCollation(_Collated):
    """The database's own order: ``x COLLATE "default"`` on PostgreSQL, ``x`` on SQLite."""

    inherit_cache = True
    postgresql_collation = "default"


@compiles(_Collated)
def _collated(element: _Collated, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.text, **kw)


@compiles(_Collated, "postgresql")
def _collated_postgresql(element: _Collated, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.text.collate(element.postgresql_collation), **kw)


def sort_text(column: Any, *, nullable: bool) -> ColumnElement[Any]:
    """A text sort key: NULL as '' (lowest) and code-point order on both databases.

    Written exactly as the ``px_*`` indexes of migration 0002, so they serve it: the ''
    is a literal (a bound parameter would not match an index expression).
    """
    text = sa.func.coalesce(column, sa.literal_column("''")) if nullable else column
    return _SortText(text)


def database_collation(text: Any) -> ColumnElement[Any]:
    """A sort_text value back in the database's collation, for regex_match: PostgreSQL's ``~*``
    folds case by the collation, and "C" folds ASCII letters only."""
    return _DatabaseCollation(text)


def rows_affected(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched (both drivers count matched, not changed)."""
    # Session.execute is typed as returning Result; DML gives a CursorResult, which counts.
    return result.rowcount if isinstance(result, CursorResult) else 0


def upsert(db: Session, table: sa.Table) -> Any:
    """An ``INSERT`` with ``on_conflict_do_update`` (and RETURNING) in this database's dialect."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    if db.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite_dialect.insert(table)


def sqlite_setup(busy_timeout_ms: int) -> Any:
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
