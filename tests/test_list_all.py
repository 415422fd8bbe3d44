"""GET /api/v1/sessions/list.all: parameters, envelope, shapes and errors (SPEC §4)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from sessions_service.clock import utcnow
from sessions_service.core import accounts, logins
from sessions_service.state import new_session, settings_of

from .bodies import (
    FIREFOX_112_DEVICE,
    FORBIDDEN,
    INVALID_SORT_KEYS,
    LIST_ENVELOPE,
    LOGGED_OUT,
    SESSION_KEYS,
    TIMESTAMP,
    TOTP_REQUIRED,
    invalid_sort,
    iso,
)
from .conftest import CHROME_113, FIREFOX_112, LIST_ALL, assert_invalid_params

LOGOUT = "/api/v1/logout"
INT32_MAX = 2**31 - 1
DEVICE_KEYS = {"type", "name", "longVersion", "os", "version"}

RC_MOBILE_IOS = "RC Mobile; iOS 16.5; v4.39.0 (1234)"
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.5 Safari/605.1.15"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/113.0.5672.76 Mobile Safari/537.36"
)
DESKTOP_APP_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Rocket.Chat/4.1.2 Chrome/120.0.6099.291 Electron/28.2.3 Safari/537.36"
)


def ok(response) -> dict[str, Any]:
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def ago(**delta: float) -> datetime:
    return utcnow() - timedelta(**delta)


def ids(body: dict[str, Any]) -> list[str]:
    return [s["sessionId"] for s in body["sessions"]]


@pytest.fixture
def admin(helpers):
    """An admin session that needs no two-factor code (two-factor is test_twofactor's job)."""
    account = helpers.admin("root", name="Root Admin")
    return helpers.session_for(
        account, ip="10.0.0.1", host="localhost:3000", login_at=ago(minutes=1), bypass_2fa=True
    )


def get(client, login, query: Any = None, **headers: str):
    return client.get(LIST_ALL, headers=login.headers(**headers), query_string=query or {})


# --- a small, varied population for filters and shapes ---------------------------------


@dataclass
class Population:
    admin: Any
    sessions: dict[str, str]  # label -> sessionId
    users: dict[str, str]  # label -> userId
    login_at: dict[str, datetime]


@pytest.fixture
def population(helpers, admin) -> Population:
    alice = helpers.user("alice", name="Alice Liddell")
    bob = helpers.user("bob")
    carol = helpers.user("carol", name="Carol")
    dave = helpers.user("dave", name="Dave")
    specs = {
        "alice": (alice, FIREFOX_112, "10.1.2.3", "chat.example.com", ago(hours=1)),
        "bob": (bob, None, "192.168.5.5", "localhost:3000", ago(hours=2)),
        "carol": (carol, RC_MOBILE_IOS, "10.10.1.1", "localhost:3000", ago(hours=3)),
        "dave": (dave, MAC_SAFARI, "2001:db8::7", "localhost:3000", ago(hours=4)),
    }
    sessions = {"root": admin.session_id}
    users = {"root": admin.user_id}
    login_at = {}
    for label, (account, agent, ip, host, when) in specs.items():
        login = helpers.session_for(account, user_agent=agent, ip=ip, host=host, login_at=when)
        sessions[label] = login.session_id
        users[label] = account.id
        login_at[label] = when
    return Population(admin, sessions, users, login_at)


def test_envelope_and_default_order(client, population):
    response = get(client, population.admin)
    body = ok(response)
    assert list(body) == LIST_ENVELOPE
    assert body["total"] == 5
    assert body["count"] == 50
    assert body["offset"] == 0
    assert body["success"] is True
    labels = ["root", "alice", "bob", "carol", "dave"]  # newest login first
    assert ids(body) == [population.sessions[label] for label in labels]


def test_session_object_is_exactly_the_documented_shape(client, population):
    body = ok(get(client, population.admin, {"filter": population.sessions["alice"]}))
    session_id = population.sessions["alice"]
    assert body["sessions"] == [
        {
            "sessionId": session_id,
            "userId": population.users["alice"],
            "device": FIREFOX_112_DEVICE,
            "host": "chat.example.com",
            "ip": "10.1.2.3",
            "loginAt": iso(population.login_at["alice"]),
            "_user": {"username": "alice", "name": "Alice Liddell"},
            "_id": session_id,
        }
    ]


def test_every_session_has_only_documented_keys(client, population):
    body = ok(get(client, population.admin))
    by_id = {s["sessionId"]: s for s in body["sessions"]}
    for label, session_id in population.sessions.items():
        session = by_id[session_id]
        expected_keys = SESSION_KEYS - ({"device"} if label == "bob" else set())
        assert set(session) == expected_keys, label
        assert session["_id"] == session_id
        assert session["userId"] == population.users[label]
        assert TIMESTAMP.match(session["loginAt"]), session["loginAt"]
        assert isinstance(session["host"], str)
        assert isinstance(session["ip"], str)
        if "device" in session:
            assert set(session["device"]) == DEVICE_KEYS, label
            assert set(session["device"]["os"]) == {"name", "version"}, label
        user_keys = {"username"} if label == "bob" else {"username", "name"}
        assert set(session["_user"]) == user_keys, label


def test_session_without_user_agent_has_no_device_and_nameless_user_no_name(client, population):
    body = ok(get(client, population.admin, {"filter": population.sessions["bob"]}))
    [session] = body["sessions"]
    assert "device" not in session
    assert session["_user"] == {"username": "bob"}
    assert session["ip"] == "192.168.5.5"


def test_no_secret_ever_appears(client, helpers, population):
    response = get(client, population.admin)
    text = response.get_data(as_text=True)
    assert ok(response)["total"] == 5
    secrets = [row[0] for row in helpers.sql("SELECT token_hash FROM sessions")]
    secrets += [row[0] for row in helpers.sql("SELECT password_hash FROM users")]
    secrets.append(population.admin.token)
    assert len(secrets) == 11
    for secret in secrets:
        assert secret not in text
    keys = set()

    def collect(node):
        if isinstance(node, dict):
            keys.update(k.lower() for k in node)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(json.loads(text))
    # Words in key names only: random ids may contain any letters ("...hash..." does occur).
    for word in ("token", "password", "hash", "totp", "secret", "useragent", "expires"):
        assert not [key for key in keys if word in key], word


def test_cli_session_has_empty_host_and_ip(app, client, helpers, admin):
    helpers.user("service")
    result = app.test_cli_runner().invoke(args=["tokens", "create", "service"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    body = ok(get(client, admin, {"filter": created["sessionId"]}))
    [session] = body["sessions"]
    assert session["host"] == ""
    assert session["ip"] == ""
    assert "device" not in session
    assert session["userId"] == created["userId"]


def test_ended_sessions_are_never_listed(client, helpers, admin):
    user = helpers.user("eve", name="Eve")
    logged_out = helpers.session_for(user, login_at=ago(hours=1))
    expired = helpers.session_for(user, login_at=ago(hours=2))
    too_old = helpers.session_for(user, login_at=ago(days=91))
    active = helpers.session_for(user, login_at=ago(hours=3))
    response = client.post(LOGOUT, headers=logged_out.headers())
    assert response.status_code == 200, response.get_json()
    helpers.sql("UPDATE sessions SET expires_at = login_at WHERE id = :id", id=expired.session_id)
    body = ok(get(client, admin))
    assert ids(body) == [admin.session_id, active.session_id]
    assert body["total"] == 2
    for gone in (logged_out, expired, too_old):
        filtered = ok(get(client, admin, {"filter": gone.session_id}))
        assert filtered["sessions"] == []
        assert filtered["total"] == 0


# --- filter ----------------------------------------------------------------------------

ALL = {"root", "alice", "bob", "carol", "dave"}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("", ALL),
        ("alice", {"alice"}),
        ("ALICE", {"alice"}),
        ("liddell", {"alice"}),
        ("root admin", {"root"}),
        ("firefox", {"alice"}),
        ("^Chrome$", {"root"}),
        ("mobile-app", {"carol"}),
        ("^browser$", {"root", "alice", "dave"}),
        ("mac os", {"dave"}),
        ("^windows$", {"root", "alice"}),
        (r"^10\.1\.", {"alice"}),
        (r"^10\.", {"root", "alice", "carol"}),
        (r"^2001:DB8::", {"dave"}),
        (r"example\.com$", {"alice"}),
        ("{session:bob}", {"bob"}),
        ("{session:bob|lower}", {"bob"}),
        ("{user:carol}", {"carol"}),
        ("^(alice|bob)$", {"alice", "bob"}),
        (r"^\w+$", {"root", "alice", "bob", "carol", "dave"}),
        (r"16\.5", set()),
        ("no-such-thing", set()),
    ],
    ids=[
        "empty",
        "username",
        "case-insensitive",
        "display-name",
        "display-name-with-space",
        "browser-name",
        "browser-name-anchored",
        "device-type-mobile-app",
        "device-type-browser",
        "os-name",
        "os-name-anchored",
        "ip-prefix",
        "ip-prefix-wider",
        "ipv6-prefix",
        "host",
        "session-id",
        "session-id-other-case",
        "user-id",
        "alternation",
        "character-class",
        "os-version-not-searched",
        "no-match",
    ],
)
def test_filter(client, population, pattern, expected):
    if pattern.startswith("{"):
        kind, _, label = pattern.strip("{}").partition(":")
        label, _, transform = label.partition("|")
        table = population.sessions if kind == "session" else population.users
        pattern = table[label].lower() if transform == "lower" else table[label]
    body = ok(get(client, population.admin, {"filter": pattern}))
    wanted = {population.sessions[label] for label in expected}
    assert set(ids(body)) == wanted
    assert body["total"] == len(wanted)
    assert len(body["sessions"]) == len(wanted)


def test_filter_total_counts_beyond_the_page(client, population):
    body = ok(get(client, population.admin, {"filter": "^10\\.", "count": "1"}))
    assert body["total"] == 3
    assert body["count"] == 1
    assert len(body["sessions"]) == 1


def test_filter_of_256_characters_is_accepted(client, admin):
    body = ok(get(client, admin, {"filter": "a" * 256}))
    assert body["sessions"] == []
    assert body["total"] == 0


@pytest.mark.parametrize(
    "pattern",
    ["(", "[a-", "a{2,1}", "a" * 257, "a" * 300, "a\x00b", "\x00", "a**"],
    ids=[
        "unbalanced-paren",
        "unclosed-class",
        "bad-repetition",
        "257-chars",
        "300-chars",
        "nul-inside",
        "nul-only",
        "double-star",
    ],
)
def test_bad_filter_is_invalid_params(client, admin, pattern):
    assert_invalid_params(get(client, admin, {"filter": pattern}))


@pytest.mark.parametrize("pattern", [r"\z", "(?P<n>a)"], ids=["z-anchor", "named-group"])
def test_pattern_postgres_rejects_is_400_there_and_runs_on_sqlite(
    client, admin, database_url, pattern
):
    """RE2 accepts these; PostgreSQL's engine does not (SQLSTATE 2201B) -> 400, never 500.

    On SQLite the pattern runs in RE2 itself, so it is a valid filter there.
    """
    response = get(client, admin, {"filter": pattern})
    if database_url.startswith("postgresql"):
        assert_invalid_params(response)
    else:
        assert ok(response)["success"] is True


# --- offset and count ------------------------------------------------------------------


@pytest.fixture
def crowd(app, helpers, admin):
    """105 sessions besides the admin's: enough to see the default and the upper limit
    (written in one transaction)."""
    helpers.user("crowd")
    start = ago(hours=5)
    with new_session(app) as db:
        user = accounts.get_user_by_username(db, "crowd")
        for i in range(105):
            logins.create_session(
                db,
                user,
                user_agent=None,
                ip="10.0.0.1",
                host="localhost:3000",
                now=start + timedelta(seconds=i),
                expiration_days=settings_of(app).login_expiration_days,
            )
        db.commit()
    return 106


def test_count_defaults_to_50_and_pages_reach_the_end(client, admin, crowd):
    body = ok(get(client, admin))
    assert (body["count"], body["offset"], body["total"]) == (50, 0, crowd)
    assert len(body["sessions"]) == 50
    last = ok(get(client, admin, {"count": "100", "offset": "100"}))
    assert (last["count"], last["offset"], last["total"]) == (100, 100, crowd)
    assert len(last["sessions"]) == crowd - 100
    assert not set(ids(last)) & set(ids(ok(get(client, admin, {"count": "100"}))))


@pytest.mark.parametrize("count", ["101", "500", str(INT32_MAX)])
def test_count_is_clamped_to_100(client, admin, crowd, count):
    body = ok(get(client, admin, {"count": count}))
    assert body["count"] == 100
    assert len(body["sessions"]) == 100
    assert body["total"] == crowd


def test_count_zero_gives_no_rows_but_the_total(client, population):
    body = ok(get(client, population.admin, {"count": "0"}))
    assert body == {"sessions": [], "total": 5, "count": 0, "offset": 0, "success": True}
    assert list(body) == LIST_ENVELOPE


@pytest.mark.parametrize("offset", ["5", "6", str(INT32_MAX)])
def test_offset_past_the_end(client, population, offset):
    body = ok(get(client, population.admin, {"offset": offset}))
    assert body == {
        "sessions": [],
        "total": 5,
        "count": 50,
        "offset": int(offset),
        "success": True,
    }


def test_offset_and_count_page_through(client, population):
    full = ids(ok(get(client, population.admin)))
    page = ok(get(client, population.admin, {"offset": "1", "count": "2"}))
    assert ids(page) == full[1:3]
    assert (page["offset"], page["count"], page["total"]) == (1, 2, 5)


@pytest.mark.parametrize("name", ["offset", "count"])
@pytest.mark.parametrize(
    "value",
    ["-1", "abc", "1.5", "1e2", "0x10", str(INT32_MAX + 1), "99999999999999999999", "١"],
    ids=[
        "negative",
        "not-a-number",
        "fraction",
        "exponent",
        "hex",
        "int32-max-plus-one",
        "huge",
        "arabic-digit",
    ],
)
def test_bad_offset_or_count_is_invalid_params(client, admin, name, value):
    assert_invalid_params(get(client, admin, {name: value}))


@pytest.mark.parametrize(
    "query",
    [
        {"foo": "1"},
        {"fields": '{"ip":1}'},
        {"query": "{}"},
        {"Count": "1"},
        {"sessionId": "x"},
        {"X-Auth-Token": "x"},
    ],
    ids=["foo", "fields", "query", "wrong-case", "session-id", "token-in-query"],
)
def test_unknown_parameter_is_invalid_params(client, admin, query):
    assert_invalid_params(get(client, admin, query))


@pytest.mark.parametrize(
    "raw",
    ["count=1&count=2", "offset=0&offset=1", "filter=a&filter=b", 'sort={}&sort={"loginAt":1}'],
    ids=["count", "offset", "filter", "sort"],
)
def test_repeated_parameter_is_invalid_params(client, admin, raw):
    response = client.get(f"{LIST_ALL}?{raw}", headers=admin.headers())
    assert_invalid_params(response)


# --- sort ------------------------------------------------------------------------------

SORT_KEYS = [
    "loginAt",
    "device.name",
    "device.os.name",
    "device.os.version",
    "_user.name",
    "_user.username",
]


@pytest.fixture
def app_env() -> dict[str, str]:
    """Letters of any script in usernames (an admin's SESSIONS_USERNAME_PATTERN): the sort
    tests need a non-ASCII one to check code-point order."""
    return {"SESSIONS_USERNAME_PATTERN": r"[\pL\pN._-]+"}


@pytest.fixture
def sortable(helpers, admin) -> list[str]:
    """Sessions with ties, missing values and non-ASCII/mixed-case strings; returns their ids."""
    people = {
        "alice": helpers.user("alice", name="alice"),
        "Bob": helpers.user("Bob", name="Bob"),
        "zed": helpers.user("zed"),
        "émile": helpers.user("émile", name="Émile"),
        "_under": helpers.user("_under", name="_x"),
    }
    t1, t2, t3, t4 = ago(hours=4), ago(hours=3), ago(hours=2), ago(hours=1)
    plan = [
        ("alice", FIREFOX_112, t1),
        ("alice", None, t1),
        ("alice", CHROME_113, t1),
        ("Bob", MAC_SAFARI, t2),
        ("Bob", RC_MOBILE_IOS, t2),
        ("zed", CHROME_113, t3),
        ("zed", "garbage", t3),
        ("émile", ANDROID_CHROME, t4),
        ("_under", DESKTOP_APP_MAC, t4),
        ("émile", FIREFOX_112, t4),
        ("_under", None, t1),
    ]
    made = [admin.session_id]
    for person, agent, when in plan:
        made.append(helpers.session_for(people[person], user_agent=agent, login_at=when).session_id)
    return made


def sort_value(session: dict[str, Any], key: str) -> str:
    """A session's sort key as the SPEC defines it: missing values are ""."""
    device = session.get("device", {})
    values = {
        "loginAt": session["loginAt"],
        "device.name": device.get("name", ""),
        "device.os.name": device.get("os", {}).get("name", ""),
        "device.os.version": device.get("os", {}).get("version", ""),
        "_user.name": session["_user"].get("name", ""),
        "_user.username": session["_user"]["username"],
    }
    return values[key]


def expected_order(sessions: list[dict[str, Any]], sort: list[tuple[str, int]]) -> list[str]:
    """The whole result ordered by ``sort``, sessionId last in the first key's direction."""
    rows = sorted(sessions, key=lambda s: s["sessionId"], reverse=sort[0][1] == -1)
    for key, direction in reversed(sort):
        # Python's sort is stable, so sorting by the keys from last to first nests them.
        rows = sorted(rows, key=lambda s, k=key: sort_value(s, k), reverse=direction == -1)
    return [s["sessionId"] for s in rows]


def walk(client, login, sort: str | None, count: int, total: int) -> list[str]:
    """Every page of list.all with ``count`` rows a page, concatenated."""
    seen: list[str] = []
    offset = 0
    while True:
        query = {"count": str(count), "offset": str(offset)}
        if sort is not None:
            query["sort"] = sort
        body = ok(get(client, login, query))
        assert (body["total"], body["count"], body["offset"]) == (total, count, offset)
        page = ids(body)
        assert len(page) == min(count, max(total - offset, 0))
        seen += page
        if len(page) < count:
            return seen
        offset += count


def everything(client, login, total: int) -> list[dict[str, Any]]:
    body = ok(get(client, login, {"count": "100"}))
    assert body["total"] == total
    sessions: list[dict[str, Any]] = body["sessions"]
    return sessions


@pytest.mark.parametrize("direction", [1, -1], ids=["asc", "desc"])
@pytest.mark.parametrize("key", SORT_KEYS)
def test_sort_pages_through_whole_result(client, admin, sortable, key, direction):
    sessions = everything(client, admin, len(sortable))
    assert {s["sessionId"] for s in sessions} == set(sortable)
    sort = [(key, direction)]
    seen = walk(client, admin, json.dumps(dict(sort)), 4, len(sortable))
    assert len(seen) == len(set(seen)) == len(sortable)
    assert seen == expected_order(sessions, sort)


@pytest.mark.parametrize(
    "sort",
    [
        [("device.name", 1), ("loginAt", -1)],
        [("_user.username", -1), ("device.os.version", 1)],
        [("device.os.name", -1), ("_user.name", 1), ("loginAt", 1)],
    ],
    ids=["device-asc-login-desc", "username-desc-os-version-asc", "three-keys"],
)
def test_sort_by_several_keys(client, admin, sortable, sort):
    sessions = everything(client, admin, len(sortable))
    seen = walk(client, admin, json.dumps(dict(sort)), 3, len(sortable))
    assert seen == expected_order(sessions, sort)


def test_strings_sort_by_code_point(client, admin, sortable):
    body = ok(get(client, admin, {"sort": '{"_user.username":1}', "count": "100"}))
    usernames = list(dict.fromkeys(s["_user"]["username"] for s in body["sessions"]))
    assert usernames == ["Bob", "_under", "alice", "root", "zed", "émile"]


@pytest.mark.parametrize(
    "sort", [None, "{}", '{"loginAt":-1}'], ids=["absent", "empty", "explicit"]
)
def test_default_sort_is_newest_login_first(client, admin, sortable, sort):
    sessions = everything(client, admin, len(sortable))
    seen = walk(client, admin, sort, 5, len(sortable))
    assert seen == expected_order(sessions, [("loginAt", -1)])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{loginAt:1}", invalid_sort("{loginAt:1}")),
        ("not json", invalid_sort("not json")),
        ('[{"loginAt":1}]', invalid_sort('[{"loginAt":1}]')),
        ("null", invalid_sort("null")),
        ("1", invalid_sort("1")),
        ('"loginAt"', invalid_sort('"loginAt"')),
        ('{"loginAt":2}', invalid_sort('{"loginAt":2}')),
        ('{"loginAt":0}', invalid_sort('{"loginAt":0}')),
        ('{"loginAt":"1"}', invalid_sort('{"loginAt":"1"}')),
        ('{"loginAt":true}', invalid_sort('{"loginAt":true}')),
        ('{"loginAt":null}', invalid_sort('{"loginAt":null}')),
        ('{"loginAt":1.5}', invalid_sort('{"loginAt":1.5}')),
        ('{"foo":1}', INVALID_SORT_KEYS),
        ('{"loginAt":1,"token":1}', INVALID_SORT_KEYS),
        ('{"sessionId":1}', INVALID_SORT_KEYS),
        ('{"device":1}', INVALID_SORT_KEYS),
    ],
    ids=[
        "not-json-object-literal",
        "not-json-words",
        "json-array",
        "json-null",
        "json-number",
        "json-string",
        "value-2",
        "value-0",
        "value-string-1",
        "value-true",
        "value-null",
        "value-fraction",
        "unknown-key",
        "unknown-key-among-good",
        "session-id-key",
        "parent-key",
    ],
)
def test_bad_sort(client, admin, raw, expected):
    response = get(client, admin, {"sort": raw})
    assert response.status_code == 400
    assert response.get_json() == expected


