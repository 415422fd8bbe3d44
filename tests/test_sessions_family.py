"""The sessions family (SPEC §4): list, info, logout.me, info.admin and logout.

Own vs foreign sessions, exact bodies, permissions, two-factor (required, remembered, backup
codes), the order of checks, and the issue's "Done when" walk-through — on both databases.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sessions_service.clock import utcnow
from sessions_service.state import get_engine

from .bodies import (
    CHROME_113_DEVICE,
    FORBIDDEN,
    INVALID_SORT_KEYS,
    LIST_ENVELOPE,
    LOGGED_OUT,
    NOT_FOUND,
    TIMESTAMP,
    TOTP_INVALID,
    TOTP_REQUIRED,
    invalid_sort,
    totp_invalid,
    totp_required,
)
from .conftest import (
    CHROME_113,
    FIREFOX_112,
    INFO,
    INFO_ADMIN,
    LIST,
    LIST_ALL,
    LOGOUT_ANY,
    LOGOUT_ME,
    SESSIONS_API,
    Login,
    alive,
    assert_invalid_params,
    wrong_code,
)

OWN_KEYS = {"sessionId", "userId", "device", "host", "ip", "loginAt", "_id"}
INFO_KEYS = OWN_KEYS | {"lastActivityAt", "success"}
OTHER_IP = {"REMOTE_ADDR": "192.0.2.77"}


def code(value: str) -> dict[str, str]:
    """The two-factor header."""
    return {"x-2fa-code": value}


def stored(helpers: Any, session_id: str) -> list[tuple[Any, ...]]:
    """The session's logout_at and logout_by as stored."""
    rows = helpers.sql("SELECT logout_at, logout_by FROM sessions WHERE id = :id", id=session_id)
    return [tuple(row) for row in rows]


def set_permission_roles(helpers: Any, permission: str, roles: list[str]) -> None:
    """Give a permission to these roles (the column is JSON on both databases)."""
    value = (
        "CAST(:roles AS JSON)" if get_engine(helpers.app).dialect.name == "postgresql" else ":roles"
    )
    helpers.sql(
        f"UPDATE permissions SET roles = {value} WHERE id = :id",  # noqa: S608
        roles=json.dumps(roles),
        id=permission,
    )


def own_list(client: FlaskClient, login: Login, **params: str) -> TestResponse:
    return client.get(LIST, query_string=params, headers=login.headers())


def info(client: FlaskClient, login: Login, session_id: str) -> TestResponse:
    return client.get(INFO, query_string={"sessionId": session_id}, headers=login.headers())


def logout_me(client: FlaskClient, login: Login, session_id: str) -> TestResponse:
    return client.post(LOGOUT_ME, json={"sessionId": session_id}, headers=login.headers())


def admin_route(
    client: FlaskClient,
    route: str,
    session_id: str,
    headers: dict[str, str],
    environ: dict[str, str] | None = None,
) -> TestResponse:
    """Call info.admin (GET, query) or logout (POST, JSON body) for one session id."""
    if route == "info.admin":
        return client.get(
            INFO_ADMIN,
            query_string={"sessionId": session_id},
            headers=headers,
            environ_base=environ or {},
        )
    return client.post(
        LOGOUT_ANY,
        json={"sessionId": session_id},
        headers=headers,
        environ_base=environ or {},
    )


def assert_admin_route_worked(route: str, response: TestResponse, session_id: str) -> None:
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    if route == "logout":
        assert body == {"sessionId": session_id, "success": True}
    else:
        assert body["sessionId"] == session_id
        assert body["success"] is True


ADMIN_ROUTES = [pytest.param("info.admin", id="info.admin"), pytest.param("logout", id="logout")]


# --- authentication -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/list", {}),
        ("GET", "/info", {"query_string": {"sessionId": "x"}}),
        ("POST", "/logout.me", {"json": {"sessionId": "x"}}),
        ("GET", "/info.admin", {"query_string": {"sessionId": "x"}}),
        ("POST", "/logout", {"json": {"sessionId": "x"}}),
    ],
    ids=["list", "info", "logout.me", "info.admin", "logout"],
)
def test_every_route_needs_a_login(client, method, path, kwargs):
    response = client.open(f"{SESSIONS_API}{path}", method=method, **kwargs)
    assert response.status_code == 401
    assert response.get_json() == LOGGED_OUT


# --- sessions/list --------------------------------------------------------------------


