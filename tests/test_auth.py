"""Authentication (SPEC §2), POST /login and POST /logout (SPEC §4)."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from typing import Any

import bcrypt
import pytest
from flask.testing import FlaskClient

from sessions_service.clock import utcnow
from sessions_service.core import security
from sessions_service.data.models import UserSession
from sessions_service.state import new_session

from .bodies import FIREFOX_112_DEVICE, LOGGED_OUT, LOGIN_FAILED, LOGOUT_DONE
from .conftest import CHROME_113, FIREFOX_112, LIST_ALL, LOGIN, LOGOUT, Helpers, alive

ENDPOINTS = [("GET", LIST_ALL), ("POST", LOGOUT)]
ENDPOINT_IDS = ["list.all", "logout"]


def call(client, method, path, headers=None, **kwargs):
    return client.open(path, method=method, headers=headers or {}, **kwargs)


@pytest.fixture
def root(helpers):
    """An admin whose session needs no two-factor, so only authentication is tested."""
    account = helpers.admin()
    return account, helpers.session_for(account, bypass_2fa=True)


@pytest.fixture
def alice(helpers):
    account = helpers.user("alice", name="Alice Liddell", email="Alice@Example.com")
    return account, helpers.session_for(account)


def _no_headers(helpers, root, alice, clock):
    return {}


def _only_user_id(helpers, root, alice, clock):
    return {"X-User-Id": root[1].user_id}


def _only_token(helpers, root, alice, clock):
    return {"X-Auth-Token": root[1].token}


def _empty_values(helpers, root, alice, clock):
    return {"X-User-Id": "", "X-Auth-Token": ""}


def _wrong_token(helpers, root, alice, clock):
    return root[1].headers(**{"X-Auth-Token": root[1].token[:-4] + "AAAA"})


def _unknown_user_id(helpers, root, alice, clock):
    return root[1].headers(**{"X-User-Id": "NoSuchUserId12345"})


def _other_users_token(helpers, root, alice, clock):
    return root[1].headers(**{"X-Auth-Token": alice[1].token})


def _logged_out(helpers, root, alice, clock):
    response = helpers.client.post(LOGOUT, headers=root[1].headers())
    assert response.status_code == 200, response.get_json()
    return root[1].headers()


def _expired_by_sql(helpers, root, alice, clock):
    """The stored expiry is what counts, whatever the login time."""
    helpers.sql("UPDATE sessions SET expires_at = login_at WHERE id = :id", id=root[1].session_id)
    return root[1].headers()


def _expired_by_clock(helpers, root, alice, clock):
    """SESSIONS_LOGIN_EXPIRATION_DAYS (90) after the login (made on the frozen clock)."""
    clock.advance(timedelta(days=90) - timedelta(seconds=1))
    assert alive(helpers.client, root[1])  # its last second
    clock.advance(timedelta(seconds=1))
    return root[1].headers()


def _expired_by_age(helpers, root, alice, clock):
    account = root[0]
    old = helpers.session_for(account, login_at=utcnow() - timedelta(days=91), bypass_2fa=True)
    return old.headers()


def _inactive_user(helpers, root, alice, clock):
    helpers.sql("UPDATE users SET active = false WHERE id = :id", id=root[0].id)
    return root[1].headers()


CAUSES = [
    _no_headers,
    _only_user_id,
    _only_token,
    _empty_values,
    _wrong_token,
    _unknown_user_id,
    _other_users_token,
    _logged_out,
    _expired_by_sql,
    _expired_by_clock,
    _expired_by_age,
    _inactive_user,
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=ENDPOINT_IDS)
@pytest.mark.parametrize("cause", CAUSES, ids=[c.__name__.strip("_") for c in CAUSES])
def test_every_cause_gets_the_same_401(client, clock, helpers, root, alice, cause, method, path):
    headers = cause(helpers, root, alice, clock)
    response = call(client, method, path, headers)
    assert response.status_code == 401
    assert response.get_json() == LOGGED_OUT


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_valid_headers_pass(client, root, method, path):
    response = call(client, method, path, root[1].headers())
    assert response.status_code == 200, response.get_json()
    assert response.get_json().get("success", True) is True


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=ENDPOINT_IDS)
@pytest.mark.parametrize(
    "names", [("X-User-Id", "X-Auth-Token"), ("userId", "authToken")], ids=["headers", "rest"]
)
def test_tokens_in_query_string_are_ignored(client, root, method, path, names):
    login = root[1]
    query = {names[0]: login.user_id, names[1]: login.token}
    response = call(client, method, path, query_string=query)
    assert response.status_code == 401
    assert response.get_json() == LOGGED_OUT


def test_logout_ends_the_session_at_once(client, helpers):
    account = helpers.user("alice")
    login = helpers.login(account)
    response = client.post(LOGOUT, headers=login.headers())
    assert response.status_code == 200
    assert response.get_json() == LOGOUT_DONE
    again = client.post(LOGOUT, headers=login.headers())
    assert again.status_code == 401
    assert again.get_json() == LOGGED_OUT
    rows = helpers.sql(
        "SELECT logout_at, logout_by FROM sessions WHERE id = :id", id=login.session_id
    )
    assert rows[0][0] is not None
    assert rows[0][1] == account.id


def test_logout_ends_only_the_calling_session(client, helpers):
    account = helpers.admin()
    first = helpers.session_for(account, bypass_2fa=True)
    second = helpers.session_for(account, bypass_2fa=True)
    assert client.post(LOGOUT, headers=first.headers()).status_code == 200
    response = client.get(LIST_ALL, headers=second.headers())
    assert response.status_code == 200, response.get_json()
    assert [s["sessionId"] for s in response.get_json()["sessions"]] == [second.session_id]


# --- last activity -------------------------------------------------------------------


def _last_activity(helpers, session_id):
    """As the model reads it (an aware UTC datetime on both databases)."""
    with new_session(helpers.app) as db:
        session = db.get(UserSession, session_id)
        assert session is not None
        return session.last_activity_at


def test_last_activity_updates_at_most_once_a_minute(client, clock, helpers):
    account = helpers.admin()
    login = helpers.session_for(account, bypass_2fa=True)
    before = _last_activity(helpers, login.session_id)
    clock.advance(timedelta(hours=1))
    assert client.get(LIST_ALL, headers=login.headers()).status_code == 200
    touched = _last_activity(helpers, login.session_id)
    assert touched == utcnow() != before
    clock.advance(timedelta(seconds=59))
    assert client.get(LIST_ALL, headers=login.headers()).status_code == 200
    assert _last_activity(helpers, login.session_id) == touched
    clock.advance(timedelta(seconds=2))
    assert client.get(LIST_ALL, headers=login.headers()).status_code == 200
    assert _last_activity(helpers, login.session_id) == utcnow()


def test_recent_activity_is_not_rewritten(client, clock, helpers):
    account = helpers.admin()
    login = helpers.session_for(account, bypass_2fa=True)
    before = _last_activity(helpers, login.session_id)
    clock.advance(timedelta(seconds=5))
    assert client.get(LIST_ALL, headers=login.headers()).status_code == 200
    assert _last_activity(helpers, login.session_id) == before


def test_failed_authentication_does_not_touch_the_session(client, clock, helpers):
    account = helpers.admin()
    login = helpers.session_for(account, bypass_2fa=True)
    before = _last_activity(helpers, login.session_id)
    clock.advance(timedelta(hours=1))
    wrong = login.headers(**{"X-User-Id": "NoSuchUserId12345"})
    assert client.get(LIST_ALL, headers=wrong).status_code == 401
    assert _last_activity(helpers, login.session_id) == before


# --- login ---------------------------------------------------------------------------


@pytest.fixture
def member(helpers):
    return helpers.user("alice", name="Alice Liddell", email="Alice@Example.com")


@pytest.mark.parametrize(
    "body",
    [
        {"user": "alice"},
        {"user": "ALICE"},
        {"user": " alice "},
        {"user": "alice@example.com"},
        {"user": "ALICE@EXAMPLE.COM"},
        {"username": "alice"},
        {"username": "alice@example.com"},
    ],
    ids=[
        "username",
        "username-other-case",
        "username-padded",
        "email",
        "email-other-case",
        "rocketchat-api-username",
        "rocketchat-api-email",
    ],
)
def test_login_succeeds(client, helpers, member, body):
    response = client.post(LOGIN, json={**body, "password": member.password})
    assert response.status_code == 200, response.get_json()
    payload = response.get_json()
    assert list(payload) == ["status", "data"]
    assert payload["status"] == "success"
    data = payload["data"]
    assert set(data) == {"userId", "authToken", "me"}
    assert data["userId"] == member.id
    assert len(data["authToken"]) >= 43
    assert data["me"] == {
        "_id": member.id,
        "username": "alice",
        "name": "Alice Liddell",
        "roles": ["user"],
        "active": True,
    }
    # The new token authenticates.
    headers = {"X-User-Id": data["userId"], "X-Auth-Token": data["authToken"]}
    assert client.post(LOGOUT, headers=headers).status_code == 200


def test_each_login_gets_its_own_token_and_session(client, helpers, member):
    first = helpers.login(member)
    second = helpers.login(member)
    assert first.token != second.token
    assert first.session_id != second.session_id


def _deactivate(helpers, account):
    helpers.sql("UPDATE users SET active = false WHERE id = :id", id=account.id)


@pytest.mark.parametrize(
    ("body", "prepare"),
    [
        ({"user": "alice", "password": "wrong-pass"}, None),
        ({"user": "nobody", "password": "s3cret-pass"}, None),
        ({"user": "nobody@example.com", "password": "s3cret-pass"}, None),
        ({"username": "alice", "password": "wrong-pass"}, None),
        ({"user": "alice", "password": "S3CRET-PASS"}, None),
        ({"user": "alice", "password": "s3cret-pass"}, _deactivate),
    ],
    ids=[
        "wrong-password",
        "unknown-user",
        "unknown-email",
        "rocketchat-api-wrong-password",
        "password-is-case-sensitive",
        "inactive-user",
    ],
)
def test_login_fails_with_one_body(client, helpers, member, body, prepare):
    if prepare is not None:
        prepare(helpers, member)
    response = client.post(LOGIN, json=body)
    assert response.status_code == 401
    assert response.get_json() == LOGIN_FAILED
    assert helpers.sql("SELECT COUNT(*) FROM sessions")[0][0] == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "{not json", "content_type": "application/json"},
        {"data": "", "content_type": "application/json"},
        {"json": ["alice", "s3cret-pass"]},
        {"json": "alice"},
        {"json": {"user": "alice"}},
        {"json": {"password": "s3cret-pass"}},
        {"json": {"user": "alice", "password": 12345}},
        {"json": {"user": ["alice"], "password": "s3cret-pass"}},
        {"json": {"user": "alice", "password": "s3cret\x00pass"}},
    ],
    ids=[
        "not-json",
        "empty-body",
        "json-array",
        "json-string",
        "missing-password",
        "missing-user",
        "password-not-a-string",
        "user-not-a-string",
        "nul-in-password",
    ],
)
def test_login_bad_body_is_invalid_params(client, helpers, member, kwargs):
    response = client.post(LOGIN, **kwargs)
    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"success", "error", "errorType"}
    assert body["success"] is False
    assert body["errorType"] == "invalid-params"
    assert body["error"].endswith(" [invalid-params]")
    assert helpers.sql("SELECT COUNT(*) FROM sessions")[0][0] == 0


def test_login_with_wrong_method_is_405_json(client):
    response = client.get(LOGIN)
    assert response.status_code == 405
    body = response.get_json()
    assert body["success"] is False
    assert isinstance(body["error"], str)


def _listed(client, helpers, session_id):
    """The session as list.all shows it (through an admin that needs no two-factor)."""
    admin = helpers.admin("auditor")
    viewer = helpers.session_for(admin, bypass_2fa=True)
    response = client.get(LIST_ALL, headers=viewer.headers(), query_string={"filter": session_id})
    assert response.status_code == 200, response.get_json()
    sessions = response.get_json()["sessions"]
    assert len(sessions) == 1
    return sessions[0]


def test_login_records_device_host_and_socket_ip(client, helpers, member):
    login = helpers.login(
        member,
        user_agent=FIREFOX_112,
        environ={"REMOTE_ADDR": "10.1.2.3"},
        headers={"Host": "chat.example.com"},
    )
    listed = _listed(client, helpers, login.session_id)
    assert listed["userId"] == member.id
    assert listed["ip"] == "10.1.2.3"
    assert listed["host"] == "chat.example.com"
    assert listed["device"] == FIREFOX_112_DEVICE


def test_login_ignores_forwarded_headers_by_default(client, helpers, member):
    login = helpers.login(
        member,
        environ={"REMOTE_ADDR": "10.1.2.3"},
        headers={"X-Forwarded-For": "203.0.113.5", "X-Real-IP": "203.0.113.6"},
    )
    assert _listed(client, helpers, login.session_id)["ip"] == "10.1.2.3"


def test_login_without_user_agent_has_no_device(client, helpers, member):
    # The Flask test client sends "Werkzeug/x.y" unless told otherwise.
    client.environ_base.pop("HTTP_USER_AGENT", None)
    login = helpers.login(member, user_agent=None)
    assert "device" not in _listed(client, helpers, login.session_id)


def test_only_the_token_hash_is_stored(client, helpers, member):
    login = helpers.login(member, user_agent=CHROME_113)
    rows = helpers.sql("SELECT * FROM sessions")
    assert len(rows) == 1
    stored = [str(value) for value in rows[0]]
    assert not any(login.token in value for value in stored)
    expected_hash = base64.b64encode(hashlib.sha256(login.token.encode()).digest()).decode()
    assert expected_hash in stored


# --- constant time: no kind of user answers faster (issue 9, finding 5) -------------------


@pytest.fixture
def bcrypt_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The cost of every hash bcrypt checks (bcrypt itself still runs)."""
    costs: list[int] = []
    real = bcrypt.checkpw

    def counted(password: bytes, hashed: bytes) -> bool:
        costs.append(int(hashed.split(b"$")[2]))
        return real(password, hashed)

    monkeypatch.setattr(security.bcrypt, "checkpw", counted)
    return costs


