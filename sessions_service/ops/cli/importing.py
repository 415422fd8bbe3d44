"""``import``: bulk-load sessions and their users from JSON Lines."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

import click
from flask import current_app
from flask.cli import with_appcontext

from sessions_service.data.engine import create_db_engine
from sessions_service.ops import importer
from sessions_service.ops.cli.common import ServiceCommand, echo_json
from sessions_service.state import get_engine, settings_of


@contextmanager
def _import_progress(file: IO[bytes]) -> Iterator[Callable[[importer.BatchProgress], None]]:
    """A progress bar on a terminal (a line counter when the input size is unknown)."""
    stderr = sys.stderr
    if not stderr.isatty():
        yield lambda _batch: None
        return
    try:
        info = os.fstat(file.fileno())
        size = info.st_size if stat.S_ISREG(info.st_mode) else None
    except (OSError, ValueError):
        size = None
    if size:
        with click.progressbar(length=size, label="importing", file=stderr) as bar:
            yield lambda batch: bar.update(batch.bytes)
        return
    lines = 0

    def count(batch: importer.BatchProgress) -> None:
        nonlocal lines
        lines += batch.lines
        click.echo(f"\rimporting: {lines} lines read", file=stderr, nl=False)

    yield count
    click.echo("", file=stderr)


@click.command("import", cls=ServiceCommand)
@click.argument("file", type=click.File("rb"))
@click.option(
    "--batch-size",
    default=importer.BATCH_SIZE,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Lines written (and committed) together.",
)
@click.option(
    "--no-vacuum",
    is_flag=True,
    help="Only ANALYZE afterwards, no VACUUM (PostgreSQL); lists are slower until autovacuum.",
)
@with_appcontext
def import_sessions(file: IO[bytes], batch_size: int, no_vacuum: bool) -> None:
    """Bulk-load sessions and their users from JSON Lines (FILE, or - for stdin).

    Bad lines are reported on stderr as "line N: reason"; the rest are imported. Then
    VACUUM (ANALYZE) on PostgreSQL (ANALYZE on SQLite), so lists are fast at once.
    Prints a JSON summary; exits 1 when any line was rejected.
    """
    with get_engine(current_app).connect() as conn, _import_progress(file) as advance:

        def after_batch(batch: importer.BatchProgress) -> None:
            conn.commit()
            for rejection in batch.rejections:
                click.echo(rejection.report(), err=True)
            advance(batch)

        summary = importer.import_sessions(
            conn,
            file,
            expiration_days=settings_of().login_expiration_days,
            username_pattern=settings_of().username_pattern,
            batch_size=batch_size,
            after_batch=after_batch,
        )
        if summary.sessions_imported and no_vacuum:
            importer.analyze(conn)
            conn.commit()
    if summary.sessions_imported and not no_vacuum:
        maintenance = create_db_engine(settings_of(), statement_timeout=False)
        try:
            importer.vacuum(maintenance)
        finally:
            maintenance.dispose()
    echo_json(summary.as_dict())
    expired = summary.sessions_already_expired
    if expired:
        sessions = (
            "session is already past its" if expired == 1 else "sessions are already past their"
        )
        click.echo(
            f"note: {expired} imported {sessions} expiry "
            "(loginAt + SESSIONS_LOGIN_EXPIRATION_DAYS) and will not appear in lists",
            err=True,
        )
    if summary.lines_rejected:
        sys.exit(1)  # the good lines are in; a script must still notice the bad ones
