"""``users``: accounts — create, list, (de)activate, password, roles."""

from __future__ import annotations

import json

import click

from sessions_service.clock import format_timestamp, utcnow
from sessions_service.core import accounts, events
from sessions_service.data import queries
from sessions_service.ops.cli.common import (
    PROG,
    CliError,
    CliUsageError,
    CommandGroup,
    echo_json,
    user_or_fail,
)
from sessions_service.state import new_session, settings_of

users_cli = CommandGroup("users", help="User accounts.")


def _check_password(password: str) -> str:
    if not password:
        raise CliError("the password must not be empty — for a service account use --no-password")
    return password


@users_cli.command("create")
@click.argument("username")
@click.option("--password", default=None, help="The user's password.")
@click.option(
    "--no-password",
    is_flag=True,
    help="No password: a service account that only logs in by `tokens create`.",
)
@click.option("--name", default=None, help="Display name.")
@click.option("--email", default=None, help="Email address (unique).")
@click.option("--role", "roles", multiple=True, help="A role; repeat for more (default: user).")
def users_create(
    username: str,
    password: str | None,
    no_password: bool,
    name: str | None,
    email: str | None,
    roles: tuple[str, ...],
) -> None:
    """Create a user and print its id."""
    if (password is None) == (not no_password):
        raise CliUsageError("give one of --password PW or --no-password (a service account)")
    if password is not None:
        _check_password(password)
    with new_session() as db:
        try:
            user = accounts.create_user(
                db,
                username,
                password,
                name=name,
                email=email,
                roles=roles or ("user",),
                bcrypt_rounds=settings_of().bcrypt_rounds,
                username_pattern=settings_of().username_pattern,
            )
        except accounts.UserExists as exc:
            raise CliError(f"{exc} — see: {PROG} users list") from None
        except ValueError as exc:
            raise CliError(str(exc)) from None
        db.commit()
        echo_json({"userId": user.id})


@users_cli.command("list")
def users_list() -> None:
    """Print every user as one JSON object a line (never a hash)."""
    with new_session() as db:
        for user in queries.list_users(db):
            record = {
                "userId": user.id,
                "username": user.username,
                "name": user.name,
                "email": user.email,
                "roles": user.roles,
                "active": user.active,
                "createdAt": format_timestamp(user.created_at),
                "hasPassword": user.has_password,
                "totpEnabled": user.totp_enabled,
            }
            click.echo(json.dumps(record))


@users_cli.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """Deactivate a user and end all their sessions (their tokens stop working at once)."""
    with new_session() as db:
        user = user_or_fail(db, username)
        queries.set_active(db, user, False)
        # An operator ended these, not a user: logoutBy stays empty (as sessions revoke).
        ended = queries.logout_user_sessions(db, user.id, None, utcnow())
        db.commit()
        events.emit("user.deactivate", "success", user_id=user.id, count=ended, by="cli")
        echo_json({"userId": user.id, "active": False, "sessionsEnded": ended})


@users_cli.command("activate")
@click.argument("username")
def users_activate(username: str) -> None:
    """Let a deactivated user log in again."""
    with new_session() as db:
        user = user_or_fail(db, username)
        queries.set_active(db, user, True)
        db.commit()
        events.emit("user.activate", "success", user_id=user.id, by="cli")
        echo_json({"userId": user.id, "active": True})


@users_cli.command("set-password")
@click.argument("username")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The new password (asked twice, hidden, when not given).",
)
def users_set_password(username: str, password: str) -> None:
    """Replace a user's password (sessions stay logged in; revoke them if need be)."""
    _check_password(password)
    with new_session() as db:
        user = user_or_fail(db, username)
        accounts.set_password(db, user, password, bcrypt_rounds=settings_of().bcrypt_rounds)
        db.commit()
        events.emit("user.set-password", "success", user_id=user.id, by="cli")
        echo_json({"userId": user.id, "hasPassword": True})


@users_cli.command("set-roles")
@click.argument("username")
@click.argument("roles", nargs=-1, required=True)
def users_set_roles(username: str, roles: tuple[str, ...]) -> None:
    """Replace a user's roles (e.g. admin user)."""
    with new_session() as db:
        user = user_or_fail(db, username)
        queries.set_roles(db, user, roles)
        db.commit()
        echo_json({"userId": user.id, "roles": user.roles})
