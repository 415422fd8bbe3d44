"""Bounded filter work: at most N regex-filtered queries per caller, each within a deadline."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from sessions_service.config import Settings
from sessions_service.data.engine import sqlite_file

log = logging.getLogger(__name__)

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
    database = sqlite_file(conn.engine.url)
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
