"""Operator commands of issue 3 (SPEC §7): users set-roles, totp disable, sessions revoke.

Each command runs through click's CliRunner against the test database of each kind, both as
the ``sessions-service`` console-script group and as ``flask --app app`` (``app.cli``); its
effect is then checked through the HTTP API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo

from sessions_service.cli import cli

from .bodies import FORBIDDEN, totp_invalid, totp_required
from .conftest import alive

API = "/api/v1/sessions"

Invoke = Callable[..., Result]


@pytest.fixture(params=["sessions-service", "flask"])
def invoke(request: pytest.FixtureRequest, app: Flask) -> Invoke:
    """Run a command on the test app: via the console script's group or via ``app.cli``."""

    def run(*args: str) -> Result:
        if request.param == "flask":
            return app.test_cli_runner().invoke(args=list(args))
        info = ScriptInfo(create_app=lambda: app, set_debug_flag=False)
        return CliRunner().invoke(cli, list(args), obj=info)

    return run


def printed_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_set_roles_grants_list_all(client, helpers, invoke):
    carol = helpers.user("carol")
    login = helpers.session_for(carol)
    before = client.get(f"{API}/list.all", headers=login.headers())
    assert before.status_code == 403
    assert before.get_json() == FORBIDDEN

    output = printed_json(invoke("users", "set-roles", "carol", "admin", "user"))

    assert output["roles"] == ["admin", "user"]
    [(roles,)] = helpers.sql("SELECT roles FROM users WHERE id = :id", id=carol.id)
    assert (json.loads(roles) if isinstance(roles, str) else roles) == ["admin", "user"]
    # Past the permission check: two-factor (carol's password method) is what is asked now.
    asked = client.get(f"{API}/list.all", headers=login.headers())
    assert asked.status_code == 400
    assert asked.get_json() == totp_required("password")
    granted = client.get(f"{API}/list.all", headers=login.headers(**{"x-2fa-code": carol.digest}))
    assert granted.status_code == 200, granted.get_json()
    assert [s["sessionId"] for s in granted.get_json()["sessions"]] == [login.session_id]


def test_set_roles_replaces_roles_and_can_take_admin_away(client, helpers, invoke):
    admin = helpers.admin("dora")
    login = helpers.session_for(admin)

    output = printed_json(invoke("users", "set-roles", "dora", "user"))

    assert output["roles"] == ["user"]
    response = client.get(f"{API}/list.all", headers=login.headers())
    assert response.status_code == 403
    assert response.get_json() == FORBIDDEN


def test_totp_disable_switches_the_user_to_the_password_method(client, helpers, invoke):
    admin = helpers.admin(totp=True)
    login = helpers.session_for(admin)
    target = helpers.session_for(helpers.user("alice")).session_id
    url = f"{API}/info.admin?sessionId={target}"
    assert client.get(url, headers=login.headers()).get_json() == totp_required("totp")

    result = invoke("totp", "disable", "root")

    assert result.exit_code == 0, result.output
    asked = client.get(url, headers=login.headers())
    assert asked.status_code == 400
    assert asked.get_json() == totp_required("password")
    # The old TOTP secret and backup codes are gone, not merely hidden.
    refused = client.get(url, headers=login.headers(**{"x-2fa-code": admin.backup_codes[0]}))
    assert refused.status_code == 400
    assert refused.get_json() == totp_invalid("password")
    for table in ("totp", "backup_codes"):
        [(left,)] = helpers.sql(f"SELECT count(*) FROM {table} WHERE user_id = :id", id=admin.id)
        assert left == 0, table
    passed = client.get(url, headers=login.headers(**{"x-2fa-code": admin.digest}))
    assert passed.status_code == 200, passed.get_json()
    assert passed.get_json()["sessionId"] == target
    helpers.login(admin)  # no TOTP code needed at login any more


def test_sessions_revoke_ends_only_that_users_sessions(client, helpers, invoke):
    alice, bob = helpers.user("alice"), helpers.user("bob")
    alices = [helpers.login(alice), helpers.session_for(alice, user_agent=None)]
    earlier = helpers.session_for(alice)
    response = client.post(
        f"{API}/logout.me", json={"sessionId": earlier.session_id}, headers=alices[0].headers()
    )
    assert response.status_code == 200
    ended_before = helpers.sql(
        "SELECT logout_at, logout_by FROM sessions WHERE id = :id", id=earlier.session_id
    )
    bobs = helpers.login(bob)

    output = printed_json(invoke("sessions", "revoke", "--user", "alice"))

    counts = [v for v in output.values() if isinstance(v, int) and not isinstance(v, bool)]
    assert counts == [2], output
    assert not any(alive(client, login) for login in alices)
    assert alive(client, bobs)
    [(active,)] = helpers.sql(
        "SELECT count(*) FROM sessions WHERE user_id = :id AND logout_at IS NULL", id=alice.id
    )
    assert active == 0
    assert (
        helpers.sql(
            "SELECT logout_at, logout_by FROM sessions WHERE id = :id", id=earlier.session_id
        )
        == ended_before
    )

    again = printed_json(invoke("sessions", "revoke", "--user", "alice"))
    assert [v for v in again.values() if isinstance(v, int) and not isinstance(v, bool)] == [0]


@pytest.mark.parametrize(
    "args",
    [
        ("users", "set-roles", "ghost", "admin"),
        ("totp", "disable", "ghost"),
        ("sessions", "revoke", "--user", "ghost"),
    ],
    ids=["set-roles", "totp-disable", "sessions-revoke"],
)
def test_unknown_username_fails_clearly(client, helpers, invoke, args):
    alice = helpers.user("alice")
    login = helpers.session_for(alice)

    result = invoke(*args)

    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    assert "ghost" in result.stderr
    assert "user" in result.stderr.lower()
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert alive(client, login)
