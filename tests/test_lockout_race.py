"""The two-factor lock under concurrent requests (issue 9, finding 8).

A user one wrong code away from the lock sends, at the same moment, more wrong codes and a
correct one, from several threads with their own clients on two app instances (so their own
database sessions: real concurrency on PostgreSQL; SQLite serialises the writes). Whatever the
order, the end state must be one that some serial order of the requests gives:

- the correct code first: it is accepted, the count restarts at 0 and every wrong code after
  it is counted (and none locks);
- a wrong code first: it locks; the correct code is refused and not consumed; no wrong code
  is counted after the lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from sessions_service.clock import utcnow
from sessions_service.data.models import Totp, User
from sessions_service.state import get_engine, new_session

from .bodies import LOGIN_TOTP_INVALID, LOGIN_TOTP_MAX, TOTP_INVALID, TOTP_MAX
from .concurrency import race
from .conftest import LOGIN, Helpers, Login, list_all, login_body, make_app, wrong_code

MAX_ATTEMPTS = 10
ROUNDS = 12
WRONG_RACERS = 3


@pytest.fixture
def app_env() -> dict[str, str]:
    """No remembered checks: every request of every round presents its code."""
    return {"SESSIONS_2FA_REMEMBER_FOR": "0"}


@pytest.fixture
def second_app(tmp_path: Path, database_url: str, app: Flask) -> Iterator[Flask]:
    """Another app on the same database, as a second worker would be."""
    other = make_app(tmp_path / "second", database_url, SESSIONS_2FA_REMEMBER_FOR="0")
    yield other
    get_engine(other).dispose()


def _arm(app: Flask, user_id: str) -> None:
    """One wrong code away from the lock, unlocked, no TOTP step used yet."""
    with new_session(app) as db:
        db.execute(
            sa.update(User)
            .where(User.id == user_id)
            .values(twofa_failed_attempts=MAX_ATTEMPTS - 1, twofa_locked_until=None)
        )
        db.execute(sa.update(Totp).where(Totp.user_id == user_id).values(last_step=None))
        db.commit()


def _state(app: Flask, user_id: str) -> tuple[int, bool, int | None]:
    """(failed attempts, locked now, last accepted TOTP step) as stored."""
    with new_session(app) as db:
        failed, until = db.execute(
            sa.select(User.twofa_failed_attempts, User.twofa_locked_until).where(User.id == user_id)
        ).one()
        step = db.scalar(sa.select(Totp.last_step).where(Totp.user_id == user_id))
    return failed, until is not None and until > utcnow(), step


Answer = tuple[int, dict[str, Any]]


def _check_round(
    round_no: int,
    correct: Answer,
    wrong: list[Answer],
    invalid: Answer,
    locked: Answer,
    state: tuple[int, bool, int | None],
) -> None:
    """Assert one round ended in a state a serial order of its requests gives."""
    failed, is_locked, step = state
    if correct[0] == 200:
        assert not is_locked, (round_no, "code accepted, yet the user ended up locked", state)
        assert wrong == [invalid] * len(wrong), (round_no, wrong)
        assert failed == len(wrong), (round_no, "every wrong code after the success counts")
        assert step is not None
        return
    assert correct == locked, (round_no, correct)
    assert is_locked, (round_no, state)
    assert failed == 0, (round_no, f"{failed} failure(s) counted after the lock")
    assert step is None, (round_no, "the refused code was consumed")
    assert wrong == [locked] * len(wrong), (round_no, wrong)


def _two_clients(app: Flask, second_app: Flask, count: int) -> list[Any]:
    return [(app if i % 2 == 0 else second_app).test_client() for i in range(count)]


def test_endpoint_lock_race_never_accepts_for_a_locked_user(
    app: Flask, second_app: Flask, helpers: Helpers
) -> None:
    account = helpers.admin("tfa", totp=True)
    logins = [helpers.session_for(account) for _ in range(WRONG_RACERS + 1)]
    clients = _two_clients(app, second_app, WRONG_RACERS + 1)
    bad = wrong_code(account)

    def call(index: int, code: str, login: Login) -> Callable[[], Answer]:
        def send() -> Answer:
            response = list_all(clients[index], login, code)
            return response.status_code, response.get_json()

        return send

    for round_no in range(ROUNDS):
        _arm(app, account.id)
        calls = [call(0, account.code(), logins[0])]
        calls += [call(i, bad, logins[i]) for i in range(1, WRONG_RACERS + 1)]
        correct, *wrong = race(calls)
        state = _state(app, account.id)
        _check_round(round_no, correct, wrong, (400, TOTP_INVALID), (400, TOTP_MAX), state)


def test_login_lock_race_never_opens_a_session_for_a_locked_user(
    app: Flask, second_app: Flask, helpers: Helpers
) -> None:
    account = helpers.admin("tfa", totp=True)
    clients = _two_clients(app, second_app, WRONG_RACERS + 1)
    bad = wrong_code(account)

    def call(index: int, code: str) -> Callable[[], Answer]:
        def send() -> Answer:
            response = clients[index].post(LOGIN, json=login_body(account, code))
            body = response.get_json()
            return response.status_code, {} if response.status_code == 200 else body

        return send

    sessions_before = 0
    for round_no in range(ROUNDS):
        _arm(app, account.id)
        calls = [call(0, account.code())]
        calls += [call(i, bad) for i in range(1, WRONG_RACERS + 1)]
        correct, *wrong = race(calls)
        state = _state(app, account.id)
        _check_round(
            round_no,
            correct,
            wrong,
            (401, LOGIN_TOTP_INVALID),
            (401, LOGIN_TOTP_MAX),
            state,
        )
        stored = helpers.sql("SELECT count(*) FROM sessions WHERE user_id = :u", u=account.id)
        opened = stored[0][0] - sessions_before
        assert opened == (1 if correct[0] == 200 else 0), (round_no, opened)
        sessions_before = stored[0][0]
