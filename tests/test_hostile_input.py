"""Hostile input that answered 500 or stored junk (issue 9, findings 4 and 9).

Each input is its own case and the whole answer is compared: lone surrogates from JSON
escapes, JSON nested thousands deep, sorts of thousands of ``[``, query strings that are not
UTF-8, User-Agents whose parts outgrow their columns, forwarded addresses with zone ids, and
OPTIONS (answered without authentication or two-factor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sessions_service.core import safejson
from sessions_service.core.clientip import client_ip

from .bodies import invalid_sort
from .conftest import Account, Helpers, Login, list_all

LOGIN = "/api/v1/login"
LIST = "/api/v1/sessions/list"
LIST_ALL = "/api/v1/sessions/list.all"
INFO = "/api/v1/sessions/info"
INFO_ADMIN = "/api/v1/sessions/info.admin"
LOGOUT = "/api/v1/logout"
LOGOUT_ME = "/api/v1/sessions/logout.me"
LOGOUT_ANY = "/api/v1/sessions/logout"
DEEP = 5000


def invalid(what: str) -> dict[str, Any]:
    """The exact 400 invalid-params body for ``what``."""
    return {"success": False, "error": f"{what} [invalid-params]", "errorType": "invalid-params"}


NOT_UTF8 = invalid("the query string is not valid UTF-8")
TOO_DEEP = invalid("body is nested deeper than 32 levels")


def surrogate(field: str) -> dict[str, Any]:
    return invalid(f"{field}: must not contain lone surrogates")


@dataclass
class World:
    admin: Login  # an admin whose token needs no two-factor: reaches every view
    tfa: Account  # a TOTP user, so a login code is checked


@pytest.fixture
def world(helpers: Helpers) -> World:
    admin = helpers.admin("root")
    helpers.user("mallory", password="pw-mallory")
    return World(helpers.session_for(admin, bypass_2fa=True), helpers.admin("tfa", totp=True))


def assert_answer(response: Any, status: int, body: dict[str, Any]) -> None:
    """Exactly this status and JSON body (never a 500, never a traceback)."""
    assert response.headers["Content-Type"] == "application/json", response.data[:300]
    assert (response.status_code, response.get_json()) == (status, body)


# --- JSON bodies ---------------------------------------------------------------------------

# (id, path, raw JSON text, expected body); every one is a 400.
BODIES = [
    ("login-user-lone-high", LOGIN, '{"user": "\\ud800", "password": "x"}', surrogate("user")),
    (
        "login-username-lone-high",
        LOGIN,
        '{"username": "\\ud800", "password": "x"}',
        surrogate("username"),
    ),
    (
        "login-password-lone-high",
        LOGIN,
        '{"user": "mallory", "password": "\\ud800"}',
        surrogate("password"),
    ),
    (
        "login-code-lone-high",
        LOGIN,
        '{"user": "tfa", "password": "s3cret-pass", "code": "\\ud800"}',
        surrogate("code"),
    ),
    (
        "login-user-lone-low-inside",
        LOGIN,
        '{"user": "mal\\udc00lory", "password": "x"}',
        surrogate("user"),
    ),
    (
        "login-password-reversed-pair",
        LOGIN,
        '{"user": "mallory", "password": "\\ude00\\ud83d"}',
        surrogate("password"),
    ),
    (
        "login-lone-in-key",
        LOGIN,
        '{"user": "mallory", "password": "x", "\\ud800": 1}',
        surrogate("\\ud800"),
    ),
    (
        "login-lone-in-list",
        LOGIN,
        '{"user": ["ok", "\\ud800"], "password": "x"}',
        surrogate("user[1]"),
    ),
    (
        "logout.me-sessionId-lone-high",
        LOGOUT_ME,
        '{"sessionId": "\\ud800"}',
        surrogate("sessionId"),
    ),
    ("logout-sessionId-lone-high", LOGOUT_ANY, '{"sessionId": "\\ud800"}', surrogate("sessionId")),
    ("login-arrays-5000-deep", LOGIN, "[" * DEEP + "]" * DEEP, TOO_DEEP),
    ("login-arrays-5000-unclosed", LOGIN, "[" * DEEP, TOO_DEEP),
    (
        "login-user-5000-deep",
        LOGIN,
        '{"user": ' + "[" * DEEP + "]" * DEEP + ', "password": "x"}',
        TOO_DEEP,
    ),
    ("logout.me-objects-5000-deep", LOGOUT_ME, '{"a": ' * DEEP + "1" + "}" * DEEP, TOO_DEEP),
    ("logout-arrays-5000-deep", LOGOUT_ANY, "[" * DEEP + "]" * DEEP, TOO_DEEP),
]


@pytest.mark.parametrize(
    ("path", "raw", "expected"), [c[1:] for c in BODIES], ids=[c[0] for c in BODIES]
)
def test_hostile_json_body_is_a_400(
    client: FlaskClient, world: World, path: str, raw: str, expected: dict[str, Any]
) -> None:
    headers = {} if path == LOGIN else world.admin.headers()
    response = client.post(path, data=raw, content_type="application/json", headers=headers)
    assert_answer(response, 400, expected)


# --- query strings -------------------------------------------------------------------------

SORT_BRACKETS = "[" * 2000
SORT_DEEP_VALUE = '{"loginAt": ' + "[" * 2000
# (id, path, query string or environ QUERY_STRING, expected status, body)
QUERIES = [
    ("list.all-sort-2000-brackets", LIST_ALL, {"sort": SORT_BRACKETS}, invalid_sort(SORT_BRACKETS)),
    ("list-sort-2000-brackets", LIST, {"sort": SORT_BRACKETS}, invalid_sort(SORT_BRACKETS)),
    (
        "list.all-sort-deep-value",
        LIST_ALL,
        {"sort": SORT_DEEP_VALUE},
        invalid_sort(SORT_DEEP_VALUE),
    ),
    ("list.all-filter-ff-fe", LIST_ALL, "filter=%ff%fe", NOT_UTF8),
    ("list-filter-ff-fe", LIST, "filter=%ff%fe", NOT_UTF8),
    ("list-filter-encoded-surrogate", LIST, "filter=%ed%a0%80", NOT_UTF8),
    ("list-filter-overlong-slash", LIST, "filter=%c0%af", NOT_UTF8),
    ("list-filter-truncated-sequence", LIST, "filter=caf%c3", NOT_UTF8),
    ("list-count-ff", LIST, "count=%ff", NOT_UTF8),
    ("list-name-ff", LIST, "%ff=1", NOT_UTF8),
    ("info-sessionId-ff-fe", INFO, "sessionId=%ff%fe", NOT_UTF8),
    ("info.admin-sessionId-ff-fe", INFO_ADMIN, "sessionId=%ff%fe", NOT_UTF8),
]


@pytest.mark.parametrize(
    ("path", "query", "expected"), [c[1:] for c in QUERIES], ids=[c[0] for c in QUERIES]
)
def test_hostile_query_is_a_400(
    client: FlaskClient, world: World, path: str, query: Any, expected: dict[str, Any]
) -> None:
    response = client.get(path, query_string=query, headers=world.admin.headers())
    assert_answer(response, 400, expected)


# --- devices longer than their columns -------------------------------------------------

WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "


def device(kind: str, name: str, long_version: str, os: tuple[str, str], version: str) -> Any:
    return {
        "type": kind,
        "name": name,
        "longVersion": long_version,
        "os": {"name": os[0], "version": os[1]},
        "version": version,
    }


# The columns: name, longVersion, os name and version 255 characters; version 64.
DEVICES = [
    (
        "mobile-app-300-digit-version",
        "RC Mobile; iOS 16.5; v" + "4" * 300 + " (1234)",
        device("mobile-app", "RC Mobile", "4" * 255, ("iOS", "16.5"), "4" * 64),
    ),
    (
        "mobile-app-300-char-os",
        "RC Mobile; " + "i" * 300 + " " + "5" * 100 + "; v4.39.0 (1234)",
        device("mobile-app", "RC Mobile", "4.39.0 1234", ("i" * 255, "5" * 100), "4.39.0"),
    ),
    (
        "chrome-300-digit-version",
        WINDOWS + "Chrome/" + "1" * 300 + ".0.0.0 Safari/537.36",
        device("browser", "Chrome", "1" * 255, ("Windows", "10"), "1" * 64),
    ),
    (
        "electron-300-digit-version",
        WINDOWS + "Rocket.Chat/3.9." + "9" * 300 + " Chrome/108.0.5359.215 Electron/22.3.5",
        device(
            "desktop-app", "Rocket.Chat", "3.9." + "9" * 251, ("Windows", "10"), "3.9." + "9" * 60
        ),
    ),
    (
        "android-300-digit-os-version",
        "Mozilla/5.0 (Linux; Android " + "1" * 300 + "; Pixel 7)",
        device("mobile", "Android", "1" * 255, ("Android", "1" * 255), "1" * 64),
    ),
]


@pytest.mark.parametrize(
    ("user_agent", "expected"), [c[1:] for c in DEVICES], ids=[c[0] for c in DEVICES]
)
def test_device_parts_are_cut_to_their_columns(
    client: FlaskClient, helpers: Helpers, user_agent: str, expected: dict[str, Any]
) -> None:
    account = helpers.user("alice")
    login = helpers.login(account, user_agent=user_agent)
    response = client.get(LIST, headers=login.headers())
    assert response.status_code == 200, response.get_json()
    assert [s["device"] for s in response.get_json()["sessions"]] == [expected]


# --- forwarded addresses with zone ids ---------------------------------------------------


class TestZoneIds:
    """Behind one trusted proxy: a zone id is dropped, the address kept; junk never stored."""

    @pytest.fixture
    def app_env(self) -> dict[str, str]:
        return {"SESSIONS_FORWARDED_COUNT": "1"}

    @pytest.mark.parametrize(
        ("sent", "expected"),
        [
            ({"X-Forwarded-For": "fe80::1%" + "a" * 66}, "fe80::1"),
            ({"X-Forwarded-For": "fe80::1%<img src=x>"}, "fe80::1"),
            ({"X-Forwarded-For": "10.0.0.9, FE80::1%eth0"}, "fe80::1"),
            ({"X-Real-IP": "fe80::2%<script>"}, "fe80::2"),
        ],
        ids=[
            "xff-66-char-zone",
            "xff-markup-zone",
            "xff-rightmost-zone",
            "real-ip-markup-zone",
        ],
    )
    def test_login_stores_the_address_without_its_zone(
        self, app: Flask, client: FlaskClient, helpers: Helpers, sent: dict[str, str], expected: str
    ) -> None:
        account = helpers.user("alice")
        login = helpers.login(account, headers=sent, environ={"REMOTE_ADDR": "10.1.2.3"})
        stored = helpers.sql("SELECT ip FROM sessions WHERE user_id = :u", u=account.id)
        assert stored == [(expected,)]
        response = client.get(LIST, headers=login.headers())
        assert [s["ip"] for s in response.get_json()["sessions"]] == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::1%" + "x" * 4000, "fe80::1"),
    ],
    ids=["interface-zone", "4000-char-zone"],
)
def test_client_ip_drops_zone_ids(value: str, expected: str) -> None:
    assert client_ip({"X-Forwarded-For": value}, "192.0.2.1", 1) == expected


# --- OPTIONS -------------------------------------------------------------------------------

ROUTES = {
    LOGIN: {"POST", "OPTIONS"},
    LOGOUT: {"POST", "OPTIONS"},
    LIST: {"GET", "HEAD", "OPTIONS"},
    LIST_ALL: {"GET", "HEAD", "OPTIONS"},
    INFO: {"GET", "HEAD", "OPTIONS"},
    INFO_ADMIN: {"GET", "HEAD", "OPTIONS"},
    LOGOUT_ME: {"POST", "OPTIONS"},
    LOGOUT_ANY: {"POST", "OPTIONS"},
}


def assert_options(response: Any, allowed: set[str]) -> None:
    """204, the route's methods in Allow, nothing else."""
    assert response.status_code == 204, response.data
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert set(response.headers["Allow"].split(", ")) == allowed


