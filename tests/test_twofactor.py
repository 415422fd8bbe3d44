"""Two-factor on list.all and at login (SPEC §3).

Each TOTP step is accepted once per user, so every test needs at most one or two fresh codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import requests
import sqlalchemy as sa

from sessions_service.clock import FrozenClock, frozen_at, utcnow

from .bodies import (
    LOGIN_FAILED,
    LOGIN_TOTP_INVALID,
    LOGIN_TOTP_REQUIRED,
    TOTP_INVALID,
    TOTP_REQUIRED,
    totp_invalid,
    totp_required,
)
from .concurrency import at_once
from .conftest import CHROME_113, FIREFOX_112, LIST_ALL, LOGIN, list_all, login_body, wrong_code
from .servers import HTTP_TIMEOUT, running_server, service_env

MAX_ATTEMPTS = 10


@pytest.fixture
def mid_step() -> Iterator[FrozenClock]:
    """The clock frozen in the middle of the next TOTP step, so code(-1)/code(+1) mean what
    they say however long the test takes."""
    now = utcnow()
    step_start = now - timedelta(seconds=now.timestamp() % 30)
    with frozen_at(step_start + timedelta(seconds=45)) as clock:
        yield clock


def assert_ok(response):
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["success"] is True


@pytest.fixture
def totp_admin(helpers):
    return helpers.admin(totp=True)


@pytest.fixture
def totp_session(helpers, totp_admin):
    """A session of the TOTP admin written to the database, so no code is spent logging in."""
    return helpers.session_for(totp_admin)


@pytest.fixture
def password_admin(helpers):
    return helpers.admin("pwadmin")


# --- TOTP on an endpoint ---------------------------------------------------------------


def test_no_code_is_totp_required(client, totp_session):
    response = list_all(client, totp_session)
    assert response.status_code == 400
    assert response.get_json() == TOTP_REQUIRED


def test_empty_code_is_no_code(client, totp_session):
    response = list_all(client, totp_session, "")
    assert response.status_code == 400
    assert response.get_json() == TOTP_REQUIRED


@pytest.mark.parametrize("code", ["wrong", "12345", "1234567", "abcdef", "12345678"], ids=str)
def test_wrong_code_is_totp_invalid(client, totp_admin, totp_session, code):
    if code == "wrong":
        code = wrong_code(totp_admin)
    response = list_all(client, totp_session, code)
    assert response.status_code == 400
    assert response.get_json() == TOTP_INVALID


@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["previous-step", "current-step", "next-step"])
def test_codes_in_the_window_are_accepted(client, totp_admin, totp_session, mid_step, offset):
    assert_ok(list_all(client, totp_session, totp_admin.code(offset)))


@pytest.mark.parametrize("offset", [-2, 2], ids=["two-steps-back", "two-steps-ahead"])
def test_codes_outside_the_window_are_refused(client, totp_admin, totp_session, mid_step, offset):
    code = totp_admin.code(offset)
    if code in {totp_admin.code(step) for step in (-1, 0, 1)}:
        pytest.skip("the far code happens to equal one in the window")
    response = list_all(client, totp_session, code)
    assert response.status_code == 400
    assert response.get_json() == TOTP_INVALID


@pytest.mark.parametrize("where", ["other-user-agent", "other-session"])
def test_an_accepted_code_is_never_accepted_again(client, helpers, totp_admin, where):
    first = helpers.session_for(totp_admin)
    code = totp_admin.code()
    assert_ok(list_all(client, first, code, user_agent=CHROME_113))
    if where == "other-user-agent":
        again = list_all(client, first, code, user_agent=FIREFOX_112)
    else:
        again = list_all(client, helpers.session_for(totp_admin), code, user_agent=CHROME_113)
    assert again.status_code == 400
    assert again.get_json() == TOTP_INVALID


def test_an_older_step_is_refused_after_a_newer_one(client, totp_admin, totp_session):
    assert_ok(list_all(client, totp_session, totp_admin.code(1), user_agent=CHROME_113))
    response = list_all(client, totp_session, totp_admin.code(0), user_agent=FIREFOX_112)
    assert response.status_code == 400
    assert response.get_json() == TOTP_INVALID


def test_remember_window_is_bound_to_user_agent_and_ip(client, totp_admin, totp_session):
    assert_ok(
        list_all(client, totp_session, totp_admin.code(), user_agent=CHROME_113, ip="10.0.0.5")
    )
    assert_ok(list_all(client, totp_session, user_agent=CHROME_113, ip="10.0.0.5"))
    other_agent = list_all(client, totp_session, user_agent=FIREFOX_112, ip="10.0.0.5")
    assert other_agent.status_code == 400
    assert other_agent.get_json() == TOTP_REQUIRED
    other_ip = list_all(client, totp_session, user_agent=CHROME_113, ip="10.0.0.6")
    assert other_ip.status_code == 400
    assert other_ip.get_json() == TOTP_REQUIRED


def test_remember_window_ends_after_its_time(client, clock, totp_admin, totp_session):
    """SESSIONS_2FA_REMEMBER_FOR's default, 1800 s from the passed check (not extended by use)."""
    assert_ok(list_all(client, totp_session, totp_admin.code()))
    clock.advance(timedelta(seconds=1799))
    assert_ok(list_all(client, totp_session))
    clock.advance(timedelta(seconds=1))
    response = list_all(client, totp_session)
    assert response.status_code == 400
    assert response.get_json() == TOTP_REQUIRED


