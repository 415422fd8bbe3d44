"""Operator commands: ``sessions-service ...`` and the same under ``flask --app app``."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from . import events, importer, queries, twofactor
from .config import ConfigError, Settings, parse_secret_keys
from .db import check_models_match_migrations, get_engine, new_session, upgrade_schema, utcnow
from .security import KeyMismatch, generate_fernet_key
from .synthetic import synthetic_lines

DEMO_SEED = 20230524

db_cli = AppGroup("db", help="Database schema.")
users_cli = AppGroup("users", help="User accounts.")
totp_cli = AppGroup("totp", help="Two-factor TOTP enrolment.")
tokens_cli = AppGroup("tokens", help="Service-account auth tokens.")
keys_cli = AppGroup("keys", help="SESSIONS_SECRET_KEY management.")
sessions_cli = AppGroup("sessions", help="Login sessions.")
GROUPS = (db_cli, users_cli, totp_cli, tokens_cli, keys_cli, sessions_cli)


def _settings() -> Settings:
    value: Settings = current_app.config["SETTINGS"]
    return value


def _echo_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, indent=2))


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Run migrations to head."""
    upgrade_schema(current_app)
    click.echo("database is at the newest migration")


@db_cli.command("check")
def db_check() -> None:
    """Fail if the models differ from the migrations."""
    check_models_match_migrations(current_app)
    click.echo("models match the migrations")


