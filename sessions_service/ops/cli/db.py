"""``db``: the database schema."""

from __future__ import annotations

import click
from flask import current_app

from sessions_service.data.schema import check_models_match_migrations, upgrade_schema
from sessions_service.ops.cli.common import CommandGroup
from sessions_service.state import settings_of

db_cli = CommandGroup("db", help="Database schema.")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Run migrations to head."""
    upgrade_schema(settings_of(current_app))
    click.echo("database is at the newest migration")


@db_cli.command("check")
def db_check() -> None:
    """Fail if the models differ from the migrations."""
    check_models_match_migrations(settings_of(current_app))
    click.echo("models match the migrations")