def test_remember_window_is_per_session(client, helpers, totp_admin):
    first = helpers.session_for(totp_admin)
    second = helpers.session_for(totp_admin)
    assert_ok(list_all(client, first, totp_admin.code()))
    response = list_all(client, second)
    assert response.status_code == 400
    assert response.get_json() == TOTP_REQUIRED


def test_totp_user_cannot_pick_the_password_method(client, totp_admin, totp_session):
    response = list_all(client, totp_session, totp_admin.digest, **{"x-2fa-method": "password"})
    assert response.status_code == 400
    assert response.get_json() == TOTP_INVALID


def test_totp_code_with_password_method_header_is_checked_as_totp(client, totp_admin, totp_session):
    code = totp_admin.code()
    assert_ok(list_all(client, totp_session, code, **{"x-2fa-method": "password"}))


def test_bypass_session_needs_no_code(client, helpers, totp_admin):
    login = helpers.session_for(totp_admin, bypass_2fa=True)
    assert_ok(list_all(client, login))
    assert_ok(list_all(client, login, user_agent=FIREFOX_112, ip="10.9.9.9"))


class TestRememberOff:
    @pytest.fixture
    def app_env(self):
        return {"SESSIONS_2FA_REMEMBER_FOR": "0"}

    def test_code_needed_every_time(self, client, totp_admin, totp_session):
        assert_ok(list_all(client, totp_session, totp_admin.code()))
        response = list_all(client, totp_session)
        assert response.status_code == 400
        assert response.get_json() == TOTP_REQUIRED

    def test_password_code_needed_every_time(self, client, helpers, password_admin):
        login = helpers.session_for(password_admin)
        assert_ok(list_all(client, login, password_admin.digest))
        assert_ok(list_all(client, login, password_admin.digest))
        response = list_all(client, login)
        assert response.status_code == 400
        assert response.get_json() == totp_required("password")


# --- backup codes --------------------------------------------------------------------


def test_backup_code_is_accepted_once_as_header(client, helpers, totp_admin):
    login = helpers.session_for(totp_admin)
    backup = totp_admin.backup_codes[0]
    assert_ok(list_all(client, login, backup, user_agent=CHROME_113))
    again = list_all(client, login, backup, user_agent=FIREFOX_112)
    assert again.status_code == 400
    assert again.get_json() == TOTP_INVALID
    # The other backup codes still work.
    assert_ok(list_all(client, login, totp_admin.backup_codes[1], user_agent=FIREFOX_112))


def test_backup_code_is_accepted_once_at_login(client, helpers, totp_admin):
    backup = totp_admin.backup_codes[0]
    first = client.post(LOGIN, json=login_body(totp_admin, backup))
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["status"] == "success"
    again = client.post(LOGIN, json=login_body(totp_admin, backup))
    assert again.status_code == 401
    assert again.get_json() == LOGIN_TOTP_INVALID
    # ... and a code used at login is spent for the endpoints too.
    header = list_all(client, helpers.session_for(totp_admin), backup, user_agent=FIREFOX_112)
    assert header.status_code == 400
    assert header.get_json() == TOTP_INVALID


# --- password method -----------------------------------------------------------------


def test_password_method_without_code(client, helpers, password_admin):
    response = list_all(client, helpers.session_for(password_admin))
    assert response.status_code == 400
    assert response.get_json() == totp_required("password")


@pytest.mark.parametrize(
    ("make_code", "method_header"),
    [
        (lambda a: "0" * 64, None),
        (lambda a: a.password, None),
        (lambda a: "123456", "totp"),
    ],
    ids=["wrong-digest", "plain-password", "totp-style-code"],
)
def test_password_method_wrong_code(client, helpers, password_admin, make_code, method_header):
    extra = {"x-2fa-method": method_header} if method_header else {}
    login = helpers.session_for(password_admin)
    response = list_all(client, login, make_code(password_admin), **extra)
    assert response.status_code == 400
    assert response.get_json() == totp_invalid("password")


@pytest.mark.parametrize("method_header", [None, "password", "totp"], ids=str)
def test_password_method_accepts_the_password_digest(
    client, helpers, password_admin, method_header
):
    extra = {"x-2fa-method": method_header} if method_header else {}
    login = helpers.session_for(password_admin)
    assert_ok(list_all(client, login, password_admin.digest, **extra))


class TestPasswordFallbackOff:
    @pytest.fixture
    def app_env(self):
        return {"SESSIONS_2FA_PASSWORD_FALLBACK": "false"}

    def test_user_without_totp_passes_without_code(self, client, helpers, password_admin):
        assert_ok(list_all(client, helpers.session_for(password_admin)))

    def test_totp_user_still_needs_a_code(self, client, totp_session):
        response = list_all(client, totp_session)
        assert response.status_code == 400
        assert response.get_json() == TOTP_REQUIRED


