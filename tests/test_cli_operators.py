"""Operator commands (SPEC §7): users set-roles/list/deactivate/activate/set-password/create
--no-password (issue 8), totp disable, sessions revoke (issue 3).

Each command runs through click's CliRunner against the test database of each kind, both as
the ``sessions-service`` console-script group and as ``flask --app app`` (``app.cli``); its
effect is then checked through the HTTP API.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from sessions_service.clock import format_timestamp

from .bodies import FORBIDDEN, totp_invalid, totp_required
from .conftest import INFO_ADMIN, LIST_ALL, LOGOUT_ME, CliOn, Invoke, alive, json_lines, json_out


@pytest.fixture(params=["sessions-service", "flask"])
def invoke(request: pytest.FixtureRequest, cli_on: CliOn, database_url: str) -> Invoke:
    """Run a command on the test's database: via the console script's group or ``app.cli``."""
    return cli_on(database_url, via=request.param)


def test_set_roles_grants_list_all(client, helpers, invoke):
    carol = helpers.user("carol")
    login = helpers.session_for(carol)
    before = client.get(LIST_ALL, headers=login.headers())
    assert before.status_code == 403
    assert before.get_json() == FORBIDDEN

    output = json_out(invoke("users", "set-roles", "carol", "admin", "user"))

    assert output["roles"] == ["admin", "user"]
    [(roles,)] = helpers.sql("SELECT roles FROM users WHERE id = :id", id=carol.id)
    assert (json.loads(roles) if isinstance(roles, str) else roles) == ["admin", "user"]
    # Past the permission check: two-factor (carol's password method) is what is asked now.
    asked = client.get(LIST_ALL, headers=login.headers())
    assert asked.status_code == 400
    assert asked.get_json() == totp_required("password")
    granted = client.get(LIST_ALL, headers=login.headers(**{"x-2fa-code": carol.digest}))
    assert granted.status_code == 200, granted.get_json()
    assert [s["sessionId"] for s in granted.get_json()["sessions"]] == [login.session_id]


def test_set_roles_replaces_roles_and_can_take_admin_away(client, helpers, invoke):
    admin = helpers.admin("dora")
    login = helpers.session_for(admin)

    output = json_out(invoke("users", "set-roles", "dora", "user"))

    assert output["roles"] == ["user"]
    response = client.get(LIST_ALL, headers=login.headers())
    assert response.status_code == 403
    assert response.get_json() == FORBIDDEN


def test_totp_disable_switches_the_user_to_the_password_method(client, helpers, invoke):
    admin = helpers.admin(totp=True)
    login = helpers.session_for(admin)
    target = helpers.session_for(helpers.user("alice")).session_id
    url = f"{INFO_ADMIN}?sessionId={target}"
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
        LOGOUT_ME,
        json={"sessionId": earlier.session_id},
        headers=alices[0].headers(),
    )
    assert response.status_code == 200
    ended_before = helpers.sql(
        "SELECT logout_at, logout_by FROM sessions WHERE id = :id", id=earlier.session_id
    )
    bobs = helpers.login(bob)

    output = json_out(invoke("sessions", "revoke", "--user", "alice"))

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

    again = json_out(invoke("sessions", "revoke", "--user", "alice"))
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


# --- issue 8: users list, deactivate, activate, set-password, create --no-password ------

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def can_log_in(client, username: str, password: str) -> bool:
    response = client.post("/api/v1/login", json={"user": username, "password": password})
    assert response.status_code in (200, 401), response.get_json()
    return response.status_code == 200


def test_users_list_prints_one_json_object_per_user_and_no_hash(client, helpers, invoke):
    helpers.user("zed", name="Zed", email="zed@example.org")
    helpers.admin("Alice", totp=True)
    json_out(invoke("users", "create", "svc-bot", "--no-password"))

    result = invoke("users", "list")

    lines = json_lines(result)
    rows = helpers.sql("SELECT username, id, created_at FROM users")
    ids = {row[0]: row[1] for row in rows}
    for line in lines:
        assert TIMESTAMP.fullmatch(line.pop("createdAt")), line
    assert lines == [
        {
            "userId": ids["Alice"],
            "username": "Alice",
            "name": None,
            "email": None,
            "roles": ["admin", "user"],
            "active": True,
            "hasPassword": True,
            "totpEnabled": True,
        },
        {
            "userId": ids["svc-bot"],
            "username": "svc-bot",
            "name": None,
            "email": None,
            "roles": ["user"],
            "active": True,
            "hasPassword": False,
            "totpEnabled": False,
        },
        {
            "userId": ids["zed"],
            "username": "zed",
            "name": "Zed",
            "email": "zed@example.org",
            "roles": ["user"],
            "active": True,
            "hasPassword": True,
            "totpEnabled": False,
        },
    ]
    assert "$2" not in result.stdout  # no bcrypt hash anywhere


def test_users_list_shows_created_at_as_the_api_does(helpers, invoke):
    helpers.user("alice")
    [(stored,)] = helpers.sql("SELECT created_at FROM users")
    (line,) = json_lines(invoke("users", "list"))
    if isinstance(stored, str):  # SQLite's stored text: naive UTC
        stored = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    assert line["createdAt"] == format_timestamp(stored)


def test_users_deactivate_ends_every_session_at_once(client, helpers, invoke, security_events):
    alice, bob = helpers.user("alice"), helpers.user("bob")
    alices = [helpers.login(alice), helpers.session_for(alice, bypass_2fa=True)]
    bobs = helpers.login(bob)

    output = json_out(invoke("users", "deactivate", "alice"))

    assert output == {"userId": alice.id, "active": False, "sessionsEnded": 2}
    assert not any(alive(client, login) for login in alices)
    assert alive(client, bobs)
    assert not can_log_in(client, "alice", alice.password)
    ended = helpers.sql(
        "SELECT logout_at IS NOT NULL, logout_by FROM sessions WHERE user_id = :id", id=alice.id
    )
    assert [(bool(done), by) for done, by in ended] == [(True, None), (True, None)]
    assert [
        (e["event"], e["outcome"], e["userId"], e["count"], e["by"])
        for e in security_events.starting("user.")
    ] == [("user.deactivate", "success", alice.id, 2, "cli")]
    (listed,) = [u for u in json_lines(invoke("users", "list")) if u["username"] == "alice"]
    assert listed["active"] is False


def test_users_activate_lets_the_user_log_in_again(client, helpers, invoke, security_events):
    alice = helpers.user("alice")
    old = helpers.login(alice)
    json_out(invoke("users", "deactivate", "alice"))

    output = json_out(invoke("users", "activate", "alice"))

    assert output == {"userId": alice.id, "active": True}
    assert not alive(client, old)  # what deactivate ended stays ended
    assert alive(client, helpers.login(alice))
    assert [(e["event"], e["userId"]) for e in security_events.starting("user.")] == [
        ("user.deactivate", alice.id),
        ("user.activate", alice.id),
    ]


def test_users_set_password_from_the_option(client, helpers, invoke, security_events):
    alice = helpers.user("alice", password="old-pass")
    login = helpers.login(alice)

    output = json_out(invoke("users", "set-password", "alice", "--password", "new-pass"))

    assert output == {"userId": alice.id, "hasPassword": True}
    assert not can_log_in(client, "alice", "old-pass")
    assert can_log_in(client, "alice", "new-pass")
    assert alive(client, login)  # existing sessions are kept (sessions revoke ends them)
    assert [(e["event"], e["userId"]) for e in security_events.starting("user.")] == [
        ("user.set-password", alice.id)
    ]


def test_users_set_password_asks_twice_without_echo(client, helpers, invoke):
    alice = helpers.user("alice", password="old-pass")

    result = invoke("users", "set-password", "alice", input="typed-pass\ntyped-pass\n")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Password: \nRepeat for confirmation: \n"
        + json.dumps({"userId": alice.id, "hasPassword": True}, indent=2)
        + "\n"
    )
    assert "typed-pass" not in result.output
    assert can_log_in(client, "alice", "typed-pass")


def test_users_set_password_for_unknown_user_fails(invoke):
    result = invoke("users", "set-password", "ghost", "--password", "pw")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "error: no such user: ghost — see: sessions-service users list\n"


def test_service_account_without_password_gets_a_token(client, helpers, invoke):
    created = json_out(invoke("users", "create", "svc-bot", "--no-password", "--role", "admin"))
    [(stored_hash,)] = helpers.sql(
        "SELECT password_hash FROM users WHERE id = :id", id=created["userId"]
    )
    assert stored_hash is None
    for password in ("svc-bot", "None", "x"):
        assert not can_log_in(client, "svc-bot", password)

    token = json_out(invoke("tokens", "create", "svc-bot", "--bypass-2fa"))

    assert token["userId"] == created["userId"]
    response = client.get(
        LIST_ALL,
        headers={"X-User-Id": token["userId"], "X-Auth-Token": token["authToken"]},
    )
    assert response.status_code == 200, response.get_json()  # admin, and exempt from 2FA
    assert [s["sessionId"] for s in response.get_json()["sessions"]] == [token["sessionId"]]


@pytest.mark.parametrize(
    "args",
    [("users", "deactivate", "ghost"), ("users", "activate", "ghost")],
    ids=["deactivate", "activate"],
)
def test_unknown_user_for_activation_fails(invoke, args):
    result = invoke(*args)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "error: no such user: ghost — see: sessions-service users list\n"
