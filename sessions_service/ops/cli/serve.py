"""``serve`` and ``demo``: the API under gunicorn, the demo seeded first."""

from __future__ import annotations

import click
from flask import Flask

from sessions_service.data.schema import upgrade_schema
from sessions_service.ops import importer
from sessions_service.ops.cli.common import ServiceCommand
from sessions_service.ops.synthetic import synthetic_lines
from sessions_service.state import get_engine, settings_of

DEMO_SEED = 20230524


@click.command("serve", cls=ServiceCommand)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API with gunicorn (migrating an embedded SQLite database first)."""
    from sessions_service.ops.server import prepare_and_serve

    prepare_and_serve(host, port, workers)


def seed_demo_sessions(app: Flask, count: int) -> importer.ImportSummary | None:
    """On an empty database, seed the demo users and ``count`` generated sessions."""
    from sessions_service.ops.demo import seed_if_empty

    if not seed_if_empty(app):
        return None
    with get_engine(app).connect() as conn:
        summary = importer.import_sessions(
            conn,
            synthetic_lines(count, seed=DEMO_SEED),
            expiration_days=settings_of(app).login_expiration_days,
            username_pattern=settings_of(app).username_pattern,
            after_batch=lambda _batch: conn.commit(),
        )
        importer.analyze(conn)
        conn.commit()
    click.echo(
        f"Seeded {summary.sessions_imported} generated sessions "
        f"of {summary.users_created} users in {summary.seconds:.1f} s."
    )
    return summary


@click.command("demo", cls=ServiceCommand)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--sessions",
    type=click.IntRange(1, 10_000_000),
    default=None,
    help="Also seed this many generated sessions (only into an empty database).",
)
def demo(host: str, port: int, workers: int, sessions: int | None) -> None:
    """Migrate, seed demo data if the database is empty, print how to call it, serve."""
    from sessions_service import create_app
    from sessions_service.ops.server import prepare_and_serve

    if sessions:
        app = create_app()
        upgrade_schema(settings_of(app))
        seed_demo_sessions(app, sessions)
        get_engine(app).dispose()
    prepare_and_serve(host, port, workers, demo=True)
