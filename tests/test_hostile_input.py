"""Hostile input that answered 500 or stored junk (issue 9, findings 4 and 9).

Each input is its own case and the whole answer is compared: lone surrogates from JSON
escapes, JSON nested thousands deep, sorts of thousands of ``[``, query strings that are not
UTF-8, User-Agents whose parts outgrow their columns, forwarded addresses with zone ids, and
OPTIONS (answered without authentication or two-factor).

Then every hostile value (NUL, SQL, LIKE and regex metacharacters, template braces) in every
query parameter, body field and header, bodies of every wrong shape and type, repeated and
unknown parameters, bytes that are not UTF-8: each its own case, never a 500 or a traceback,
never a session ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sessions_service.core import safejson
from sessions_service.core.clientip import client_ip
from sessions_service.state import get_engine

from .bodies import (
    LOGGED_OUT,
    LOGIN_FAILED,
    LOGIN_TOTP_INVALID,
    NOT_FOUND,
    TOO_LARGE,
    TOTP_INVALID,
    invalid_sort,
)
from .conftest import (
    BIG,
    INFO,
    INFO_ADMIN,
    LIST,
    LIST_ALL,
    LOGIN,
    LOGOUT,
    LOGOUT_ANY,
    LOGOUT_ME,
    Helpers,
    Rows,
    World,
    assert_json_error,
    list_all,
    make_app,
    make_world,
    restore_rows,
    snapshot_rows,
)

DEEP = 5000


def invalid(what: str) -> dict[str, Any]:
    """The exact 400 invalid-params body for ``what``."""
    return {"success": False, "error": f"{what} [invalid-params]", "errorType": "invalid-params"}


NOT_UTF8 = invalid("the query string is not valid UTF-8")
TOO_DEEP = invalid("body is nested deeper than 32 levels")


def surrogate(field: str) -> dict[str, Any]:
    return invalid(f"{field}: must not contain lone surrogates")


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


# --- every kind of hostile value in every place: never a 500 ---------------------------


@dataclass(frozen=True)
class Expect:
    """Expected answer: one of ``statuses``; ``body`` exact or ``subset`` of keys."""

    statuses: tuple[int, ...]
    body: dict[str, Any] | None = None
    subset: dict[str, Any] = field(default_factory=dict)
    total: str | None = None  # "none" → total 0, "all" → every session of the list


def expect_invalid_params() -> Expect:
    return Expect((400,), subset={"success": False, "errorType": "invalid-params"})


def expect_invalid_sort() -> Expect:
    return Expect((400,), subset={"success": False, "errorType": "error-invalid-sort"})


def expect_page(total: str) -> Expect:
    return Expect((200,), subset={"success": True}, total=total)


def expect_exact(status: int, body: dict[str, Any]) -> Expect:
    return Expect((status,), body=body)


def expect_repeated(name: str) -> Expect:
    return expect_exact(
        400,
        {
            "success": False,
            "error": f"parameter '{name}' given more than once [invalid-params]",
            "errorType": "invalid-params",
        },
    )


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    who: str | None  # "admin", "totp", "user" or None (no login headers)
    expect: Expect
    query: dict[str, str] | str | None = None
    json: Any = None
    data: bytes | str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)


NUL = "a\x00b"
METACHARS = {
    "sql-or": "' OR 1=1 --",
    "percent": "%",
    "underscore": "_",
    "backslash": "\\",
    "dot-star": ".*",
    "dollar-braces": "${}",
}
HOSTILE_VALUES = {"nul": NUL, **METACHARS}
QUERY_PARAMS = {
    LIST_ALL: ("filter", "offset", "count", "sort"),
    LIST: ("filter", "offset", "count", "sort"),
    INFO: ("sessionId",),
    INFO_ADMIN: ("sessionId",),
}
SHORT = {
    LIST_ALL: "list.all",
    LIST: "list",
    INFO: "info",
    INFO_ADMIN: "info.admin",
    LOGIN: "login",
    LOGOUT_ME: "logout.me",
    LOGOUT_ANY: "logout",
}


def _query_expect(param: str, name: str) -> Expect:
    if param in ("offset", "count"):
        return expect_invalid_params()
    if param == "sort":
        return expect_invalid_sort()
    if param == "sessionId":
        return expect_invalid_params() if name == "nul" else expect_exact(404, NOT_FOUND)
    # filter: a regular expression; metacharacters match only themselves (nothing here).
    if name in ("nul", "backslash"):
        return expect_invalid_params()
    return expect_page("all" if name == "dot-star" else "none")


def _query_cases() -> list[Case]:
    cases = []
    for path, params in QUERY_PARAMS.items():
        for param in params:
            for name, value in HOSTILE_VALUES.items():
                cases.append(
                    Case(
                        f"query-{SHORT[path]}-{param}-{name}",
                        "GET",
                        path,
                        "admin",
                        _query_expect(param, name),
                        query={param: value},
                    )
                )
    return cases


def _body_cases() -> list[Case]:
    cases = []
    for name, value in HOSTILE_VALUES.items():
        bad = expect_invalid_params() if name == "nul" else None
        for path in (LOGOUT_ME, LOGOUT_ANY):
            cases.append(
                Case(
                    f"body-{SHORT[path]}-sessionId-{name}",
                    "POST",
                    path,
                    "admin",
                    bad or expect_exact(404, NOT_FOUND),
                    json={"sessionId": value},
                )
            )
        for key in ("user", "username"):
            cases.append(
                Case(
                    f"body-login-{key}-{name}",
                    "POST",
                    LOGIN,
                    None,
                    bad or expect_exact(401, LOGIN_FAILED),
                    json={key: value, "password": "pw-mallory"},
                )
            )
        cases.append(
            Case(
                f"body-login-password-{name}",
                "POST",
                LOGIN,
                None,
                bad or expect_exact(401, LOGIN_FAILED),
                json={"user": "mallory", "password": value},
            )
        )
        cases.append(
            Case(
                f"body-login-code-{name}",
                "POST",
                LOGIN,
                None,
                bad or expect_exact(401, LOGIN_TOTP_INVALID),
                json={"user": "tfa", "password": "s3cret-pass", "code": value},
            )
        )
    return cases


def _header_cases() -> list[Case]:
    cases = []
    for name, value in HOSTILE_VALUES.items():
        for header in ("X-User-Id", "X-Auth-Token"):
            cases.append(
                Case(
                    f"header-{header}-{name}",
                    "GET",
                    LIST,
                    "admin",
                    expect_exact(401, LOGGED_OUT),
                    headers={header: value},
                )
            )
        cases.append(
            Case(
                f"header-x-2fa-code-{name}",
                "GET",
                LIST_ALL,
                "totp",
                expect_exact(400, TOTP_INVALID),
                headers={"x-2fa-code": value},
            )
        )
        for header in ("User-Agent", "Host"):
            cases.append(
                Case(
                    f"header-list.all-{header}-{name}",
                    "GET",
                    LIST_ALL,
                    "admin",
                    expect_page("all"),
                    headers={header: value},
                )
            )
            cases.append(
                Case(
                    f"header-login-{header}-{name}",
                    "POST",
                    LOGIN,
                    None,
                    Expect((200,), subset={"status": "success"}),
                    json={"user": "mallory", "password": "pw-mallory"},
                    headers={header: value},
                )
            )
    return cases


SHAPES: dict[str, dict[str, Any]] = {
    "text-plain": {"data": "sessionId=abc", "content_type": "text/plain"},
    "form": {"data": "sessionId=abc", "content_type": "application/x-www-form-urlencoded"},
    "not-json": {"data": "{sessionId: abc", "content_type": "application/json"},
    "empty": {"data": "", "content_type": "application/json"},
    "array": {"json": ["sessionId"]},
    "number": {"json": 5},
    "string": {"json": "sessionId"},
    "null": {"data": "null", "content_type": "application/json"},
    "bytes-ff-fe": {"data": b"\xff\xfe", "content_type": "application/json"},
    "bytes-in-string": {"data": b'{"sessionId": "\xff\xfe"}', "content_type": "application/json"},
}


def _shape_cases() -> list[Case]:
    cases = []
    for path, who in ((LOGIN, None), (LOGOUT_ME, "admin"), (LOGOUT_ANY, "admin")):
        for name, shape in SHAPES.items():
            cases.append(
                Case(
                    f"shape-{SHORT[path]}-{name}",
                    "POST",
                    path,
                    who,
                    expect_invalid_params(),
                    **shape,
                )
            )
        cases.append(
            Case(
                f"shape-{SHORT[path]}-too-large",
                "POST",
                path,
                who,
                expect_exact(413, TOO_LARGE),
                json={"sessionId": BIG, "user": BIG, "password": "x"},
            )
        )
    typed = {
        "sessionId-int": (LOGOUT_ME, {"sessionId": 5}),
        "sessionId-list": (LOGOUT_ME, {"sessionId": ["a"]}),
        "sessionId-object": (LOGOUT_ANY, {"sessionId": {"$ne": ""}}),
        "sessionId-bool": (LOGOUT_ANY, {"sessionId": True}),
        "sessionId-empty": (LOGOUT_ANY, {"sessionId": ""}),
        "unknown-key": (LOGOUT_ME, {"sessionId": "a", "extra": 1}),
        "missing": (LOGOUT_ME, {}),
        "user-list": (LOGIN, {"user": ["a"], "password": "x"}),
        "user-object": (LOGIN, {"user": {"$ne": 1}, "password": "x"}),
        "password-int": (LOGIN, {"user": "mallory", "password": 5}),
        "password-null": (LOGIN, {"user": "mallory", "password": None}),
        "code-int": (LOGIN, {"user": "tfa", "password": "s3cret-pass", "code": 123456}),
        "no-user": (LOGIN, {"password": "pw-mallory"}),
        "nul-in-key": (LOGOUT_ME, {"session\x00Id": "a"}),
    }
    for name, (path, body) in typed.items():
        who = None if path == LOGIN else "admin"
        cases.append(Case(f"typed-{name}", "POST", path, who, expect_invalid_params(), json=body))
    return cases


def _query_string_cases() -> list[Case]:
    cases = []
    for path in QUERY_PARAMS:
        name = SHORT[path]
        param = QUERY_PARAMS[path][0]
        cases.append(
            Case(
                f"repeated-{name}-{param}",
                "GET",
                path,
                "admin",
                expect_repeated(param),
                query=f"{param}=a&{param}=b",
            )  # fmt: skip
        )
        # Raw bytes that are not UTF-8 (as a server that passes them on would), and the same
        # bytes percent-encoded: a 400 or a page, never a 500.
        either = Expect((200, 400, 404))
        cases.append(
            Case(
                f"raw-bytes-{name}",
                "GET",
                path,
                "admin",
                either,
                environ={"QUERY_STRING": f"{param}=\xff\xfe"},
            )  # fmt: skip
        )
        cases.append(
            Case(
                f"percent-bytes-{name}", "GET", path, "admin", either, query=f"{param}=%ff%fe%00"
            )  # fmt: skip
        )
    cases += [
        Case(
            "repeated-count",
            "GET",
            LIST_ALL,
            "admin",
            expect_repeated("count"),
            query="count=1&count=2",
        ),  # fmt: skip
        Case(
            "repeated-offset",
            "GET",
            LIST,
            "admin",
            expect_repeated("offset"),
            query="offset=0&offset=0",
        ),  # fmt: skip
        Case("params-unknown", "GET", LIST_ALL, "admin", expect_invalid_params(), query="token=x"),
        Case(
            "params-nul-in-name",
            "GET",
            LIST_ALL,
            "admin",
            expect_invalid_params(),
            query="fil%00ter=a",
        ),
        Case(
            "raw-bytes-path",
            "GET",
            LIST_ALL,
            "admin",
            Expect((404,), subset={"success": False}),
            environ={"PATH_INFO": LIST_ALL + "\xff"},
        ),  # fmt: skip
    ]
    return cases


HOSTILE = [*_query_cases(), *_body_cases(), *_header_cases(), *_shape_cases()]
HOSTILE += _query_string_cases()


def _send(client: FlaskClient, world: World, case: Case) -> Any:
    headers: dict[str, str] = {}
    if case.who is not None:
        headers.update(getattr(world, case.who).headers())
    environ = dict(case.environ)
    for name, value in case.headers.items():
        # The test client refuses some bytes in headers; the WSGI environ takes them as sent.
        environ["HTTP_" + name.upper().replace("-", "_")] = value
        headers.pop(name, None)
    kwargs: dict[str, Any] = {"headers": headers, "environ_overrides": environ}
    if case.query is not None:
        kwargs["query_string"] = case.query
    if case.json is not None:
        kwargs["json"] = case.json
    if case.data is not None:
        kwargs["data"] = case.data
        kwargs["content_type"] = case.content_type
    return client.open(case.path, method=case.method, **kwargs)


def _check(case: Case, response: Any, world: World, helpers: Helpers) -> None:
    body = assert_json_error(response)
    assert response.status_code != 500, body
    assert response.status_code in case.expect.statuses, (response.status_code, body)
    if case.expect.body is not None:
        assert body == case.expect.body
    for key, value in case.expect.subset.items():
        assert body.get(key) == value, body
    if case.expect.total is not None:
        mine = case.path == LIST
        expected = 0 if case.expect.total == "none" else (1 if mine else world.total)
        assert body["total"] == expected, body
    # Whatever was sent, no session was ended by it.
    ended = helpers.sql("SELECT count(*) FROM sessions WHERE logout_at IS NOT NULL")
    assert ended[0][0] == 0


@pytest.fixture(scope="module")
def hostile(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Helpers, World, Rows]]:
    """One app and world per database kind for every case, and the world's rows."""
    app = make_app(tmp_path_factory.mktemp("hostile"), module_database_url)
    helpers = Helpers(app, app.test_client())
    world = make_world(helpers)
    try:
        yield helpers, world, snapshot_rows(app)
    finally:
        get_engine(app).dispose()


@pytest.mark.parametrize("case", HOSTILE, ids=[case.id for case in HOSTILE])
def test_hostile_input_is_never_a_500(hostile: tuple[Helpers, World, Rows], case: Case) -> None:
    """Each case meets the world as it was made: every row put back first (what a case
    writes, a failed login or a wrong code counted, never reaches the next)."""
    helpers, world, rows = hostile
    restore_rows(helpers.app, rows)
    _check(case, _send(helpers.app.test_client(), world, case), world, helpers)
