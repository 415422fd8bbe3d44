"""The two-factor lock (SPEC §3): the tenth wrong code in a row locks a user's two-factor
for 15 minutes, at login and on the endpoints alike, and nothing moves the lock while it holds.

The count and the lock live in the users row, so two app instances on one database (as two
gunicorn workers would be) share them. Races for the lock: test_lockout_race.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from sessions_service.clock import FrozenClock, utcnow
from sessions_service.state import get_engine

from .bodies import (
    LOGIN_TOTP_INVALID,
    TOTP_INVALID,
    TOTP_MAX,
    TOTP_MAX_ATTEMPTS_ERROR,
    TOTP_REQUIRED,
    totp_invalid,
)
from .conftest import (
    CHROME_113,
    FIREFOX_112,
    LOGIN,
    Codes,
    Helpers,
    count_sessions,
    last_step,
    list_all,
    login_body,
    make_app,
    post_login,
    twofa_state,
    wrong_code,
)

MAX_ATTEMPTS = 10
LOCK = timedelta(minutes=15)
REMEMBER_OFF = {"SESSIONS_2FA_REMEMBER_FOR": "0"}
"""Remembering a passed check off, so every request has to present a code."""


@pytest.fixture
def totp_admin(helpers):
    return helpers.admin(totp=True)


def assert_ok(response):
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["success"] is True


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


# --- shared by instances ---------------------------------------------------------


@pytest.mark.parametrize("app_env", [REMEMBER_OFF], ids=["remember-off"])
def test_lockout_is_shared_by_instances_and_not_extended(
    clock: FrozenClock, app: Flask, helpers: Helpers, database_url: str, tmp_path: Path
) -> None:
    account = helpers.admin(totp=True)
    assert account.totp_secret is not None
    codes = Codes(account.totp_secret)
    login = helpers.session_for(account)
    second = make_app(tmp_path / "second", database_url, SESSIONS_2FA_REMEMBER_FOR="0")
    clients = [app.test_client(), second.test_client()]
    try:
        for attempt in range(3):
            response = list_all(clients[attempt % 2], login, wrong_code(account))
            assert response.status_code == 400
            assert response.get_json() == TOTP_INVALID
        assert twofa_state(app, account.id)[0] == 3
        response = list_all(clients[1], login, codes.next())
        assert response.status_code == 200, response.get_json()
        assert twofa_state(app, account.id)[0] == 0  # success resets the count

        # Nine wrong codes after the success: not locked yet, wherever they land.
        for attempt in range(MAX_ATTEMPTS - 1):
            response = list_all(clients[attempt % 2], login, wrong_code(account))
            assert response.status_code == 400
            assert response.get_json() == TOTP_INVALID, attempt
        assert twofa_state(second, account.id) == (MAX_ATTEMPTS - 1, None)

        tenth = list_all(clients[1], login, wrong_code(account))
        assert tenth.status_code == 400
        assert tenth.get_json() == TOTP_MAX
        _, locked_until = twofa_state(app, account.id)
        assert locked_until == utcnow() + LOCK

        # A minute later: a correct code is refused, on either instance; the lock does not move.
        clock.advance(timedelta(minutes=1))
        for client in clients:
            refused = list_all(client, login, account.code())
            assert refused.status_code == 400
            assert refused.get_json() == TOTP_MAX
            again = list_all(client, login, wrong_code(account))
            assert again.get_json() == TOTP_MAX
        assert twofa_state(second, account.id)[1] == locked_until
        assert last_step(app, account.id) == codes.last  # the refused code was not consumed

        # Locked up to its last second; at its end the next fresh code is accepted.
        clock.advance(locked_until - utcnow() - timedelta(seconds=1))
        assert list_all(clients[1], login, account.code()).get_json() == TOTP_MAX
        clock.advance(timedelta(seconds=1))
        response = list_all(clients[0], login, codes.next())
        assert response.status_code == 200, response.get_json()
        assert twofa_state(app, account.id) == (0, locked_until)
    finally:
        get_engine(second).dispose()


@pytest.mark.parametrize("app_env", [REMEMBER_OFF], ids=["remember-off"])
def test_login_code_counts_towards_the_same_lock(
    clock: FrozenClock, app: Flask, helpers: Helpers, database_url: str, tmp_path: Path
) -> None:
    account = helpers.admin("tfa", totp=True)
    login = helpers.session_for(account)
    second = make_app(tmp_path / "second", database_url, SESSIONS_2FA_REMEMBER_FOR="0")
    clients = [app.test_client(), second.test_client()]
    try:
        # Nine wrong codes, alternating login and list.all and the two instances.
        for attempt in range(MAX_ATTEMPTS - 1):
            client = clients[attempt % 2]
            if attempt % 3 == 0:
                response = list_all(client, login, wrong_code(account))
                assert response.get_json() == TOTP_INVALID
            else:
                response = post_login(client, account, wrong_code(account))
                assert response.status_code == 401
                assert response.get_json() == LOGIN_TOTP_INVALID
        tenth = post_login(clients[1], account, wrong_code(account))
        assert tenth.status_code == 401
        body = tenth.get_json()
        assert body["status"] == "error"
        assert body["error"] == "totp-max-attempts"
        _, locked_until = twofa_state(app, account.id)
        assert locked_until == utcnow() + LOCK

        clock.advance(timedelta(minutes=1))
        refused = post_login(clients[0], account, account.code())
        assert refused.status_code == 401
        assert refused.get_json()["error"] == "totp-max-attempts"
        assert post_login(clients[1], account, wrong_code(account)).status_code == 401
        assert twofa_state(app, account.id)[1] == locked_until
        assert count_sessions(app, account.id) == 1  # only the one written by the test

        clock.advance(locked_until - utcnow() - timedelta(seconds=1))
        assert post_login(clients[0], account, account.code()).get_json()["error"] == (
            "totp-max-attempts"
        )
        clock.advance(timedelta(seconds=1))
        accepted = post_login(clients[1], account, account.code())
        assert accepted.status_code == 200, accepted.get_json()
        assert twofa_state(app, account.id)[0] == 0
        assert count_sessions(app, account.id) == 2
    finally:
        get_engine(second).dispose()