@pytest.mark.parametrize("path", list(ROUTES))
def test_options_needs_no_login(client: FlaskClient, path: str) -> None:
    assert_options(client.options(path), ROUTES[path])


def test_options_never_checks_or_consumes_a_code(
    client: FlaskClient, helpers: Helpers, world: World
) -> None:
    login = helpers.session_for(world.tfa)
    code = world.tfa.code()
    for wrong in ("000000", "111111", "222222"):
        sent = login.headers(**{"x-2fa-code": wrong})
        assert_options(client.options(LIST_ALL, headers=sent), ROUTES[LIST_ALL])
    assert_options(
        client.options(LIST_ALL, headers=login.headers(**{"x-2fa-code": code})), ROUTES[LIST_ALL]
    )
    assert helpers.sql("SELECT twofa_failed_attempts FROM users WHERE id = :u", u=world.tfa.id) == [
        (0,)
    ]
    assert helpers.sql("SELECT last_step FROM totp WHERE user_id = :u", u=world.tfa.id) == [(None,)]
    # The code is still good for the request it was meant for, which uses it up.
    response = list_all(client, login, code)
    assert response.status_code == 200, response.get_json()
    assert helpers.sql("SELECT last_step FROM totp WHERE user_id = :u", u=world.tfa.id) != [(None,)]


