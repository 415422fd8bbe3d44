"""``tokens``: service-account auth tokens."""

from __future__ import annotations

import click

from sessions_service.clock import utcnow
from sessions_service.core import logins
from sessions_service.ops.cli.common import PROG, CliError, CommandGroup, echo_json, user_or_fail
from sessions_service.state import new_session, settings_of

tokens_cli = CommandGroup("tokens", help="Service-account auth tokens.")


@tokens_cli.command("create")
@click.argument("username")
@click.option("--bypass-2fa", is_flag=True, help="Exempt this token from two-factor.")
def tokens_create(username: str, bypass_2fa: bool) -> None:
    """Log a service account in and print its token (shown once)."""
    with new_session() as db:
        user = user_or_fail(db, username)
        if not user.active:
            raise CliError(f"user is not active: {username} — activate it: {PROG} users activate")
        session, token = logins.create_session(
            db,
            user,
            user_agent=None,
            ip="",
            host="",
            now=utcnow(),
            expiration_days=settings_of().login_expiration_days,
            bypass_2fa=bypass_2fa,
        )
        db.commit()
        echo_json({"userId": user.id, "authToken": token, "sessionId": session.id})