# --- login with TOTP -----------------------------------------------------------------


@pytest.mark.parametrize("code", [None, ""], ids=["no-code", "empty-code"])
def test_login_without_code_is_totp_required(client, helpers, totp_admin, code):
    body = login_body(totp_admin) if code is None else {**login_body(totp_admin), "code": code}
    response = client.post(LOGIN, json=body)
    assert response.status_code == 401
    assert response.get_json() == LOGIN_TOTP_REQUIRED
    assert helpers.sql("SELECT COUNT(*) FROM sessions")[0][0] == 0


def test_login_with_wrong_code_is_totp_invalid(client, helpers, totp_admin):
    response = client.post(LOGIN, json=login_body(totp_admin, wrong_code(totp_admin)))
    assert response.status_code == 401
    assert response.get_json() == LOGIN_TOTP_INVALID
    assert helpers.sql("SELECT COUNT(*) FROM sessions")[0][0] == 0


def test_login_with_wrong_password_says_unauthorized_before_totp(client, totp_admin):
    body = {"user": totp_admin.username, "password": "wrong", "code": totp_admin.code()}
    response = client.post(LOGIN, json=body)
    assert response.status_code == 401
    assert response.get_json() == LOGIN_FAILED


def test_login_with_code_is_remembered_for_that_client(client, helpers, totp_admin):
    code = totp_admin.code()
    response = client.post(
        LOGIN,
        json=login_body(totp_admin, code),
        headers={"User-Agent": CHROME_113},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    headers = {"X-User-Id": data["userId"], "X-Auth-Token": data["authToken"]}
    same = client.get(
        LIST_ALL,
        headers={**headers, "User-Agent": CHROME_113},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )
    assert_ok(same)
    other = client.get(
        LIST_ALL,
        headers={**headers, "User-Agent": FIREFOX_112, "x-2fa-code": code},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )
    # The code spent at login cannot be replayed on an endpoint.
    assert other.status_code == 400
    assert other.get_json() == TOTP_INVALID


# --- one code, many workers ----------------------------------------------------------

RACERS = 8


def count_rows(database_url: str, table: str, user_id: str) -> int:
    """Rows of ``table`` for a user, read with a connection of the test's own."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            query = sa.text(f"SELECT count(*) FROM {table} WHERE user_id = :u")
            return int(conn.execute(query, {"u": user_id}).scalar() or 0)
    finally:
        engine.dispose()


@pytest.mark.e2e
def test_same_code_at_once_on_four_workers_is_accepted_once(
    database_url: str, tmp_path: Path
) -> None:
    env = service_env(database_url, SESSIONS_2FA_REMEMBER_FOR="0")
    with running_server(env, tmp_path / "serve.log", workers=4, wait_for_workers=True) as server:
        admin_id = server.cli("users", "create", "racer", "--password", "pw", "--role", "admin")[
            "userId"
        ]
        secret = server.cli("totp", "enable", "racer")["secret"]
        token = server.cli("tokens", "create", "racer")
        login_id = server.cli("users", "create", "racer2", "--password", "pw2", "--role", "admin")[
            "userId"
        ]
        login_secret = server.cli("totp", "enable", "racer2")["secret"]

        # list.all: the same valid code from 8 clients at once.
        headers = {
            "X-User-Id": admin_id,
            "X-Auth-Token": token["authToken"],
            "x-2fa-code": pyotp.TOTP(secret).now(),
        }
        listed = at_once(
            RACERS,
            lambda: requests.get(server.url + LIST_ALL, headers=headers, timeout=HTTP_TIMEOUT),
        )
        statuses = sorted(r.status_code for r in listed)
        assert statuses == [200] + [400] * (RACERS - 1), [(r.status_code, r.text) for r in listed]
        assert [r.json() for r in listed if r.status_code == 400] == [TOTP_INVALID] * (RACERS - 1)
        assert next(r for r in listed if r.status_code == 200).json()["total"] == 1

        # login: the same valid code in 8 logins at once.
        body = {"user": "racer2", "password": "pw2", "code": pyotp.TOTP(login_secret).now()}
        logins = at_once(
            RACERS,
            lambda: requests.post(server.url + LOGIN, json=body, timeout=HTTP_TIMEOUT),
        )
        statuses = sorted(r.status_code for r in logins)
        assert statuses == [200] + [401] * (RACERS - 1), [(r.status_code, r.text) for r in logins]
        assert [r.json() for r in logins if r.status_code == 401] == [LOGIN_TOTP_INVALID] * (
            RACERS - 1
        )
        winner = next(r for r in logins if r.status_code == 200).json()["data"]
        assert winner["userId"] == login_id

    # Exactly one session was opened: the winner's.
    assert count_rows(database_url, "sessions", login_id) == 1
    replays = [e for e in server.events() if e["event"] == "2fa.replay"]
    assert sorted(e["userId"] for e in replays) == sorted(
        [admin_id] * (RACERS - 1) + [login_id] * (RACERS - 1)
    )
