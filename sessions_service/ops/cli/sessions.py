"""``sessions``: end a user's login sessions."""

from __future__ import annotations

import click

from sessions_service.clock import utcnow
from sessions_service.core import events
from sessions_service.data import queries
from sessions_service.ops.cli.common import CommandGroup, echo_json, user_or_fail
from sessions_service.state import new_session

sessions_cli = CommandGroup("sessions", help="Login sessions.")


@sessions_cli.command("revoke")
@click.option("--user", "username", required=True, help="End every session of this user.")
def sessions_revoke(username: str) -> None:
    """End all of one user's active sessions (their tokens stop working at once)."""
    with new_session() as db:
        user = user_or_fail(db, username)
        # No user ended these: an operator did, so logoutBy stays empty.
        ended = queries.logout_user_sessions(db, user.id, None, utcnow())
        db.commit()
        events.emit("session.revoke", "success", user_id=user.id, count=ended, by="cli")
        echo_json({"userId": user.id, "sessionsEnded": ended})
