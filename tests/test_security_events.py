"""Security events (one JSON line each, never a secret, never forged by input) and the request
id that ties each event to its answer (on every response; a client's own echoed only when sane).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from .bodies import (
    TOTP_INVALID,
    TOTP_MAX,
)
from .conftest import (
    BIG,
    INFO,
    LIST,
    LIST_ALL,
    LOGIN,
    LOGOUT_ANY,
    LOGOUT_ME,
    Codes,
    Helpers,
    Invoke,
    Login,
    SecurityEvents,
    World,
    json_out,
    list_all,
    wrong_code,
)

MAX_ATTEMPTS = 10
GENERATED_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
FORGED = '\r\n{"event":"forged","outcome":"success"}'


@pytest.fixture
def app_env() -> dict[str, str]:
    """Remembering a passed check is off here, so every request has to present a code."""
    return {"SESSIONS_2FA_REMEMBER_FOR": "0"}


def pairs(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["event"], e["outcome"]) for e in events]


def test_security_events_one_json_line_each_and_no_secret(
    app: Flask,
    client: FlaskClient,
    helpers: Helpers,
    security_events: SecurityEvents,
    invoke: Invoke,
) -> None:
    admin = helpers.admin("secadmin", password="admin-Pa55word!", totp=True)
    user = helpers.user("secuser", password="user-Pa55word!")
    assert admin.totp_secret is not None
    codes = Codes(admin.totp_secret)
    sent_codes: list[str] = []
    tokens: list[str] = []

    def expect(response: Any, events: list[tuple[str, str]], user_id: str | None) -> None:
        got = security_events.take()
        assert pairs(got) == events, got
        for event in got:
            assert event["userId"] == user_id, event
            assert event["ip"] == "127.0.0.1"
            assert event["requestId"] == response.headers["X-Request-Id"]

    ok = client.post(LOGIN, json={"user": "secuser", "password": user.password})
    assert ok.status_code == 200
    tokens.append(ok.get_json()["data"]["authToken"])
    expect(ok, [("login", "success")], user.id)
    user_login = Login(user.id, tokens[-1], helpers.session_id_for(tokens[-1]))

    unknown = client.post(LOGIN, json={"user": "nobody", "password": user.password})
    assert unknown.status_code == 401
    expect(unknown, [("login", "failure")], None)
    wrong = client.post(LOGIN, json={"user": "secuser", "password": "not-" + user.password})
    assert wrong.status_code == 401
    expect(wrong, [("login", "failure")], user.id)

    bogus = client.get(LIST, headers={"X-User-Id": user.id, "X-Auth-Token": "bogus-token"})
    assert bogus.status_code == 401
    expect(bogus, [("auth", "failure")], None)

    denied = client.get(LIST_ALL, headers=user_login.headers())
    assert denied.status_code == 403
    expect(denied, [("permission", "denied")], user.id)

    admin_login = helpers.session_for(admin)
    tokens.append(admin_login.token)
    sent_codes.append(wrong_code(admin))
    failed = list_all(client, admin_login, sent_codes[-1])
    assert failed.status_code == 400
    expect(failed, [("2fa", "failure")], admin.id)

    sent_codes.append(codes.next())
    passed = list_all(client, admin_login, sent_codes[-1])
    assert passed.status_code == 200
    expect(passed, [("2fa", "success")], admin.id)
    replayed = list_all(client, admin_login, sent_codes[-1])
    assert replayed.get_json() == TOTP_INVALID
    expect(replayed, [("2fa.replay", "failure")], admin.id)

    # The replay counted as the first failure after the success: 9 more lock.
    for _ in range(MAX_ATTEMPTS - 2):
        sent_codes.append(wrong_code(admin))
        expect(list_all(client, admin_login, sent_codes[-1]), [("2fa", "failure")], admin.id)
    sent_codes.append(wrong_code(admin))
    locked = list_all(client, admin_login, sent_codes[-1])
    assert locked.get_json() == TOTP_MAX
    expect(locked, [("2fa.lockout", "failure")], admin.id)
    sent_codes.append(admin.code())
    while_locked = list_all(client, admin_login, sent_codes[-1])
    assert while_locked.get_json() == TOTP_MAX
    assert [e["event"] for e in security_events.take()] == ["2fa"]  # one line, not a new lockout

    # Revocations: an admin ends someone's session, a user ends their own, the operator all.
    exempt = helpers.session_for(admin, bypass_2fa=True)
    tokens.append(exempt.token)
    ended = client.post(
        LOGOUT_ANY, json={"sessionId": user_login.session_id}, headers=exempt.headers()
    )
    assert ended.status_code == 200, ended.get_json()
    expect(ended, [("session.logout", "success")], admin.id)
    own, other = helpers.session_for(user), helpers.session_for(user)
    tokens += [own.token, other.token]
    ended_own = client.post(LOGOUT_ME, json={"sessionId": other.session_id}, headers=own.headers())
    assert ended_own.status_code == 200, ended_own.get_json()
    expect(ended_own, [("session.logout", "success")], user.id)

    # The operator's CLI (in-process: its events reach the same logger).
    revoked = invoke("sessions", "revoke", "--user", "secuser")
    assert json_out(revoked) == {"userId": user.id, "sessionsEnded": 1}
    (cli_event,) = security_events.take()
    assert (cli_event["event"], cli_event["outcome"], cli_event["userId"]) == (
        "session.revoke",
        "success",
        user.id,
    )
    assert client.get(LIST, headers=own.headers()).status_code == 401
    security_events.take()

    everything = "\n".join([*security_events.messages, revoked.output])
    secrets = [
        admin.password,
        user.password,
        admin.digest,
        user.digest,
        admin.totp_secret,
        *admin.backup_codes,
        *tokens,
    ]
    leaked = [s for s in secrets if s in everything]
    # Six digits may occur by chance inside a random hex request id; a leaked code stands alone.
    leaked += [
        c for c in sent_codes if re.search(rf"(?<![0-9A-Za-z]){c}(?![0-9A-Za-z])", everything)
    ]
    assert not leaked, leaked


@pytest.mark.parametrize(
    ("header", "path"),
    [("X-User-Id", LIST), ("User-Agent", LOGIN), ("X-Auth-Token", LIST), ("X-Request-Id", LIST)],
    ids=["x-user-id", "user-agent-login", "x-auth-token", "x-request-id"],
)
def test_crlf_in_input_cannot_forge_a_log_line(
    client: FlaskClient, helpers: Helpers, security_events: SecurityEvents, header: str, path: str
) -> None:
    user = helpers.user("crlf", password="pw-crlf")
    environ = {"HTTP_" + header.upper().replace("-", "_"): "abc" + FORGED}
    if path == LOGIN:
        for body in (
            {"user": "crlf", "password": "pw-crlf"},
            {"user": "crlf" + FORGED, "password": "pw-crlf"},
        ):
            client.post(LOGIN, json=body, environ_overrides=environ)
        expected = 2
    else:
        environ.setdefault("HTTP_X_USER_ID", user.id)
        environ.setdefault("HTTP_X_AUTH_TOKEN", "bogus")
        response = client.get(path, environ_overrides=environ)
        assert response.status_code == 401
        expected = 1
    events = security_events.take()  # asserts one JSON object per record, no CR/LF
    assert len(events) == expected, events
    assert all(e["event"] != "forged" for e in events)


def _request_for(status: int, client: FlaskClient, world: World) -> Any:
    admin, user = world.admin.headers(), world.user.headers()
    if status == 200:
        return client.get(LIST, headers=admin)
    if status == 400:
        return client.get(LIST, headers=admin, query_string="count=x")
    if status == 401:
        return client.get(LIST)
    if status == 403:
        return client.get(LIST_ALL, headers=user)
    if status == 404:
        return client.get(INFO, headers=admin, query_string={"sessionId": "nope"})
    if status == 405:
        return client.get(LOGIN)
    if status == 413:
        return client.post(LOGIN, data='{"user": "' + BIG + '"}', content_type="application/json")
    raise AssertionError(status)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 405, 413])
def test_every_response_has_a_request_id(client: FlaskClient, world: World, status: int) -> None:
    response = _request_for(status, client, world)
    assert response.status_code == status, response.get_data()
    assert GENERATED_REQUEST_ID.match(response.headers.get("X-Request-Id", ""))
    unknown = client.get("/no/such/path")
    assert unknown.status_code == 404
    assert GENERATED_REQUEST_ID.match(unknown.headers.get("X-Request-Id", ""))


@pytest.mark.parametrize(
    ("incoming", "echoed"),
    [
        ("req-123_abc.DEF", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("has space", False),
        ("abc" + FORGED, False),
        ("abc\x00", False),
        ("<script>", False),
        ("", False),
    ],
    ids=["sane", "64-chars", "too-long", "space", "crlf", "nul", "markup", "empty"],
)
def test_request_id_echoed_only_when_sane(
    client: FlaskClient, world: World, security_events: SecurityEvents, incoming: str, echoed: bool
) -> None:
    response = client.get(
        LIST_ALL, headers=world.user.headers(), environ_overrides={"HTTP_X_REQUEST_ID": incoming}
    )
    assert response.status_code == 403
    request_id = response.headers["X-Request-Id"]
    if echoed:
        assert request_id == incoming
    else:
        assert GENERATED_REQUEST_ID.match(request_id), request_id
    (event,) = security_events.take()
    assert event["requestId"] == request_id