def test_list_shows_only_the_callers_active_sessions(client, helpers):
    alice = helpers.user("alice", name="Alice")
    bob = helpers.user("bob")
    now = utcnow()
    older = helpers.session_for(alice, user_agent=None, ip="10.0.0.9", login_at=now - timedelta(1))
    ended = helpers.session_for(alice, login_at=now - timedelta(2))
    assert logout_me(client, older, ended.session_id).status_code == 200
    helpers.session_for(bob)
    caller = helpers.session_for(alice, login_at=now)

    response = own_list(client, caller)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == LIST_ENVELOPE
    assert (body["total"], body["count"], body["offset"], body["success"]) == (2, 50, 0, True)
    first, second = body["sessions"]
    assert first == {
        "sessionId": caller.session_id,
        "userId": alice.id,
        "device": CHROME_113_DEVICE,
        "host": "localhost:3000",
        "ip": "10.0.0.1",
        "loginAt": first["loginAt"],
        "_id": caller.session_id,
    }
    assert TIMESTAMP.fullmatch(first["loginAt"])
    # No User-Agent at login: no device; never a `_user` on the caller's own list.
    assert set(second) == OWN_KEYS - {"device"}
    assert (second["sessionId"], second["ip"]) == (older.session_id, "10.0.0.9")


def test_list_count_zero_gives_the_total_without_rows(client, helpers):
    alice = helpers.user("alice")
    for _ in range(2):
        helpers.session_for(alice)
    caller = helpers.session_for(alice)
    response = own_list(client, caller, count="0")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "sessions": [],
        "total": 3,
        "count": 0,
        "offset": 0,
        "success": True,
    }


@pytest.mark.parametrize(
    ("params", "expected_order", "expected_count"),
    [
        ({}, [3, 2, 1, 0], 50),
        ({"sort": "{}"}, [3, 2, 1, 0], 50),
        ({"sort": '{"loginAt":1}'}, [0, 1, 2, 3], 50),
        ({"sort": '{"loginAt":-1}', "offset": "1", "count": "2"}, [2, 1], 2),
        ({"count": "1000"}, [3, 2, 1, 0], 100),
        ({"offset": "4"}, [], 50),
    ],
    ids=["default-newest-first", "empty-sort", "oldest-first", "offset-count", "clamped", "past"],
)
def test_list_sorts_and_pages_like_list_all(
    client, helpers, params, expected_order, expected_count
):
    alice = helpers.user("alice")
    now = utcnow()
    logins = [helpers.session_for(alice, login_at=now - timedelta(hours=4 - i)) for i in range(4)]
    response = own_list(client, logins[-1], **params)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [s["sessionId"] for s in body["sessions"]] == [
        logins[i].session_id for i in expected_order
    ]
    assert body["total"] == 4
    assert body["count"] == expected_count
    assert body["offset"] == int(params.get("offset", "0"))


@pytest.mark.parametrize(
    "raw",
    ["loginAt", "[1]", '{"loginAt":2}', '{"loginAt":true}', '{"loginAt":"1"}', '{"loginAt":-1'],
    ids=["not-json", "not-object", "two", "bool", "string", "truncated"],
)
def test_list_rejects_a_bad_sort(client, helpers, raw):
    caller = helpers.session_for(helpers.user("alice"))
    response = own_list(client, caller, sort=raw)
    assert response.status_code == 400
    assert response.get_json() == invalid_sort(raw)


def test_list_rejects_an_unknown_sort_key(client, helpers):
    caller = helpers.session_for(helpers.user("alice"))
    response = own_list(client, caller, sort='{"token":1}')
    assert response.status_code == 400
    assert response.get_json() == INVALID_SORT_KEYS


@pytest.mark.parametrize(
    "query",
    [
        "userId=x",
        "count=-1",
        "count=ten",
        "offset=2147483648",
        "count=1&count=2",
        "filter=(",
        "filter=" + "a" * 257,
    ],
    ids=[
        "unknown-param",
        "negative",
        "not-a-number",
        "offset-too-big",
        "repeated",
        "bad-regex",
        "filter-too-long",
    ],
)
def test_list_rejects_bad_parameters(client, helpers, query):
    caller = helpers.session_for(helpers.user("alice"))
    response = client.get(f"{LIST}?{query}", headers=caller.headers())
    assert_invalid_params(response)


# --- sessions/info --------------------------------------------------------------------


