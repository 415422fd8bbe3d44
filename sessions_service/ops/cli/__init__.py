"""Operator commands: ``sessions-service ...`` and the same under ``flask --app app``.

One module per command group (``db``, ``users``, ``totp``, ``tokens``, ``keys``,
``sessions``) or command (``serve``/``demo``, ``import``); what they share, the one-line
expected failures among it, is ``common``'s.
"""

from __future__ import annotations

from typing import Any

import click
from flask import Flask
from flask.cli import ScriptInfo

from sessions_service.ops.cli.common import PROG, CliError, CliUsageError, expected_failure
from sessions_service.ops.cli.db import db_cli
from sessions_service.ops.cli.importing import import_sessions
from sessions_service.ops.cli.keys import keys_cli
from sessions_service.ops.cli.serve import demo, seed_demo_sessions, serve
from sessions_service.ops.cli.sessions import sessions_cli
from sessions_service.ops.cli.tokens import tokens_cli
from sessions_service.ops.cli.totp import totp_cli
from sessions_service.ops.cli.users import users_cli
from sessions_service.ops.logconfig import configure_logging

GROUPS = (db_cli, users_cli, totp_cli, tokens_cli, keys_cli, sessions_cli)
COMMANDS = (serve, demo, import_sessions)


def register(app: Flask) -> None:
    """Add the operator commands to ``flask --app app``."""
    for group in GROUPS:
        app.cli.add_command(group)
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app() -> Flask:
    from sessions_service import create_app

    return create_app()


class ServiceGroup(click.Group):
    """The console script: only our options; the app is built by the first command needing it."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """A context whose obj builds the app lazily (as ``flask --app app`` does)."""
        # with_appcontext loads the app from the ScriptInfo; a caller may pass its own.
        extra.setdefault("obj", ScriptInfo(create_app=_create_app, set_debug_flag=False))
        return super().make_context(info_name, args, parent, **extra)


@click.group(PROG, cls=ServiceGroup, help="Operate sessions-service.")
@click.version_option(package_name=PROG, prog_name=PROG, message="%(prog)s %(version)s")
def cli() -> None:
    """Operate sessions-service."""


for _group in GROUPS:
    cli.add_command(_group)
for _command in COMMANDS:
    cli.add_command(_command)


def main() -> None:
    """Console script entry point."""
    configure_logging()  # this process's: commands' security events go to stderr
    cli.main(prog_name=PROG)


__all__ = [
    "PROG",
    "CliError",
    "CliUsageError",
    "cli",
    "expected_failure",
    "main",
    "register",
    "seed_demo_sessions",
]