# --- order of checks -------------------------------------------------------------------


@pytest.fixture
def callers(helpers):
    member = helpers.user("member")
    totp_admin = helpers.admin("guard", totp=True)
    return {
        "anonymous": None,
        "member": helpers.session_for(member),
        "admin": helpers.session_for(totp_admin),
    }


@pytest.mark.parametrize(
    ("who", "query", "expected_status", "expected_body"),
    [
        ("anonymous", {"count": "-1"}, 401, LOGGED_OUT),
        ("anonymous", {"sort": "{bad"}, 401, LOGGED_OUT),
        ("member", {"count": "-1"}, 400, "invalid-params"),
        ("member", {"filter": "("}, 400, "invalid-params"),
        ("member", {"bogus": "1"}, 400, "invalid-params"),
        ("member", {"sort": "{bad"}, 400, invalid_sort("{bad")),
        ("member", {"sort": '{"foo":1}'}, 400, INVALID_SORT_KEYS),
        ("member", {}, 403, FORBIDDEN),
        ("member", {"filter": "a", "count": "5", "sort": '{"loginAt":1}'}, 403, FORBIDDEN),
        ("admin", {"count": "1.5"}, 400, "invalid-params"),
        ("admin", {"filter": "a{2,1}"}, 400, "invalid-params"),
        ("admin", {"sort": "[]"}, 400, invalid_sort("[]")),
        ("admin", {}, 400, TOTP_REQUIRED),
        ("admin", {"count": "5", "offset": "1"}, 400, TOTP_REQUIRED),
    ],
    ids=[
        "no-auth-bad-count",
        "no-auth-bad-sort",
        "member-bad-count",
        "member-bad-filter",
        "member-unknown-param",
        "member-bad-sort",
        "member-bad-sort-key",
        "member-good-params",
        "member-all-params",
        "admin-no-code-bad-count",
        "admin-no-code-bad-filter",
        "admin-no-code-bad-sort",
        "admin-no-code",
        "admin-no-code-good-params",
    ],
)
def test_order_of_checks(client, callers, who, query, expected_status, expected_body):
    caller = callers[who]
    headers = caller.headers() if caller is not None else {}
    response = client.get(LIST_ALL, headers=headers, query_string=query)
    if expected_body == "invalid-params":
        assert_invalid_params(response)
    else:
        assert response.status_code == expected_status
        assert response.get_json() == expected_body