def test_info_returns_exactly_the_documented_keys_and_no_token_hash(client, helpers):
    alice = helpers.user("alice", name="Alice")
    login_at = (utcnow() - timedelta(days=1)).replace(microsecond=123_000)
    other = helpers.session_for(alice, login_at=login_at, ip="10.0.0.7", host="chat.example:443")
    caller = helpers.session_for(alice)

    response = info(client, caller, other.session_id)

    assert response.status_code == 200, response.get_json()
    stamp = login_at.strftime("%Y-%m-%dT%H:%M:%S") + ".123Z"
    assert response.get_json() == {
        "sessionId": other.session_id,
        "userId": alice.id,
        "device": CHROME_113_DEVICE,
        "host": "chat.example:443",
        "ip": "10.0.0.7",
        "loginAt": stamp,
        "_id": other.session_id,
        "lastActivityAt": stamp,
        "success": True,
    }
    [(token_hash,)] = helpers.sql(
        "SELECT token_hash FROM sessions WHERE id = :id", id=other.session_id
    )
    text = response.get_data(as_text=True)
    assert token_hash not in text
    assert other.token not in text


def test_info_of_an_ended_own_session_adds_logout_at(client, helpers):
    alice = helpers.user("alice")
    caller = helpers.session_for(alice)
    ended = helpers.session_for(alice, user_agent=None)
    assert logout_me(client, caller, ended.session_id).status_code == 200

    response = info(client, caller, ended.session_id)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == INFO_KEYS - {"device"} | {"logoutAt"}
    assert TIMESTAMP.fullmatch(body["logoutAt"])
    assert body["logoutAt"] >= body["loginAt"]


@pytest.mark.parametrize(
    "target",
    ["foreign", "unknown", "own-prefix", "regex"],
    ids=["foreign", "unknown", "own-prefix", "regex"],
)
def test_info_of_a_session_not_the_callers_is_not_found(client, helpers, target):
    alice, bob = helpers.user("alice"), helpers.user("bob")
    caller = helpers.session_for(alice)
    session_id = {
        "foreign": helpers.session_for(bob).session_id,
        "unknown": "NoSuchSession2345",
        "own-prefix": caller.session_id[:5],
        "regex": ".*",
    }[target]
    response = info(client, caller, session_id)
    assert response.status_code == 404
    assert response.get_json() == NOT_FOUND


@pytest.mark.parametrize(
    "query",
    ["", "sessionId=", "sessionId=a&sessionId=b", "sessionId=a&userId=b", "sessionId=a%00b"],
    ids=["missing", "empty", "repeated", "unknown-param", "nul"],
)
@pytest.mark.parametrize("route", ["info", "info.admin"])
def test_get_routes_reject_a_bad_session_id(client, helpers, route, query):
    caller = helpers.session_for(helpers.admin())
    response = client.get(f"{SESSIONS_API}/{route}?{query}", headers=caller.headers())
    assert_invalid_params(response)


# --- sessions/logout.me ---------------------------------------------------------------


def test_logout_me_ends_another_own_session_and_revokes_its_token(client, helpers):
    alice = helpers.user("alice")
    laptop = helpers.login(alice, user_agent=CHROME_113)
    phone = helpers.login(alice, user_agent=FIREFOX_112)

    response = logout_me(client, laptop, phone.session_id)

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"sessionId": phone.session_id, "success": True}
    assert not alive(client, phone)
    assert alive(client, laptop)
    [(logout_at, logout_by)] = stored(helpers, phone.session_id)
    assert logout_at is not None
    assert logout_by == alice.id
    assert "logoutAt" in info(client, laptop, phone.session_id).get_json()


def test_logout_me_of_the_calling_session_revokes_it_at_once(client, helpers):
    alice = helpers.user("alice")
    login = helpers.login(alice)
    response = logout_me(client, login, login.session_id)
    assert response.get_json() == {"sessionId": login.session_id, "success": True}
    assert not alive(client, login)


@pytest.mark.parametrize("target", ["foreign", "unknown", "ended"], ids=str)
def test_logout_me_of_a_session_it_cannot_end_is_not_found(client, helpers, target):
    alice, bob = helpers.user("alice"), helpers.user("bob")
    caller = helpers.session_for(alice)
    bobs = helpers.session_for(bob)
    ended = helpers.session_for(alice)
    assert logout_me(client, caller, ended.session_id).status_code == 200
    session_id = {
        "foreign": bobs.session_id,
        "unknown": "NoSuchSession2345",
        "ended": ended.session_id,
    }[target]
    before = stored(helpers, session_id)

    response = logout_me(client, caller, session_id)

    assert response.status_code == 404
    assert response.get_json() == NOT_FOUND
    assert stored(helpers, session_id) == before
    assert alive(client, bobs)


