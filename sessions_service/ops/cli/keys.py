"""``keys``: SESSIONS_SECRET_KEY — generate one, re-encrypt the TOTP secrets under it."""

from __future__ import annotations

import click

from sessions_service.config import ConfigError, parse_secret_keys
from sessions_service.core import twofactor
from sessions_service.core.security import KeyMismatch, generate_fernet_key
from sessions_service.ops.cli.common import CommandGroup, echo_json
from sessions_service.state import new_session, settings_of

keys_cli = CommandGroup("keys", help="SESSIONS_SECRET_KEY management.")


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
            count = twofactor.rotate_secrets(db, settings_of(), extra)
        except KeyMismatch as exc:
            raise click.ClickException(f"{exc}; nothing was changed") from None
        db.commit()
        echo_json({"secretsReencrypted": count})
