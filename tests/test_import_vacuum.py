"""After ``sessions-service import`` the data is as fast as in its steady state.

On PostgreSQL the import ends with ``VACUUM (ANALYZE)``: freshly COPYed pages are not
all-visible, so the index-only scans list.all leans on would visit the heap until autovacuum
came by. ``--no-vacuum`` leaves only ANALYZE. SQLite has no visibility map: it is ANALYZEd.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from sessions_service.ops.synthetic import synthetic_lines
from sessions_service.state import get_engine

from .conftest import Invoke, cli_invoker


@pytest.fixture
def database_url(blank_database_url: str) -> str:
    """A database of its own, migrated here: tables never vacuumed (the shared test database
    is emptied by DELETE between tests, which leaves earlier visibility-map bits behind)."""
    return blank_database_url


@pytest.fixture
def invoke(database_url: str) -> Iterator[Invoke]:
    apps: list[Flask] = []
    run = cli_invoker(database_url, apps)
    assert run("db", "upgrade").exit_code == 0
    yield run
    for app in apps:
        get_engine(app).dispose()


@pytest.fixture
def sessions_file(tmp_path: Path) -> Path:
    """Forty synthetic session documents of four users (far below autovacuum's thresholds)."""
    path = tmp_path / "sessions.jsonl"
    path.write_text("".join(line + "\n" for line in synthetic_lines(40, users=4, seed=3)))
    return path


def _pg_class(database_url: str, table: str) -> tuple[int, float]:
    """(relallvisible, reltuples) of ``table``: pages marked all-visible, and ANALYZE's count."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT relallvisible, reltuples FROM pg_class WHERE relname = :t"),
                {"t": table},
            ).one()
    finally:
        engine.dispose()
    return int(row[0]), float(row[1])


def _sqlite_stats(database_url: str) -> set[str]:
    """The tables ANALYZE has statistics for."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return set(conn.scalars(sa.text("SELECT DISTINCT tbl FROM sqlite_stat1")))
    finally:
        engine.dispose()


def _import(invoke: Invoke, path: Path, *options: str) -> dict[str, object]:
    result = invoke("import", str(path), *options)
    assert result.exit_code == 0, result.output
    summary: dict[str, object] = json.loads(result.stdout)
    assert summary["sessionsImported"] == 40
    return summary


def test_import_vacuums_what_it_wrote(
    invoke: Invoke, sessions_file: Path, database_url: str
) -> None:
    _import(invoke, sessions_file)
    if database_url.startswith("sqlite"):
        assert {"sessions", "users"} <= _sqlite_stats(database_url)
        return
    for table in ("sessions", "users"):
        all_visible, tuples = _pg_class(database_url, table)
        assert all_visible >= 1, f"{table}: no page marked all-visible, so not vacuumed"
        assert tuples > 0, f"{table}: not analyzed"


def test_no_vacuum_only_analyzes(invoke: Invoke, sessions_file: Path, database_url: str) -> None:
    _import(invoke, sessions_file, "--no-vacuum")
    if database_url.startswith("sqlite"):
        assert {"sessions", "users"} <= _sqlite_stats(database_url)
        return
    all_visible, tuples = _pg_class(database_url, "sessions")
    assert all_visible == 0, "--no-vacuum vacuumed"
    assert tuples == 40