BAD_BODIES = [
    pytest.param(
        {"data": "sessionId=abc", "content_type": "application/x-www-form-urlencoded"}, id="form"
    ),
    pytest.param({"data": "{sessionId: abc}", "content_type": "application/json"}, id="bad-json"),
    pytest.param({}, id="no-body"),
    pytest.param({"json": ["abc"]}, id="array"),
    pytest.param({"json": "abc"}, id="string"),
    pytest.param({"json": {}}, id="missing"),
    pytest.param({"json": {"sessionId": ""}}, id="empty"),
    pytest.param({"json": {"sessionId": None}}, id="null"),
    pytest.param({"json": {"sessionId": 12345}}, id="number"),
    pytest.param({"json": {"sessionId": "abc", "userId": "x"}}, id="unknown-key"),
]


@pytest.mark.parametrize("kwargs", BAD_BODIES)
@pytest.mark.parametrize("route", ["logout.me", "logout"])
def test_post_routes_reject_a_bad_body(client, helpers, route, kwargs):
    # An admin whose two-factor is pending: bad parameters are answered before either check.
    caller = helpers.session_for(helpers.admin(totp=True))
    response = client.post(f"{SESSIONS_API}/{route}", headers=caller.headers(), **kwargs)
    assert_invalid_params(response)
    assert alive(client, caller)


# --- permissions ----------------------------------------------------------------------


@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_admin_routes_are_forbidden_without_the_permission(client, helpers, route):
    alice, bob = helpers.user("alice"), helpers.user("bob")
    caller = helpers.session_for(alice)
    target = helpers.session_for(bob)
    response = admin_route(client, route, target.session_id, caller.headers(**code(alice.digest)))
    assert response.status_code == 403
    assert response.get_json() == FORBIDDEN
    assert alive(client, target)


def test_logout_permission_alone_can_end_sessions_but_not_view_them(client, helpers):
    set_permission_roles(helpers, "logout-device-management", ["admin", "support"])
    agent = helpers.user("agent", roles=("user", "support"))
    victim = helpers.login(helpers.user("victim"))
    caller = helpers.session_for(agent)

    required = admin_route(client, "logout", victim.session_id, caller.headers())
    assert required.status_code == 400
    assert required.get_json() == totp_required("password")
    done = admin_route(client, "logout", victim.session_id, caller.headers(**code(agent.digest)))
    assert_admin_route_worked("logout", done, victim.session_id)
    assert not alive(client, victim)

    for path in ("list.all", f"info.admin?sessionId={victim.session_id}"):
        response = client.get(f"{SESSIONS_API}/{path}", headers=caller.headers())
        assert response.status_code == 403, path
        assert response.get_json() == FORBIDDEN


# --- two-factor -----------------------------------------------------------------------


@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_admin_routes_need_two_factor_remembered_for_the_same_client(client, helpers, route):
    admin = helpers.admin(totp=True)
    victim = helpers.user("victim")
    caller = helpers.session_for(admin)

    def target() -> str:
        return helpers.session_for(victim).session_id

    first = target()
    required = admin_route(client, route, first, caller.headers())
    assert required.status_code == 400
    assert required.get_json() == TOTP_REQUIRED

    good = admin_route(client, route, first, caller.headers(**code(admin.code())))
    assert_admin_route_worked(route, good, first)

    again = target()
    remembered = admin_route(client, route, again, caller.headers())
    assert_admin_route_worked(route, remembered, again)

    other = target()
    for headers, environ in [
        (caller.headers(**{"User-Agent": FIREFOX_112}), None),
        (caller.headers(), OTHER_IP),
    ]:
        response = admin_route(client, route, other, headers, environ)
        assert response.status_code == 400
        assert response.get_json() == TOTP_REQUIRED
    assert stored(helpers, other)[0][0] is None


@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_a_wrong_code_is_refused(client, helpers, route):
    admin = helpers.admin(totp=True)
    caller = helpers.session_for(admin)
    target = helpers.session_for(helpers.user("victim"))
    response = admin_route(
        client, route, target.session_id, caller.headers(**code(wrong_code(admin)))
    )
    assert response.status_code == 400
    assert response.get_json() == TOTP_INVALID
    assert alive(client, target)


