"""End to end: the real ``sessions-service serve`` (gunicorn, 2 workers) over real HTTP.

One server per database kind serves the whole module; each test makes its own users (names
ending in its ``tag``) and counts list.all's total from what was there before it (``total``).
Users, TOTP and tokens are made with the CLI (in this process, click's runner), so the CLI and
the server share nothing but the database, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator

import pyotp
import pytest
import requests
from rocketchat_API.APIExceptions.RocketExceptions import RocketApiException
from rocketchat_API.rocketchat import RocketChat

from .bodies import (
    CHROME_113_DEVICE,
    ID_RE,
    LIST_ENVELOPE,
    LOGGED_OUT,
    LOGOUT_DONE,
    SESSION_KEYS,
    TIMESTAMP,
    TOTP_REQUIRED,
    totp_required,
)
from .conftest import CHROME_113, FIREFOX_112
from .servers import HTTP_TIMEOUT, Server, running_server, service_env

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e_gunicorn")]

START_TIMEOUT = 20
_TAGS = itertools.count(1)


@pytest.fixture(scope="module")
def server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``sessions-service serve --workers 2`` on a free port for the module, stopped by its PID."""
    env = service_env(module_database_url)
    log = tmp_path_factory.mktemp("e2e") / "serve.log"
    with running_server(env, log, workers=2, start_timeout=START_TIMEOUT) as running:
        yield running


@pytest.fixture(scope="module")
def watcher(server: Server) -> dict[str, str]:
    """Headers of an admin exempt from two-factor, to read list.all's total before a test."""
    server.cli("users", "create", "e2e-watcher", "--password", "pw-watcher", "--role", "admin")
    token = server.cli("tokens", "create", "e2e-watcher", "--bypass-2fa")
    return {"X-User-Id": token["userId"], "X-Auth-Token": token["authToken"]}


@pytest.fixture
def tag() -> str:
    """Ends this test's usernames: unique on the module's server."""
    return f"t{next(_TAGS)}"


def total(server: Server, watcher: dict[str, str]) -> int:
    """list.all's total right now."""
    response = server.get("/api/v1/sessions/list.all", params={"count": "0"}, headers=watcher)
    assert response.status_code == 200, response.text
    count: int = response.json()["total"]
    return count