def _no_password(helpers: Helpers) -> None:
    helpers.sql("UPDATE users SET password_hash = NULL WHERE username = 'alice'")


def _unusable_hash(helpers: Helpers) -> None:
    helpers.sql("UPDATE users SET password_hash = 'not-a-hash' WHERE username = 'alice'")


def _inactive(helpers: Helpers) -> None:
    helpers.sql("UPDATE users SET active = false WHERE username = 'alice'")


KINDS: list[tuple[str, Any, str]] = [
    ("nobody", None, "s3cret-pass"),
    ("alice", None, "wrong-pass"),
    ("alice", _no_password, "s3cret-pass"),
    ("alice", _unusable_hash, "s3cret-pass"),
    ("alice", _inactive, "s3cret-pass"),
]


@pytest.mark.parametrize(
    ("name", "prepare", "password"),
    KINDS,
    ids=["unknown", "wrong-password", "no-password", "unusable-hash", "inactive"],
)
def test_every_kind_of_failed_login_spends_one_bcrypt_check_at_the_configured_cost(
    client: FlaskClient,
    helpers: Helpers,
    bcrypt_checks: list[int],
    name: str,
    prepare: Any,
    password: str,
) -> None:
    helpers.user("alice")  # hashed at cost 4, the configured SESSIONS_BCRYPT_ROUNDS
    if prepare is not None:
        prepare(helpers)
    response = client.post(LOGIN, json={"user": name, "password": password})
    assert (response.status_code, response.get_json()) == (401, LOGIN_FAILED)
    assert bcrypt_checks == [4]