@users_cli.command("create")
@click.argument("username")
@click.option("--password", required=True, help="The user's password.")
@click.option("--name", default=None, help="Display name.")
@click.option("--email", default=None, help="Email address (unique).")
@click.option("--role", "roles", multiple=True, help="A role; repeat for more (default: user).")
def users_create(
    username: str, password: str, name: str | None, email: str | None, roles: tuple[str, ...]
) -> None:
    """Create a user and print its id."""
    with new_session() as db:
        try:
            user = queries.create_user(
                db,
                username,
                password,
                name=name,
                email=email,
                roles=roles or ("user",),
                bcrypt_rounds=_settings().bcrypt_rounds,
            )
        except (queries.UserExists, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        db.commit()
        _echo_json({"userId": user.id})


def _user_or_fail(db: Any, username: str) -> Any:
    user = queries.get_user_by_username(db, username)
    if user is None:
        raise click.ClickException(f"no such user: {username}")
    return user


@totp_cli.command("enable")
@click.argument("username")
def totp_enable(username: str) -> None:
    """Enable TOTP for a user; prints the secret, otpauth URI and backup codes once."""
    with new_session() as db:
        user = _user_or_fail(db, username)
        enrolment = twofactor.enable_totp(db, user, _settings())
        db.commit()
        _echo_json(
            {
                "secret": enrolment.secret,
                "uri": enrolment.uri,
                "backupCodes": enrolment.backup_codes,
            }
        )


@users_cli.command("set-roles")
@click.argument("username")
@click.argument("roles", nargs=-1, required=True)
def users_set_roles(username: str, roles: tuple[str, ...]) -> None:
    """Replace a user's roles (e.g. admin user)."""
    with new_session() as db:
        user = _user_or_fail(db, username)
        queries.set_roles(db, user, roles)
        db.commit()
        _echo_json({"userId": user.id, "roles": user.roles})


@totp_cli.command("disable")
@click.argument("username")
def totp_disable(username: str) -> None:
    """Remove a user's TOTP secret and backup codes."""
    with new_session() as db:
        user = _user_or_fail(db, username)
        removed = twofactor.disable_totp(db, user)
        db.commit()
        _echo_json({"userId": user.id, "totpDisabled": removed})


@sessions_cli.command("revoke")
@click.option("--user", "username", required=True, help="End every session of this user.")
def sessions_revoke(username: str) -> None:
    """End all of one user's active sessions (their tokens stop working at once)."""
    with new_session() as db:
        user = _user_or_fail(db, username)
        # No user ended these: an operator did, so logoutBy stays empty.
        ended = queries.logout_user_sessions(db, user.id, None, utcnow())
        db.commit()
        events.emit("session.revoke", "success", user_id=user.id, count=ended, by="cli")
        _echo_json({"userId": user.id, "sessionsEnded": ended})


@tokens_cli.command("create")
@click.argument("username")
@click.option("--bypass-2fa", is_flag=True, help="Exempt this token from two-factor.")
def tokens_create(username: str, bypass_2fa: bool) -> None:
    """Log a service account in and print its token (shown once)."""
    with new_session() as db:
        user = _user_or_fail(db, username)
        if not user.active:
            raise click.ClickException(f"user is not active: {username}")
        session, token = queries.create_session(
            db,
            user,
            user_agent=None,
            ip="",
            host="",
            now=utcnow(),
            expiration_days=_settings().login_expiration_days,
            bypass_2fa=bypass_2fa,
        )
        db.commit()
        _echo_json({"userId": user.id, "authToken": token, "sessionId": session.id})


@keys_cli.command("generate", with_appcontext=False)
def keys_generate() -> None:
    """Print a new SESSIONS_SECRET_KEY."""
    click.echo(generate_fernet_key())


@keys_cli.command("rotate")
@click.option(
    "--old",
    "old_key",
    default=None,
    help="An extra key to decrypt with (for secrets under a key no longer in SESSIONS_SECRET_KEY).",
)
def keys_rotate(old_key: str | None) -> None:
    """Re-encrypt every TOTP secret under the first SESSIONS_SECRET_KEY key (one transaction)."""
    extra: tuple[str, ...] = ()
    if old_key is not None:
        try:
            extra = parse_secret_keys(old_key, "--old")
        except ConfigError:
            raise click.ClickException("--old is not a Fernet key") from None
    with new_session() as db:
        try:
            count = twofactor.rotate_secrets(db, _settings(), extra)
        except KeyMismatch as exc:
            raise click.ClickException(f"{exc}; nothing was changed") from None
        db.commit()
        _echo_json({"secretsReencrypted": count})


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API with gunicorn (migrating an embedded SQLite database first)."""
    from .server import prepare_and_serve

    prepare_and_serve(host, port, workers)


def seed_demo_sessions(app: Flask, count: int) -> importer.ImportSummary | None:
    """On an empty database, seed the demo users and ``count`` generated sessions."""
    from .demo import seed_if_empty

    if not seed_if_empty(app):
        return None
    with get_engine(app).connect() as conn:
        summary = importer.import_sessions(
            conn,
            synthetic_lines(count, seed=DEMO_SEED),
            expiration_days=app.config["SETTINGS"].login_expiration_days,
            after_batch=lambda _batch: conn.commit(),
        )
        importer.analyze(conn)
        conn.commit()
    click.echo(
        f"Seeded {summary.sessions_imported} generated sessions "
        f"of {summary.users_created} users in {summary.seconds:.1f} s."
    )
    return summary


@click.command("demo")
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
    from . import create_app
    from .server import prepare_and_serve

    if sessions:
        app = create_app()
        upgrade_schema(app)
        seed_demo_sessions(app, sessions)
        get_engine(app).dispose()
    prepare_and_serve(host, port, workers, demo=True)


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


@click.command("import")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--batch-size",
    default=importer.BATCH_SIZE,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Lines written (and committed) together.",
)
@with_appcontext
def import_sessions(file: IO[bytes], batch_size: int) -> None:
    """Bulk-load sessions and their users from JSON Lines (FILE, or - for stdin).

    Bad lines are reported on stderr as "line N: reason"; the rest are imported.
    Prints a JSON summary.
    """
    with get_engine(current_app).connect() as conn, _import_progress(file) as advance:

        def after_batch(batch: importer.BatchProgress) -> None:
            conn.commit()
            for rejection in batch.rejections:
                click.echo(f"line {rejection.line}: {rejection.reason}", err=True)
            advance(batch)

        summary = importer.import_sessions(
            conn,
            file,
            expiration_days=_settings().login_expiration_days,
            batch_size=batch_size,
            after_batch=after_batch,
        )
        if summary.sessions_imported:
            importer.analyze(conn)
            conn.commit()
    _echo_json(summary.as_dict())


COMMANDS = (serve, demo, import_sessions)


def register(app: Flask) -> None:
    """Add the operator commands to ``flask --app app``."""
    for group in GROUPS:
        app.cli.add_command(group)
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app() -> Flask:
    from . import create_app

    return create_app()


cli = FlaskGroup(
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    help="Operate sessions-service.",
)
for _group in GROUPS:
    cli.add_command(_group)
for _command in COMMANDS:
    cli.add_command(_command)


def main() -> None:
    """Console script entry point; configuration errors become one line on stderr."""
    try:
        cli.main(prog_name="sessions-service")
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