def test_totp_admin_lists_all_sessions_over_http(
    server: Server, watcher: dict[str, str], tag: str
) -> None:
    before = total(server, watcher)
    admin, olasupo = f"rootadmin-{tag}", f"funke.olasupo-{tag}"
    admin_id = server.cli(
        "users",
        "create",
        admin,
        "--password",
        "pw-root",
        "--name",
        "Root Admin",
        "--role",
        "admin",
    )["userId"]
    secret = server.cli("totp", "enable", admin)["secret"]
    other_id = server.cli("users", "create", olasupo, "--password", "pw-funke")["userId"]

    other = server.post(
        "/api/v1/login",
        json={"username": olasupo, "password": "pw-funke"},
        headers={"User-Agent": FIREFOX_112},
    )
    assert other.status_code == 200, other.text
    data = server.login(admin, "pw-root", code=pyotp.TOTP(secret).now())
    assert data["userId"] == admin_id
    assert data["me"] == {
        "_id": admin_id,
        "username": admin,
        "name": "Root Admin",
        "roles": ["admin"],
        "active": True,
    }

    # No x-2fa-code: the TOTP login made this session 2FA-authorized for this UA + IP.
    headers = {
        "X-User-Id": admin_id,
        "X-Auth-Token": data["authToken"],
        "User-Agent": CHROME_113,
    }
    response = server.get("/api/v1/sessions/list.all", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == LIST_ENVELOPE
    assert (body["total"], body["count"], body["offset"], body["success"]) == (
        before + 2,
        50,
        0,
        True,
    )
    by_user = {s["userId"]: s for s in body["sessions"]}  # the newest first: these two
    assert [s["userId"] for s in body["sessions"][:2]] in (
        [admin_id, other_id],
        [other_id, admin_id],
    )

    mine = by_user[admin_id]
    assert set(mine) == SESSION_KEYS
    assert ID_RE.match(mine["sessionId"])
    assert mine["_id"] == mine["sessionId"]
    assert mine["device"] == CHROME_113_DEVICE
    assert mine["ip"] == "127.0.0.1"
    assert mine["host"] == f"127.0.0.1:{server.port}"
    assert TIMESTAMP.match(mine["loginAt"]), mine["loginAt"]
    assert mine["_user"] == {"username": admin, "name": "Root Admin"}
    assert by_user[other_id]["_user"] == {"username": olasupo}  # no name → omitted

    filtered = server.get("/api/v1/sessions/list.all", params={"filter": "OLASU"}, headers=headers)
    assert filtered.status_code == 200, filtered.text
    page = filtered.json()
    assert (page["total"], page["count"], page["offset"], page["success"]) == (1, 50, 0, True)
    assert [s["_user"]["username"] for s in page["sessions"]] == [olasupo]


def test_rocketchat_api_client_with_password_method(
    server: Server, watcher: dict[str, str], tag: str
) -> None:
    before = total(server, watcher)
    password = "correct horse battery"
    admin = f"pwadmin-{tag}"
    admin_id = server.cli("users", "create", admin, "--password", password, "--role", "admin")[
        "userId"
    ]
    server.cli("users", "create", f"bob-{tag}", "--password", "pw-bob")
    bob = server.cli("tokens", "create", f"bob-{tag}")

    with requests.Session() as http:
        rocket = RocketChat(admin, password, server_url=server.url, session=http)
        assert rocket.headers["X-User-Id"] == admin_id

        with pytest.raises(RocketApiException) as raised:
            rocket.call_api_get("sessions/list.all")
        assert raised.value.status_code == 400
        assert raised.value.response_json == totp_required("password")

        rocket.headers["x-2fa-code"] = hashlib.sha256(password.encode()).hexdigest()
        rocket.headers["x-2fa-method"] = "password"
        body = rocket.call_api_get("sessions/list.all")

    assert body["success"] is True
    assert body["total"] == before + 2
    assert body["count"] == 50
    sessions = {s["userId"]: s for s in body["sessions"]}
    assert sessions[bob["userId"]]["sessionId"] == bob["sessionId"]
    assert sessions[bob["userId"]]["ip"] == sessions[bob["userId"]]["host"] == ""
    assert "device" not in sessions[bob["userId"]]
    mine = sessions[admin_id]
    assert mine["ip"] == "127.0.0.1"
    assert mine["device"]["type"] == "browser"  # python-requests is a known ua-parser family
    assert mine["_user"] == {"username": admin}


def test_logout_revokes_the_token_at_once(server: Server, tag: str) -> None:
    server.cli("users", "create", f"carol-{tag}", "--password", "pw-carol")
    data = server.login(f"carol-{tag}", "pw-carol")
    headers = {"X-User-Id": data["userId"], "X-Auth-Token": data["authToken"]}
    own = server.get("/api/v1/sessions/list", headers=headers)
    assert own.status_code == 200, own.text
    assert own.json()["total"] == 1

    out = server.post("/api/v1/logout", headers=headers)
    assert out.status_code == 200, out.text
    assert out.json() == LOGOUT_DONE

    # Two workers: several requests so both of them see the revoked token.
    for _ in range(4):
        after = server.get("/api/v1/sessions/list", headers=headers)
        assert after.status_code == 401
        assert after.json() == LOGGED_OUT
    again = server.post("/api/v1/logout", headers=headers)
    assert again.status_code == 401
    assert again.json() == LOGGED_OUT


@pytest.mark.parametrize(
    ("method", "path", "authenticated", "status"),
    [
        ("GET", "/api/v1/no-such-endpoint", False, 404),
        ("GET", "/api/v1/no-such-endpoint", True, 404),
        ("GET", "/no/such/path", False, 404),
        ("GET", "/api/v1/login", False, 405),
        ("POST", "/api/v1/sessions/list.all", True, 405),
        ("DELETE", "/api/v1/sessions/logout", True, 405),
    ],
    ids=[
        "unknown-api-path",
        "unknown-api-path-authenticated",
        "unknown-root-path",
        "get-login",
        "post-list-all",
        "delete-logout",
    ],
)
def test_unknown_path_and_wrong_method_answer_json(
    server: Server, tag: str, method: str, path: str, authenticated: bool, status: int
) -> None:
    headers: dict[str, str] = {}
    if authenticated:
        server.cli("users", "create", f"dave-{tag}", "--password", "pw-dave", "--role", "admin")
        token = server.cli("tokens", "create", f"dave-{tag}", "--bypass-2fa")
        headers = {"X-User-Id": token["userId"], "X-Auth-Token": token["authToken"]}
    response = requests.request(method, server.url + path, headers=headers, timeout=HTTP_TIMEOUT)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"success", "error"}
    assert body["success"] is False
    assert isinstance(body["error"], str) and body["error"]


def test_cli_tokens_and_two_factor(server: Server, watcher: dict[str, str], tag: str) -> None:
    before = total(server, watcher)
    svc = f"svc-{tag}"
    admin_id = server.cli("users", "create", svc, "--password", "pw-svc", "--role", "admin")[
        "userId"
    ]
    server.cli("totp", "enable", svc)
    exempt = server.cli("tokens", "create", svc, "--bypass-2fa")
    plain = server.cli("tokens", "create", svc)
    assert exempt["userId"] == plain["userId"] == admin_id

    listed = server.get(
        "/api/v1/sessions/list.all",
        headers={"X-User-Id": admin_id, "X-Auth-Token": exempt["authToken"]},
    )
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == before + 2
    mine = [s for s in body["sessions"] if s["userId"] == admin_id]
    assert {s["sessionId"] for s in mine} == {exempt["sessionId"], plain["sessionId"]}
    for session in mine:
        assert session["host"] == session["ip"] == ""
        assert "device" not in session

    refused = server.get(
        "/api/v1/sessions/list.all",
        headers={"X-User-Id": admin_id, "X-Auth-Token": plain["authToken"]},
    )
    assert refused.status_code == 400
    assert refused.json() == TOTP_REQUIRED
