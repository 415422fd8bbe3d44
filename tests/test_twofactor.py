"""Two-factor on list.all and at login (SPEC §3).

Each TOTP step is accepted once per user, so every test needs at most one or two fresh codes.
"""

from __future__ import annotations

import time

import pytest

from .bodies import (
    LOGIN_FAILED,
    LOGIN_TOTP_INVALID,
    LOGIN_TOTP_REQUIRED,
    TOTP_INVALID,
    TOTP_MAX_ATTEMPTS_ERROR,
    TOTP_REQUIRED,
    totp_invalid,
    totp_required,
)
from .conftest import CHROME_113, FIREFOX_112, list_all, login_body, wrong_code

LIST_ALL = "/api/v1/sessions/list.all"
LOGIN = "/api/v1/login"
MAX_ATTEMPTS = 10


@pytest.fixture
def mid_step():
    """Start clear of a TOTP step boundary, so code(-1)/code(+1) still mean what they say.

    Not a timing assertion: it only avoids the last half second of a 30-second step.
    """
    remaining = 30 - time.time() % 30
    if remaining < 0.5:
        time.sleep(remaining + 0.05)


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


# --- lockout -------------------------------------------------------------------------


def assert_locked_api(response):
    assert response.status_code == 400
    body = response.get_json()
    assert body["success"] is False
    assert body["errorType"] == "totp-max-attempts"
    assert body["error"] == TOTP_MAX_ATTEMPTS_ERROR


@pytest.mark.parametrize("kind", ["totp", "password"])
def test_tenth_wrong_code_locks(client, helpers, kind):
    if kind == "totp":
        account = helpers.admin(totp=True)
        bad = wrong_code(account)
    else:
        account = helpers.admin()
        bad = "0" * 64
    login = helpers.session_for(account)
    for attempt in range(1, MAX_ATTEMPTS):
        response = list_all(client, login, bad)
        assert response.status_code == 400, attempt
        assert response.get_json() == totp_invalid(kind), attempt
    assert_locked_api(list_all(client, login, bad))
    good = account.code() if kind == "totp" else account.digest
    assert_locked_api(list_all(client, login, good))
    assert_locked_api(list_all(client, helpers.session_for(account), good))


def test_lock_applies_at_login_and_is_not_extended(client, helpers, totp_admin):
    login = helpers.session_for(totp_admin)
    bad = wrong_code(totp_admin)
    for _ in range(MAX_ATTEMPTS):
        list_all(client, login, bad)
    until = helpers.sql("SELECT twofa_locked_until FROM users WHERE id = :id", id=totp_admin.id)
    response = client.post(LOGIN, json=login_body(totp_admin, totp_admin.code()))
    assert response.status_code == 401
    body = response.get_json()
    assert body["status"] == "error"
    assert body["error"] == "totp-max-attempts"
    assert_locked_api(list_all(client, login, bad))
    after = helpers.sql("SELECT twofa_locked_until FROM users WHERE id = :id", id=totp_admin.id)
    assert after == until


def test_wrong_codes_count_across_login_and_endpoints(client, helpers, totp_admin):
    login = helpers.session_for(totp_admin)
    bad = wrong_code(totp_admin)
    for _ in range(MAX_ATTEMPTS // 2):
        response = client.post(LOGIN, json=login_body(totp_admin, bad))
        assert response.status_code == 401
        assert response.get_json()["error"] == "totp-invalid"
    for _ in range(MAX_ATTEMPTS // 2 - 1):
        assert list_all(client, login, bad).get_json() == TOTP_INVALID
    final = client.post(LOGIN, json=login_body(totp_admin, bad))
    assert final.status_code == 401
    assert final.get_json()["status"] == "error"
    assert final.get_json()["error"] == "totp-max-attempts"
    assert_locked_api(list_all(client, login, totp_admin.code()))


def test_success_resets_the_failure_count(client, helpers, totp_admin):
    login = helpers.session_for(totp_admin)
    bad = wrong_code(totp_admin)
    for _ in range(MAX_ATTEMPTS - 1):
        assert list_all(client, login, bad, user_agent=CHROME_113).get_json() == TOTP_INVALID
    assert_ok(list_all(client, login, totp_admin.code(), user_agent=CHROME_113))
    for _ in range(MAX_ATTEMPTS - 1):
        response = list_all(client, login, bad, user_agent=FIREFOX_112)
        assert response.status_code == 400
        assert response.get_json() == TOTP_INVALID


def test_missing_codes_do_not_count(client, helpers, totp_admin):
    login = helpers.session_for(totp_admin)
    for _ in range(MAX_ATTEMPTS):
        assert list_all(client, login).get_json() == TOTP_REQUIRED
    assert_ok(list_all(client, login, totp_admin.code()))


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