@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_an_admin_without_totp_uses_the_password_method(client, helpers, route):
    admin = helpers.admin()
    caller = helpers.session_for(admin)
    target = helpers.session_for(helpers.user("victim"))

    required = admin_route(client, route, target.session_id, caller.headers())
    assert required.status_code == 400
    assert required.get_json() == totp_required("password")

    wrong = admin_route(client, route, target.session_id, caller.headers(**code("0" * 64)))
    assert wrong.status_code == 400
    assert wrong.get_json() == totp_invalid("password")

    good = admin_route(client, route, target.session_id, caller.headers(**code(admin.digest)))
    assert_admin_route_worked(route, good, target.session_id)


@pytest.mark.parametrize("app_env", [{"SESSIONS_2FA_REMEMBER_FOR": "0"}], ids=["remember-off"])
def test_remember_window_zero_asks_every_time(client, helpers, app_env):
    admin = helpers.admin(totp=True)
    caller = helpers.session_for(admin)
    target = helpers.session_for(helpers.user("victim")).session_id

    assert_admin_route_worked(
        "info.admin",
        admin_route(client, "info.admin", target, caller.headers(**code(admin.code()))),
        target,
    )
    response = admin_route(client, "info.admin", target, caller.headers())
    assert response.status_code == 400
    assert response.get_json() == TOTP_REQUIRED
    assert_admin_route_worked(
        "info.admin",
        admin_route(client, "info.admin", target, caller.headers(**code(admin.code(1)))),
        target,
    )


@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_a_backup_code_is_accepted_once(client, helpers, route):
    admin = helpers.admin(totp=True)
    victim = helpers.user("victim")
    backup = admin.backup_codes[0]
    first_caller, second_caller = helpers.session_for(admin), helpers.session_for(admin)
    target = helpers.session_for(victim).session_id

    accepted = admin_route(client, route, target, first_caller.headers(**code(backup)))
    assert_admin_route_worked(route, accepted, target)

    # A session that has not passed two-factor yet: the used code must be refused there.
    again = helpers.session_for(victim).session_id
    refused = admin_route(client, route, again, second_caller.headers(**code(backup)))
    assert refused.status_code == 400
    assert refused.get_json() == TOTP_INVALID
    assert stored(helpers, again)[0][0] is None
    [(used,)] = helpers.sql(
        "SELECT count(*) FROM backup_codes WHERE user_id = :id AND used_at IS NOT NULL", id=admin.id
    )
    assert used == 1


@pytest.mark.parametrize(
    ("caller_kind", "valid_params", "status", "expected"),
    [
        ("anonymous", False, 401, LOGGED_OUT),
        ("anonymous", True, 401, LOGGED_OUT),
        ("user", False, 400, "invalid-params"),
        ("user", True, 403, FORBIDDEN),
        ("admin-2fa-pending", False, 400, "invalid-params"),
        ("admin-2fa-pending", True, 400, TOTP_REQUIRED),
        ("admin-2fa-passed", True, 404, NOT_FOUND),
    ],
    ids=[
        "401-before-400",
        "401",
        "400-before-403",
        "403-before-2fa",
        "400-before-2fa",
        "2fa-before-404",
        "404",
    ],
)
@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_order_of_checks(client, helpers, route, caller_kind, valid_params, status, expected):
    if caller_kind == "anonymous":
        headers = {"User-Agent": CHROME_113}
    elif caller_kind == "user":
        headers = helpers.session_for(helpers.user("alice")).headers()
    elif caller_kind == "admin-2fa-pending":
        headers = helpers.session_for(helpers.admin(totp=True)).headers()
    else:
        admin = helpers.admin(totp=True)
        headers = helpers.login(admin, code=admin.code()).headers()
    session_id = "NoSuchSession2345" if valid_params else ""

    response = admin_route(client, route, session_id, headers)

    assert response.status_code == status
    if expected == "invalid-params":
        assert_invalid_params(response)
    else:
        assert response.get_json() == expected


# --- sessions/info.admin --------------------------------------------------------------


