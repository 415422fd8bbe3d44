"""``totp``: two-factor TOTP enrolment."""

from __future__ import annotations

import click

from sessions_service.core import twofactor
from sessions_service.ops.cli.common import CommandGroup, echo_json, user_or_fail
from sessions_service.state import new_session, settings_of

totp_cli = CommandGroup("totp", help="Two-factor TOTP enrolment.")


@totp_cli.command("enable")
@click.argument("username")
def totp_enable(username: str) -> None:
    """Enable TOTP for a user; prints the secret, otpauth URI and backup codes once."""
    with new_session() as db:
        user = user_or_fail(db, username)
        enrolment = twofactor.enable_totp(db, user, settings_of())
        db.commit()
        echo_json(
            {
                "secret": enrolment.secret,
                "uri": enrolment.uri,
                "backupCodes": enrolment.backup_codes,
            }
        )


@totp_cli.command("disable")
@click.argument("username")
def totp_disable(username: str) -> None:
    """Remove a user's TOTP secret and backup codes."""
    with new_session() as db:
        user = user_or_fail(db, username)
        removed = twofactor.disable_totp(db, user)
        db.commit()
        echo_json({"userId": user.id, "totpDisabled": removed})