def test_bad_params_do_not_count_as_two_factor_failures(client, helpers, callers):
    admin = callers["admin"]
    for _ in range(12):
        assert_invalid_params(
            client.get(LIST_ALL, headers=admin.headers(), query_string={"count": "x"})
        )
    response = client.get(LIST_ALL, headers=admin.headers())
    assert response.get_json() == TOTP_REQUIRED


# --- HTTP-level errors ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_wrong_method_is_405_json(client, admin, method):
    response = client.open(LIST_ALL, method=method, headers=admin.headers(), json={})
    assert response.status_code == 405
    body = response.get_json()
    assert body is not None
    assert body["success"] is False
    assert isinstance(body["error"], str)
    assert body["error"]


@pytest.mark.parametrize(
    ("path", "authenticated"),
    [
        ("/api/v1/sessions/list.everything", True),
        ("/api/v1/sessions/list.everything", False),
        ("/api/v1/nope", False),
        ("/nope", False),
        ("/", False),
    ],
    ids=["sessions-authenticated", "sessions-anonymous", "api", "outside-api", "root"],
)
def test_unknown_path_is_404_json(client, admin, path, authenticated):
    headers = admin.headers() if authenticated else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 404
    body = response.get_json()
    assert body is not None
    assert body["success"] is False
    assert isinstance(body["error"], str)
    assert body["error"]
