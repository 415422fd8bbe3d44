"""Bulk writes: batches of rows through the driver, PostgreSQL's COPY or SQLite's executemany.

Much faster than an ORM or Core insert of the same rows, which spends more time building
parameters than the database spends storing them. Values are still converted by each column's
own type, exactly as SQLAlchemy converts them (UTC datetimes, JSON, booleans). Rows are
mappings of column name to value. Nothing here commits: the caller does.
"""

from __future__ import annotations

import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    import psycopg

Row = Mapping[str, Any]


class BulkWriter(ABC):
    """Batches of rows on one connection, in the transaction ``begin`` opens."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def begin(self) -> None:
        """Open a transaction for the next batch unless one is open."""
        if not self.conn.in_transaction():
            self.conn.begin()

    @abstractmethod
    def existing(self, column: sa.Column[Any], values: Collection[str]) -> set[str]:
        """The ``values`` that ``column`` holds (one statement, however many values)."""

    @abstractmethod
    def insert_new(self, table: sa.Table, columns: Sequence[str], rows: Sequence[Row]) -> set[str]:
        """Insert ``rows`` (the ``columns`` of each) but those conflicting with a stored row;
        returns the ids inserted."""

    def _values(self, table: sa.Table, columns: Sequence[str]) -> Callable[[Row], list[Any]]:
        """A function from a row to its values in ``columns`` order, bound for the database."""
        dialect = self.conn.dialect
        get = itemgetter(*columns)
        binders = [
            (i, bind)
            for i, name in enumerate(columns)
            if (bind := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
        ]

        def values(row: Row) -> list[Any]:
            out = list(get(row))
            for i, bind in binders:
                out[i] = bind(out[i])
            return out

        return values


class _PostgresWriter(BulkWriter):
    """COPY into a temporary table, then INSERT ... SELECT ... ON CONFLICT DO NOTHING."""

    def __init__(self, conn: sa.Connection) -> None:
        super().__init__(conn)
        driver: Any = conn.connection.driver_connection
        self.cursor: psycopg.Cursor[Any] = driver.cursor()

    def existing(self, column: sa.Column[Any], values: Collection[str]) -> set[str]:
        table, name = column.table.name, column.name
        # One array parameter holds any number of values.
        self.cursor.execute(
            f"SELECT {name} FROM {table} WHERE {name} = ANY(%s)",  # noqa: S608 - model names
            (list(values),),
        )
        return {row[0] for row in self.cursor.fetchall()}

    def insert_new(self, table: sa.Table, columns: Sequence[str], rows: Sequence[Row]) -> set[str]:
        """Conflicts on any unique column (id, keys, token hash) skip the row."""
        if not rows:
            return set()
        values = self._values(table, columns)
        cols = ", ".join(columns)
        staging = f"import_{table.name}"
        cur = self.cursor
        cur.execute(
            f"CREATE TEMP TABLE {staging} (LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        with cur.copy(f"COPY {staging} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(values(row))
        cur.execute(
            f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {staging} "  # noqa: S608
            "ON CONFLICT DO NOTHING RETURNING id"
        )
        inserted = {row[0] for row in cur.fetchall()}
        cur.execute(f"DROP TABLE {staging}")
        return inserted


class _SQLiteWriter(BulkWriter):
    """executemany under BEGIN IMMEDIATE: checks and inserts see no other writer."""

    def __init__(self, conn: sa.Connection) -> None:
        super().__init__(conn)
        driver: Any = conn.connection.driver_connection
        self.raw: sqlite3.Connection = driver

    def begin(self) -> None:
        """Also take SQLite's write lock now, so what a batch checks stays true until it ends."""
        super().begin()
        if not self.raw.in_transaction:
            self.raw.execute("BEGIN IMMEDIATE")

    def existing(self, column: sa.Column[Any], values: Collection[str]) -> set[str]:
        table, name = column.table.name, column.name
        # json_each takes any number of values in one parameter.
        rows = self.raw.execute(
            f"SELECT {name} FROM {table} WHERE {name} IN (SELECT value FROM json_each(?))",  # noqa: S608
            (json.dumps(list(values)),),
        ).fetchall()
        return {row[0] for row in rows}

    def insert_new(self, table: sa.Table, columns: Sequence[str], rows: Sequence[Row]) -> set[str]:
        """Rows whose id is stored are skipped; no other writer can have added one since the
        caller's checks, as the transaction holds the write lock."""
        stored = self.existing(table.c.id, [row["id"] for row in rows])
        fresh = [row for row in rows if row["id"] not in stored]
        values = self._values(table, columns)
        marks = ", ".join("?" for _ in columns)
        self.raw.executemany(
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
            [values(row) for row in fresh],
        )
        return {row["id"] for row in fresh}


def bulk_writer(conn: sa.Connection) -> BulkWriter:
    """The bulk writer for this connection's database."""
    if conn.dialect.name == "postgresql":
        return _PostgresWriter(conn)
    if conn.dialect.name == "sqlite":
        return _SQLiteWriter(conn)
    raise ValueError(f"unsupported database: {conn.dialect.name}")


def analyze(conn: sa.Connection, tables: Sequence[sa.Table]) -> None:
    """Refresh the planner's statistics of ``tables`` after a bulk load (the caller commits)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {', '.join(table.name for table in tables)}")
    else:
        conn.exec_driver_sql("ANALYZE")


def vacuum_analyze(engine: sa.Engine, tables: Sequence[sa.Table]) -> None:
    """After a bulk load, leave ``tables`` as fast as in their steady state.

    PostgreSQL: ``VACUUM (ANALYZE)``, which sets the visibility map that list.all's index-only
    scans lean on (fresh COPYed pages are not all-visible until vacuumed) as well as the
    statistics. It cannot run in a transaction, and on a large table it takes longer than the
    API's statement timeout: give it an engine made with ``statement_timeout=False``.
    SQLite has no visibility map: ``ANALYZE``.
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(table.name for table in tables)}")
        else:
            conn.exec_driver_sql("ANALYZE")