# --- the bounded parser itself --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "too_deep"),
    [
        ("[" * 32 + "]" * 32, False),
        ("[" * 33 + "]" * 33, True),
        ('{"a": "' + "[" * 100 + '"}', False),
        ('{"a": "\\"' + "[" * 100 + '"}', False),
        ('["\\\\"' + ", [" * 40 + "]" * 40 + "]", True),
        ("[]" * 10_000, False),
        (b"[" * 33, True),
        (b'["\xff' + b"[" * 40 + b'"]', False),
    ],
    ids=[
        "32-deep",
        "33-deep",
        "brackets-in-string",
        "brackets-after-escaped-quote",
        "escaped-backslash-ends-string",
        "wide-not-deep",
        "bytes-33-deep",
        "bytes-not-utf8-brackets-in-string",
    ],
)
def test_depth_is_counted_outside_strings(raw: str | bytes, too_deep: bool) -> None:
    assert safejson.exceeds_depth(raw, 32) is too_deep


def test_surrogate_pairs_are_text() -> None:
    assert safejson.lone_surrogate_at(safejson.loads('{"user": "\\ud83d\\ude00"}')) is None
    assert safejson.lone_surrogate_at(safejson.loads('{"a": {"b": ["\\udfff"]}}')) == "a.b[0]"