@pytest.mark.parametrize("name", ["Alice Liddell", None], ids=["named", "unnamed"])
def test_info_admin_shows_any_session_with_its_user(client, helpers, name):
    admin = helpers.admin(totp=True)
    alice = helpers.user("alice", name=name)
    caller = helpers.login(admin, code=admin.code())
    target = helpers.login(alice)

    active = admin_route(client, "info.admin", target.session_id, caller.headers())
    assert active.status_code == 200, active.get_json()
    body = active.get_json()
    assert set(body) == INFO_KEYS | {"_user"}
    assert body["_user"] == ({"username": "alice", "name": name} if name else {"username": "alice"})
    assert body["sessionId"] == body["_id"] == target.session_id
    assert body["userId"] == alice.id
    assert (body["host"], body["ip"], body["device"]) == (
        "localhost",
        "127.0.0.1",
        CHROME_113_DEVICE,
    )
    [(token_hash,)] = helpers.sql(
        "SELECT token_hash FROM sessions WHERE id = :id", id=target.session_id
    )
    assert token_hash not in active.get_data(as_text=True)

    assert logout_me(client, target, target.session_id).status_code == 200
    ended = admin_route(client, "info.admin", target.session_id, caller.headers())
    assert ended.status_code == 200, ended.get_json()
    assert set(ended.get_json()) == INFO_KEYS | {"_user", "logoutAt"}
    assert TIMESTAMP.fullmatch(ended.get_json()["logoutAt"])


@pytest.mark.parametrize(
    "make_id",
    [
        lambda sid: sid[:5],
        lambda sid: ".*",
        lambda sid: f"^{sid[:5]}",
        lambda sid: sid[:-1] + ".",
        lambda sid: sid + "x",
        lambda sid: sid.swapcase(),
        lambda sid: "NoSuchSession2345",
    ],
    ids=[
        "prefix",
        "dot-star",
        "anchored-prefix",
        "dot-for-last",
        "longer",
        "other-case",
        "unknown",
    ],
)
def test_info_admin_matches_the_exact_id_only(client, helpers, make_id):
    admin = helpers.admin(totp=True)
    caller = helpers.login(admin, code=admin.code())
    target = helpers.session_for(helpers.user("alice")).session_id
    session_id = make_id(target)
    assert session_id != target

    response = admin_route(client, "info.admin", session_id, caller.headers())

    assert response.status_code == 404
    assert response.get_json() == NOT_FOUND


# --- sessions/logout ------------------------------------------------------------------


def test_admin_logout_ends_anyones_session_and_records_who(client, helpers):
    admin = helpers.admin(totp=True)
    alice = helpers.user("alice")
    caller = helpers.login(admin, code=admin.code())
    target = helpers.login(alice, user_agent=FIREFOX_112)
    spare = helpers.login(alice)

    response = admin_route(client, "logout", target.session_id, caller.headers())

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"sessionId": target.session_id, "success": True}
    assert not alive(client, target)
    [(logout_at, logout_by)] = stored(helpers, target.session_id)
    assert logout_at is not None
    assert logout_by == admin.id
    assert alive(client, spare)

    second = admin_route(client, "logout", target.session_id, caller.headers())
    assert second.status_code == 404
    assert second.get_json() == NOT_FOUND
    assert stored(helpers, target.session_id) == [(logout_at, logout_by)]


# --- the "Done when" ----------------------------------------------------------


def test_user_and_admin_end_both_devices(client, helpers):
    admin = helpers.admin(totp=True)
    alice = helpers.user("alice", name="Alice")
    laptop = helpers.login(alice, user_agent=CHROME_113)
    phone = helpers.login(alice, user_agent=FIREFOX_112)

    listed = own_list(client, laptop).get_json()
    assert listed["total"] == 2
    assert {s["device"]["name"] for s in listed["sessions"]} == {"Chrome", "Firefox"}
    assert {s["sessionId"] for s in listed["sessions"]} == {laptop.session_id, phone.session_id}

    ended = logout_me(client, laptop, phone.session_id)
    assert ended.get_json() == {"sessionId": phone.session_id, "success": True}
    assert not alive(client, phone)

    console = helpers.login(admin, code=admin.code())
    found = client.get(LIST_ALL, query_string={"filter": "alice"}, headers=console.headers())
    assert found.status_code == 200, found.get_json()
    [remaining] = found.get_json()["sessions"]
    assert remaining["sessionId"] == laptop.session_id
    assert remaining["_user"] == {"username": "alice", "name": "Alice"}

    read = admin_route(client, "info.admin", laptop.session_id, console.headers())
    assert read.status_code == 200, read.get_json()
    assert "logoutAt" not in read.get_json()

    done = admin_route(client, "logout", laptop.session_id, console.headers())
    assert done.get_json() == {"sessionId": laptop.session_id, "success": True}

    assert not alive(client, laptop)
    assert not alive(client, phone)
    assert [row[1] for row in stored(helpers, phone.session_id)] == [alice.id]
    assert [row[1] for row in stored(helpers, laptop.session_id)] == [admin.id]
