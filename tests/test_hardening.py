"""Hardening (issue 5): two-factor abuse, hostile input, database faults, events, secrets.

Real parts only: real gunicorn workers (``sessions-service serve``), the real databases, a real
TCP proxy (a thread in this process) standing between the app and PostgreSQL so an outage can be
made and ended without touching the PostgreSQL server. Every wait, thread and subprocess is
bounded; nothing asserts on elapsed time.
"""

from __future__ import annotations

import json
import logging
import re
import select
import socket
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask
from flask.testing import FlaskClient

from sessions_service import create_app
from sessions_service.clock import utcnow
from sessions_service.data.models import Totp, User, UserSession
from sessions_service.state import get_engine, new_session, settings_of

from .bodies import (
    LOGGED_OUT,
    LOGIN_FAILED,
    LOGIN_TOTP_INVALID,
    NOT_FOUND,
    TOO_LARGE,
    TOTP_INVALID,
    TOTP_MAX,
    UNAVAILABLE,
)
from .concurrency import at_once
from .conftest import (
    CHROME_113,
    SECRET_KEY,
    Account,
    Helpers,
    Login,
    attached_to_security_log,
    list_all,
    login_body,
    make_app,
    wrong_code,
)
from .servers import (
    CLI_TIMEOUT,
    HTTP_TIMEOUT,
    cli_json,
    free_port,
    run_cli,
    running_server,
    service_env,
    start_serve,
    stop,
)

LOGIN = "/api/v1/login"
LOGOUT = "/api/v1/logout"
LIST = "/api/v1/sessions/list"
LIST_ALL = "/api/v1/sessions/list.all"
INFO = "/api/v1/sessions/info"
INFO_ADMIN = "/api/v1/sessions/info.admin"
LOGOUT_ME = "/api/v1/sessions/logout.me"
LOGOUT_ANY = "/api/v1/sessions/logout"

THREAD_TIMEOUT = 30
MAX_ATTEMPTS = 10
RACERS = 8

EVENT_KEYS = {"time", "event", "outcome", "userId", "ip", "requestId"}
GENERATED_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
FORGED = '\r\n{"event":"forged","outcome":"success"}'

pg_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def app_env() -> dict[str, str]:
    """Remembering a passed check is off here, so every request has to present a code."""
    return {"SESSIONS_2FA_REMEMBER_FOR": "0"}


# --- helpers ----------------------------------------------------------------------------


class Codes:
    """Fresh TOTP codes for one secret, each for a later time step than the one before."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last: int | None = None

    def next(self) -> str:
        current = int(time.time()) // 30
        step = current if self.last is None or self.last < current else self.last + 1
        assert step <= current + 1, "test bug: more than two fresh codes asked within one step"
        self.last = step
        return self.totp.at(step * 30)


def twofa_state(app: Flask, user_id: str) -> tuple[int, Any]:
    """(failed attempts, locked until) as stored in the users row."""
    with new_session(app) as db:
        row = db.execute(
            sa.select(User.twofa_failed_attempts, User.twofa_locked_until).where(User.id == user_id)
        ).one()
        return row[0], row[1]


def last_step(app: Flask, user_id: str) -> int | None:
    with new_session(app) as db:
        step: int | None = db.scalar(sa.select(Totp.last_step).where(Totp.user_id == user_id))
        return step


def count_rows(database_url: str, table: str, user_id: str) -> int:
    """Rows of ``table`` for a user, read with a connection of the test's own."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            query = sa.text(f"SELECT count(*) FROM {table} WHERE user_id = :u")
            return int(conn.execute(query, {"u": user_id}).scalar() or 0)
    finally:
        engine.dispose()


def count_sessions(app: Flask, user_id: str) -> int:
    with new_session(app) as db:
        stmt = sa.select(sa.func.count()).where(UserSession.user_id == user_id)
        return int(db.scalar(stmt) or 0)


def login_with(client: FlaskClient, account: Account, code: str | None = None) -> Any:
    return client.post(LOGIN, json=login_body(account, code), headers={"User-Agent": CHROME_113})


def assert_json_error(response: Any) -> dict[str, Any]:
    """A JSON body without any trace of a stack trace."""
    assert response.headers["Content-Type"].startswith("application/json"), response.data
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "sqlalchemy" not in text.lower()
    body: dict[str, Any] = response.get_json()
    return body


def in_thread(fn: Callable[[], Any], timeout: float = THREAD_TIMEOUT) -> tuple[Any, bool]:
    """Run ``fn`` in a thread, waiting at most ``timeout``; returns (result, finished)."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:  # reported by the caller
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return None, False
    if "error" in result:
        raise result["error"]
    return result["value"], True


# --- a TCP proxy in front of PostgreSQL, to cut the database off and bring it back ------


class TcpProxy:
    """127.0.0.1:<port> → upstream. ``stop()`` closes the port and every open connection;
    ``start()`` listens again on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._stopping = threading.Event()
        self._listener = listener
        self._spawn(self._accept_loop, listener, self._stopping)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            sockets, self._sockets = self._sockets, []
            threads, self._threads = self._threads, []
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5)
        assert not any(t.is_alive() for t in threads), "proxy threads did not stop"
        for sock in sockets:
            sock.close()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream, stopping)

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket, stopping: threading.Event) -> None:
        a.settimeout(5)
        b.settimeout(5)
        try:
            while not stopping.is_set():
                readable, _, _ = select.select([a, b], [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def via_port(database_url: str, port: int) -> str:
    return sa.make_url(database_url).set(port=port).render_as_string(hide_password=False)


@pytest.fixture
def pg_proxy(database_url: str) -> Iterator[TcpProxy]:
    url = sa.make_url(database_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


# --- security events ------------------------------------------------------------------


class EventLog(logging.Handler):
    """Collects the records of ``sessions_service.security``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[dict[str, Any]]:
        """The events since the last take: one JSON object per record, one line each."""
        records, self.records = self.records, []
        events = []
        for record in records:
            message = self.format(record)
            self.seen.append(message)
            assert "\n" not in message and "\r" not in message, message
            event = json.loads(message)
            assert isinstance(event, dict), message
            assert set(event) >= EVENT_KEYS, message
            assert ISO_TIME.match(event["time"]), message
            events.append(event)
        return events


@pytest.fixture
def security_log(app: Flask) -> Iterator[EventLog]:
    """Attached for the test (events rendered as their JSON line), removed afterwards."""
    handler = EventLog()
    with attached_to_security_log(handler):
        yield handler


def pairs(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["event"], e["outcome"]) for e in events]


# =========================================================================================
# Replay under concurrency: 8 clients, 4 gunicorn workers, one code
# =========================================================================================


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


# =========================================================================================
# Lockout lives in the database: two app instances ("workers") share the counter
# =========================================================================================


def test_lockout_is_shared_by_instances_and_not_extended(
    app: Flask, helpers: Helpers, database_url: str, tmp_path: Path
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
        assert locked_until is not None
        assert locked_until > utcnow() + timedelta(minutes=14)

        # While locked: a correct code is refused, on either instance; the lock does not move.
        for client in clients:
            refused = list_all(client, login, account.code())
            assert refused.status_code == 400
            assert refused.get_json() == TOTP_MAX
            again = list_all(client, login, wrong_code(account))
            assert again.get_json() == TOTP_MAX
        assert twofa_state(second, account.id)[1] == locked_until
        assert last_step(app, account.id) == codes.last  # the refused code was not consumed

        _unlock(app, account.id)
        response = list_all(clients[0], login, codes.next())
        assert response.status_code == 200, response.get_json()
        assert twofa_state(app, account.id)[0] == 0
    finally:
        get_engine(second).dispose()


def _unlock(app: Flask, user_id: str) -> None:
    """Move the lock into the past, as if 15 minutes had gone by."""
    with new_session(app) as db:
        db.execute(
            sa.update(User)
            .where(User.id == user_id)
            .values(twofa_locked_until=utcnow() - timedelta(seconds=1))
        )
        db.commit()


def test_login_code_counts_towards_the_same_lock(
    app: Flask, helpers: Helpers, database_url: str, tmp_path: Path
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
                response = login_with(client, account, wrong_code(account))
                assert response.status_code == 401
                assert response.get_json() == LOGIN_TOTP_INVALID
        tenth = login_with(clients[1], account, wrong_code(account))
        assert tenth.status_code == 401
        body = tenth.get_json()
        assert body["status"] == "error"
        assert body["error"] == "totp-max-attempts"
        _, locked_until = twofa_state(app, account.id)
        assert locked_until is not None

        refused = login_with(clients[0], account, account.code())
        assert refused.status_code == 401
        assert refused.get_json()["error"] == "totp-max-attempts"
        assert login_with(clients[1], account, wrong_code(account)).status_code == 401
        assert twofa_state(app, account.id)[1] == locked_until
        assert count_sessions(app, account.id) == 1  # only the one written by the test

        _unlock(app, account.id)
        accepted = login_with(clients[1], account, account.code())
        assert accepted.status_code == 200, accepted.get_json()
        assert twofa_state(app, account.id)[0] == 0
        assert count_sessions(app, account.id) == 2
    finally:
        get_engine(second).dispose()


# =========================================================================================
# Database faults
# =========================================================================================


@pg_only
def test_database_outage_is_503_and_recovers_without_restart(
    helpers: Helpers, database_url: str, pg_proxy: TcpProxy, tmp_path: Path
) -> None:
    admin = helpers.admin(password="pw-admin")
    login = helpers.session_for(admin, bypass_2fa=True)
    proxied = make_app(tmp_path / "proxied", via_port(database_url, pg_proxy.port))
    client = proxied.test_client()
    requests_to_try: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", LIST_ALL, {"headers": login.headers()}),
        ("GET", LIST, {"headers": login.headers()}),
        ("GET", INFO, {"headers": login.headers(), "query_string": {"sessionId": "x" * 17}}),
        ("POST", LOGIN, {"json": {"user": admin.username, "password": "pw-admin"}}),
        ("POST", LOGOUT_ME, {"headers": login.headers(), "json": {"sessionId": "x" * 17}}),
    ]
    try:
        # Down before the app's first request: it has never had a connection.
        pg_proxy.stop()
        for method, path, kwargs in requests_to_try:
            response = client.open(path, method=method, **kwargs)
            assert response.status_code == 503, (path, response.get_data())
            assert assert_json_error(response) == UNAVAILABLE
            assert response.headers.get("X-Request-Id")
        pg_proxy.start()
        recovered = client.get(LIST_ALL, headers=login.headers())
        assert recovered.status_code == 200, recovered.get_json()
        assert recovered.get_json()["total"] == 1

        # Down while the app holds pooled connections.
        pg_proxy.stop()
        for method, path, kwargs in requests_to_try:
            response = client.open(path, method=method, **kwargs)
            assert response.status_code == 503, (path, response.get_data())
            assert assert_json_error(response) == UNAVAILABLE
        assert count_sessions(helpers.app, admin.id) == 1  # the 503 login wrote nothing
        pg_proxy.start()
        for _ in range(3):
            again = client.get(LIST_ALL, headers=login.headers())
            assert again.status_code == 200, again.get_json()
            assert again.get_json()["total"] == 1
    finally:
        get_engine(proxied).dispose()


@pg_only
def test_database_outage_through_gunicorn(
    helpers: Helpers, database_url: str, pg_proxy: TcpProxy, tmp_path: Path
) -> None:
    admin = helpers.admin()
    login = helpers.session_for(admin, bypass_2fa=True)
    env = service_env(via_port(database_url, pg_proxy.port))
    with running_server(env, tmp_path / "serve.log", workers=2, wait_for_workers=True) as server:
        headers = login.headers()
        for _ in range(4):  # enough for both workers to hold a connection
            up = requests.get(server.url + LIST_ALL, headers=headers, timeout=HTTP_TIMEOUT)
            assert up.status_code == 200, up.text
        pg_proxy.stop()
        for _ in range(4):
            down = requests.get(server.url + LIST_ALL, headers=headers, timeout=HTTP_TIMEOUT)
            assert down.status_code == 503, down.text
            assert down.json() == UNAVAILABLE
            assert down.headers["Content-Type"].startswith("application/json")
        pg_proxy.start()
        for _ in range(4):
            back = requests.get(server.url + LIST_ALL, headers=headers, timeout=HTTP_TIMEOUT)
            assert back.status_code == 200, back.text
            assert back.json()["total"] == 1
    assert "Traceback" not in server.log.read_text(errors="replace")


@pg_only
def test_statement_timeout_is_503_then_200(
    helpers: Helpers, database_url: str, tmp_path: Path
) -> None:
    admin = helpers.admin()
    login = helpers.session_for(admin, bypass_2fa=True)
    slow = make_app(tmp_path / "slow", database_url, SESSIONS_DB_STATEMENT_TIMEOUT_MS="300")
    client = slow.test_client()
    with get_engine(slow).connect() as conn:
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "300ms"
    try:
        with table_lock(database_url) as release:
            response, finished = in_thread(lambda: client.get(LIST_ALL, headers=login.headers()))
            release()
            if not finished:
                pytest.fail("list.all waited on the lock past the statement timeout")
            assert response.status_code == 503, response.get_data()
            assert assert_json_error(response) == UNAVAILABLE
        after = client.get(LIST_ALL, headers=login.headers())
        assert after.status_code == 200, after.get_json()
        assert after.get_json()["total"] == 1
    finally:
        get_engine(slow).dispose()


@contextmanager
def table_lock(database_url: str) -> Iterator[Callable[[], None]]:
    """Hold the database against writers of ``sessions`` (PostgreSQL: every access) until
    ``release()`` or the end of the block.

    PostgreSQL: ACCESS EXCLUSIVE on the ``sessions`` table. SQLite: a write transaction
    (``BEGIN IMMEDIATE``) on the file.
    """
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        conn = sqlite3.connect(url.database, timeout=5, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                conn.execute("ROLLBACK")
                released = True

        try:
            yield release
        finally:
            release()
            conn.close()
        return
    engine = sa.create_engine(database_url)
    pg_conn = engine.connect()
    pg_conn.execute(sa.text("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE"))

    def release_pg() -> None:
        if pg_conn.in_transaction():
            pg_conn.rollback()

    try:
        yield release_pg
    finally:
        release_pg()
        pg_conn.close()
        engine.dispose()


def test_locked_database_login_is_503_and_leaves_nothing_half_written(
    helpers: Helpers, database_url: str, tmp_path: Path
) -> None:
    plain = helpers.user("plain", password="pw-plain")
    tfa = helpers.user("tfa", password="pw-tfa", totp=True)
    slow = make_app(tmp_path / "slow", database_url, SESSIONS_DB_STATEMENT_TIMEOUT_MS="300")
    client = slow.test_client()
    code = tfa.code()
    try:
        with table_lock(database_url) as release:
            first, done_first = in_thread(lambda: login_with(client, plain))
            second, done_second = in_thread(lambda: login_with(client, tfa, code))
            release()
            assert done_first and done_second, "login waited on the lock without a bound"
        for response in (first, second):
            assert response.status_code == 503, response.get_data()
            assert assert_json_error(response) == UNAVAILABLE
        # Nothing of either login is left: no session, and the TOTP step is not consumed.
        assert count_sessions(helpers.app, plain.id) == 0
        assert count_sessions(helpers.app, tfa.id) == 0
        assert last_step(helpers.app, tfa.id) is None

        ok = login_with(client, plain)
        assert ok.status_code == 200, ok.get_json()
        assert count_sessions(helpers.app, plain.id) == 1
        # The very same code works now: the consumed step and the session commit together.
        ok = login_with(client, tfa, code)
        assert ok.status_code == 200, ok.get_json()
        assert last_step(helpers.app, tfa.id) is not None
        token = ok.get_json()["data"]["authToken"]
        assert count_sessions(helpers.app, tfa.id) == 1
        assert helpers.session_id_for(token)
    finally:
        get_engine(slow).dispose()


# =========================================================================================
# Hostile input: never a 500
# =========================================================================================


@dataclass
class World:
    """What the hostile cases run against: three active sessions."""

    admin: Login  # admin, bypass_2fa: reaches every view
    totp: Login  # a TOTP admin's session (two-factor not bypassed)
    user: Login  # a plain user's session
    total: int = 3


@pytest.fixture
def world(helpers: Helpers) -> World:
    admin = helpers.admin("root")
    tfa = helpers.admin("tfa", totp=True)
    user = helpers.user("mallory", password="pw-mallory")
    return World(
        admin=helpers.session_for(admin, bypass_2fa=True),
        totp=helpers.session_for(tfa),
        user=helpers.session_for(user),
    )


@dataclass(frozen=True)
class Expect:
    """Expected answer: one of ``statuses``; ``body`` exact or ``subset`` of keys."""

    statuses: tuple[int, ...]
    body: dict[str, Any] | None = None
    subset: dict[str, Any] = field(default_factory=dict)
    total: str | None = None  # "none" → total 0, "all" → every session of the list


def invalid_params() -> Expect:
    return Expect((400,), subset={"success": False, "errorType": "invalid-params"})


def invalid_sort() -> Expect:
    return Expect((400,), subset={"success": False, "errorType": "error-invalid-sort"})


def page(total: str) -> Expect:
    return Expect((200,), subset={"success": True}, total=total)


def exact(status: int, body: dict[str, Any]) -> Expect:
    return Expect((status,), body=body)


def repeated(name: str) -> Expect:
    return exact(
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
        return invalid_params()
    if param == "sort":
        return invalid_sort()
    if param == "sessionId":
        return invalid_params() if name == "nul" else exact(404, NOT_FOUND)
    # filter: a regular expression; metacharacters match only themselves (nothing here).
    if name in ("nul", "backslash"):
        return invalid_params()
    return page("all" if name == "dot-star" else "none")


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
        bad = invalid_params() if name == "nul" else None
        for path in (LOGOUT_ME, LOGOUT_ANY):
            cases.append(
                Case(
                    f"body-{SHORT[path]}-sessionId-{name}",
                    "POST",
                    path,
                    "admin",
                    bad or exact(404, NOT_FOUND),
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
                    bad or exact(401, LOGIN_FAILED),
                    json={key: value, "password": "pw-mallory"},
                )
            )
        cases.append(
            Case(
                f"body-login-password-{name}",
                "POST",
                LOGIN,
                None,
                bad or exact(401, LOGIN_FAILED),
                json={"user": "mallory", "password": value},
            )
        )
        cases.append(
            Case(
                f"body-login-code-{name}",
                "POST",
                LOGIN,
                None,
                bad or exact(401, LOGIN_TOTP_INVALID),
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
                    exact(401, LOGGED_OUT),
                    headers={header: value},
                )
            )
        cases.append(
            Case(
                f"header-x-2fa-code-{name}",
                "GET",
                LIST_ALL,
                "totp",
                exact(400, TOTP_INVALID),
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
                    page("all"),
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


BIG = "x" * (64 * 1024 + 1)
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
                Case(f"shape-{SHORT[path]}-{name}", "POST", path, who, invalid_params(), **shape)
            )
        cases.append(
            Case(
                f"shape-{SHORT[path]}-too-large",
                "POST",
                path,
                who,
                exact(413, TOO_LARGE),
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
        cases.append(Case(f"typed-{name}", "POST", path, who, invalid_params(), json=body))
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
                repeated(param),
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
            "repeated-count", "GET", LIST_ALL, "admin", repeated("count"), query="count=1&count=2"
        ),  # fmt: skip
        Case(
            "repeated-offset", "GET", LIST, "admin", repeated("offset"), query="offset=0&offset=0"
        ),  # fmt: skip
        Case("params-unknown", "GET", LIST_ALL, "admin", invalid_params(), query="token=x"),
        Case("params-nul-in-name", "GET", LIST_ALL, "admin", invalid_params(), query="fil%00ter=a"),
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


def _group(case_id: str) -> str:
    """Cases that differ only in the hostile value share one database setup."""
    for name in HOSTILE_VALUES:
        if case_id.endswith("-" + name):
            return case_id[: -len(name) - 1]
    parts = case_id.split("-")
    return "-".join(parts[:2]) if parts[0] == "shape" else parts[0]


HOSTILE_GROUPS: dict[str, list[Case]] = {}
for _case in HOSTILE:
    HOSTILE_GROUPS.setdefault(_group(_case.id), []).append(_case)


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


@pytest.mark.parametrize("group", list(HOSTILE_GROUPS))
def test_hostile_input_is_never_a_500(
    client: FlaskClient, world: World, helpers: Helpers, group: str
) -> None:
    """Each case of the group (ids in HOSTILE) is checked; every failing id is reported."""
    failures = []
    for case in HOSTILE_GROUPS[group]:
        try:
            _check(case, _send(client, world, case), world, helpers)
        except AssertionError as exc:
            failures.append(f"{case.id}: {exc}")
    assert not failures, "\n".join(failures)


def test_exponential_pattern_answers_with_the_right_total(
    client: FlaskClient, helpers: Helpers
) -> None:
    admin = helpers.admin()
    login = helpers.session_for(admin, bypass_2fa=True)
    # Usernames must match SESSIONS_USERNAME_PATTERN; display names carry the hostile runs.
    helpers.session_for(helpers.user("a" * 60 + ".x", name="a" * 200 + "!"))
    helpers.session_for(helpers.user("a" * 60, name="b" * 200 + "!"))
    rows = helpers.sql(
        "SELECT u.username, u.name, s.device_name, s.device_type, s.device_os_name, s.id, "
        "s.user_id, s.ip, s.host FROM sessions s JOIN users u ON u.id = s.user_id"
    )
    # (a+)+$ case-insensitively: some value ends in "a" (no regex engine needed to know).
    expected = sum(any((v or "").lower().endswith("a") for v in row) for row in rows)
    assert expected >= 1
    response = client.get(LIST_ALL, headers=login.headers(), query_string={"filter": "(a+)+$"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["total"] == expected


def test_gunicorn_refuses_over_long_headers_and_raw_bytes(
    database_url: str, tmp_path: Path
) -> None:
    env = service_env(database_url)
    with running_server(env, tmp_path / "serve.log", workers=1, wait_for_workers=True) as server:
        server.cli("users", "create", "root", "--password", "pw", "--role", "admin")
        token = server.cli("tokens", "create", "root", "--bypass-2fa")
        headers = {"X-User-Id": token["userId"], "X-Auth-Token": token["authToken"]}
        long_header = requests.get(
            server.url + LIST_ALL,
            headers={**headers, "X-Padding": "a" * 20 * 1024},
            timeout=HTTP_TIMEOUT,
        )
        # gunicorn refuses it before the app: 400 (gunicorn ≥ 23 says 431, the precise code).
        assert long_header.status_code in (400, 431), long_header.text
        long_token = requests.get(
            server.url + LIST_ALL,
            headers={"X-User-Id": token["userId"], "X-Auth-Token": "t" * 20 * 1024},
            timeout=HTTP_TIMEOUT,
        )
        assert long_token.status_code in (400, 431), long_token.text
        long_line = requests.get(
            server.url + LIST_ALL + "?filter=" + "a" * 10_000, headers=headers, timeout=HTTP_TIMEOUT
        )
        assert long_line.status_code in (400, 414), long_line.text
        raw = _raw_get(server.port, b"/api/v1/sessions/list.all?filter=\xff\xfe", headers)
        assert raw.split(b"\r\n", 1)[0].split(b" ")[1] in (b"200", b"400"), raw[:300]
        fine = requests.get(server.url + LIST_ALL, headers=headers, timeout=HTTP_TIMEOUT)
        assert fine.status_code == 200, fine.text
    assert "Traceback" not in server.log.read_text(errors="replace")


def _raw_get(port: int, target: bytes, headers: dict[str, str]) -> bytes:
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [f"{k}: {v}".encode() for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# =========================================================================================
# Security events and request ids
# =========================================================================================


def test_security_events_one_json_line_each_and_no_secret(
    app: Flask,
    client: FlaskClient,
    helpers: Helpers,
    security_log: EventLog,
    database_url: str,
) -> None:
    admin = helpers.admin("secadmin", password="admin-Pa55word!", totp=True)
    user = helpers.user("secuser", password="user-Pa55word!")
    assert admin.totp_secret is not None
    codes = Codes(admin.totp_secret)
    sent_codes: list[str] = []
    tokens: list[str] = []

    def expect(response: Any, events: list[tuple[str, str]], user_id: str | None) -> None:
        got = security_log.take()
        assert pairs(got) == events, got
        for event in got:
            assert event["userId"] == user_id, event
            assert event["ip"] == "127.0.0.1"
            assert event["requestId"] == response.headers["X-Request-Id"]

    ok = client.post(LOGIN, json={"user": "secuser", "password": user.password})
    assert ok.status_code == 200
    tokens.append(ok.get_json()["data"]["authToken"])
    expect(ok, [("login", "success")], user.id)
    user_login = Login(user.id, tokens[-1], helpers.session_id_for(tokens[-1]))

    unknown = client.post(LOGIN, json={"user": "nobody", "password": user.password})
    assert unknown.status_code == 401
    expect(unknown, [("login", "failure")], None)
    wrong = client.post(LOGIN, json={"user": "secuser", "password": "not-" + user.password})
    assert wrong.status_code == 401
    expect(wrong, [("login", "failure")], user.id)

    bogus = client.get(LIST, headers={"X-User-Id": user.id, "X-Auth-Token": "bogus-token"})
    assert bogus.status_code == 401
    expect(bogus, [("auth", "failure")], None)

    denied = client.get(LIST_ALL, headers=user_login.headers())
    assert denied.status_code == 403
    expect(denied, [("permission", "denied")], user.id)

    admin_login = helpers.session_for(admin)
    tokens.append(admin_login.token)
    sent_codes.append(wrong_code(admin))
    failed = list_all(client, admin_login, sent_codes[-1])
    assert failed.status_code == 400
    expect(failed, [("2fa", "failure")], admin.id)

    sent_codes.append(codes.next())
    passed = list_all(client, admin_login, sent_codes[-1])
    assert passed.status_code == 200
    expect(passed, [("2fa", "success")], admin.id)
    replayed = list_all(client, admin_login, sent_codes[-1])
    assert replayed.get_json() == TOTP_INVALID
    expect(replayed, [("2fa.replay", "failure")], admin.id)

    # The replay counted as the first failure after the success: 9 more lock.
    for _ in range(MAX_ATTEMPTS - 2):
        sent_codes.append(wrong_code(admin))
        expect(list_all(client, admin_login, sent_codes[-1]), [("2fa", "failure")], admin.id)
    sent_codes.append(wrong_code(admin))
    locked = list_all(client, admin_login, sent_codes[-1])
    assert locked.get_json() == TOTP_MAX
    expect(locked, [("2fa.lockout", "failure")], admin.id)
    sent_codes.append(admin.code())
    while_locked = list_all(client, admin_login, sent_codes[-1])
    assert while_locked.get_json() == TOTP_MAX
    assert [e["event"] for e in security_log.take()] == ["2fa"]  # one line, not a new lockout

    # Revocations: an admin ends someone's session, a user ends their own, the operator all.
    exempt = helpers.session_for(admin, bypass_2fa=True)
    tokens.append(exempt.token)
    ended = client.post(
        LOGOUT_ANY, json={"sessionId": user_login.session_id}, headers=exempt.headers()
    )
    assert ended.status_code == 200, ended.get_json()
    expect(ended, [("session.logout", "success")], admin.id)
    own, other = helpers.session_for(user), helpers.session_for(user)
    tokens += [own.token, other.token]
    ended_own = client.post(LOGOUT_ME, json={"sessionId": other.session_id}, headers=own.headers())
    assert ended_own.status_code == 200, ended_own.get_json()
    expect(ended_own, [("session.logout", "success")], user.id)

    revoked = run_cli("sessions", "revoke", "--user", "secuser", env=service_env(database_url))
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout) == {"userId": user.id, "sessionsEnded": 1}
    cli_lines = [line for line in revoked.stderr.splitlines() if line.strip()]
    assert len(cli_lines) == 1, revoked.stderr
    cli_event = json.loads(cli_lines[0])
    assert set(cli_event) >= EVENT_KEYS
    assert (cli_event["event"], cli_event["outcome"], cli_event["userId"]) == (
        "session.revoke",
        "success",
        user.id,
    )
    assert client.get(LIST, headers=own.headers()).status_code == 401
    security_log.take()

    everything = "\n".join([*security_log.seen, revoked.stderr])
    secrets = [
        admin.password,
        user.password,
        admin.digest,
        user.digest,
        admin.totp_secret,
        *admin.backup_codes,
        *tokens,
    ]
    leaked = [s for s in secrets if s in everything]
    # Six digits may occur by chance inside a random hex request id; a leaked code stands alone.
    leaked += [
        c for c in sent_codes if re.search(rf"(?<![0-9A-Za-z]){c}(?![0-9A-Za-z])", everything)
    ]
    assert not leaked, leaked


@pytest.mark.parametrize(
    ("header", "path"),
    [("X-User-Id", LIST), ("User-Agent", LOGIN), ("X-Auth-Token", LIST), ("X-Request-Id", LIST)],
    ids=["x-user-id", "user-agent-login", "x-auth-token", "x-request-id"],
)
def test_crlf_in_input_cannot_forge_a_log_line(
    client: FlaskClient, helpers: Helpers, security_log: EventLog, header: str, path: str
) -> None:
    user = helpers.user("crlf", password="pw-crlf")
    environ = {"HTTP_" + header.upper().replace("-", "_"): "abc" + FORGED}
    if path == LOGIN:
        for body in (
            {"user": "crlf", "password": "pw-crlf"},
            {"user": "crlf" + FORGED, "password": "pw-crlf"},
        ):
            client.post(LOGIN, json=body, environ_overrides=environ)
        expected = 2
    else:
        environ.setdefault("HTTP_X_USER_ID", user.id)
        environ.setdefault("HTTP_X_AUTH_TOKEN", "bogus")
        response = client.get(path, environ_overrides=environ)
        assert response.status_code == 401
        expected = 1
    events = security_log.take()  # asserts one JSON object per record, no CR/LF
    assert len(events) == expected, events
    assert all(e["event"] != "forged" for e in events)


def _request_for(status: int, client: FlaskClient, world: World) -> Any:
    admin, user = world.admin.headers(), world.user.headers()
    if status == 200:
        return client.get(LIST, headers=admin)
    if status == 400:
        return client.get(LIST, headers=admin, query_string="count=x")
    if status == 401:
        return client.get(LIST)
    if status == 403:
        return client.get(LIST_ALL, headers=user)
    if status == 404:
        return client.get(INFO, headers=admin, query_string={"sessionId": "nope"})
    if status == 405:
        return client.get(LOGIN)
    if status == 413:
        return client.post(LOGIN, data='{"user": "' + BIG + '"}', content_type="application/json")
    raise AssertionError(status)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 405, 413])
def test_every_response_has_a_request_id(client: FlaskClient, world: World, status: int) -> None:
    response = _request_for(status, client, world)
    assert response.status_code == status, response.get_data()
    assert GENERATED_REQUEST_ID.match(response.headers.get("X-Request-Id", ""))
    unknown = client.get("/no/such/path")
    assert unknown.status_code == 404
    assert GENERATED_REQUEST_ID.match(unknown.headers.get("X-Request-Id", ""))


@pytest.mark.parametrize(
    ("incoming", "echoed"),
    [
        ("req-123_abc.DEF", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("has space", False),
        ("abc" + FORGED, False),
        ("abc\x00", False),
        ("<script>", False),
        ("", False),
    ],
    ids=["sane", "64-chars", "too-long", "space", "crlf", "nul", "markup", "empty"],
)
def test_request_id_echoed_only_when_sane(
    client: FlaskClient, world: World, security_log: EventLog, incoming: str, echoed: bool
) -> None:
    response = client.get(
        LIST_ALL, headers=world.user.headers(), environ_overrides={"HTTP_X_REQUEST_ID": incoming}
    )
    assert response.status_code == 403
    request_id = response.headers["X-Request-Id"]
    if echoed:
        assert request_id == incoming
    else:
        assert GENERATED_REQUEST_ID.match(request_id), request_id
    (event,) = security_log.take()
    assert event["requestId"] == request_id


# =========================================================================================
# Secrets at rest
# =========================================================================================


def test_totp_secrets_encrypted_and_keys_rotate(
    app: Flask, helpers: Helpers, database_url: str, tmp_path: Path
) -> None:
    alice = helpers.admin("alice", totp=True)
    bob = helpers.user("bob", totp=True)
    assert alice.totp_secret and bob.totp_secret
    stored = repr(helpers.sql("SELECT * FROM totp"))
    stored += repr(helpers.sql("SELECT * FROM backup_codes"))
    for plain in (alice.totp_secret, bob.totp_secret, *alice.backup_codes, *bob.backup_codes):
        assert plain not in stored

    def ciphertexts() -> dict[str, str]:
        rows = helpers.sql("SELECT user_id, secret_encrypted FROM totp")
        return {row[0]: row[1] for row in rows}

    before = ciphertexts()
    new_key = Fernet.generate_key().decode()
    env = service_env(database_url, SESSIONS_SECRET_KEY=new_key)
    refusals = {
        Fernet.generate_key().decode(): "a TOTP secret decrypts with none of the 2 keys; "
        "nothing was changed",
        "not-a-fernet-key": "--old is not a Fernet key",
    }
    for old, why in refusals.items():
        refused = run_cli("keys", "rotate", "--old", old, env=env)
        assert refused.returncode != 0, refused.stdout
        assert refused.stderr == f"error: {why}\n"
        assert ciphertexts() == before

    rotated = cli_json("keys", "rotate", "--old", SECRET_KEY, env=env)
    assert rotated == {"secretsReencrypted": 2}
    after = ciphertexts()
    for user_id, secret in ((alice.id, alice.totp_secret), (bob.id, bob.totp_secret)):
        assert after[user_id] != before[user_id]
        assert secret not in after[user_id]
        assert Fernet(new_key.encode()).decrypt(after[user_id].encode()).decode() == secret
        with pytest.raises(InvalidToken):
            Fernet(SECRET_KEY.encode()).decrypt(after[user_id].encode())

    # An app with only the new key checks TOTP codes.
    renewed = make_app(
        tmp_path / "renewed",
        database_url,
        SESSIONS_SECRET_KEY=new_key,
        SESSIONS_2FA_REMEMBER_FOR="0",
    )
    try:
        login = helpers.session_for(alice)
        response = list_all(renewed.test_client(), login, alice.code())
        assert response.status_code == 200, response.get_json()
        assert list_all(renewed.test_client(), login, wrong_code(alice)).get_json() == (
            TOTP_INVALID
        )
    finally:
        get_engine(renewed).dispose()


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_embedded_default_generates_one_key_file(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    handler = _Warnings()
    logger = logging.getLogger("sessions_service")
    logger.addHandler(handler)
    apps: list[Flask] = []
    try:
        apps.append(create_app({}, instance_path=str(instance)))
        key_file = instance / "secret.key"
        assert key_file.is_file()
        key = key_file.read_text().strip()
        Fernet(key.encode())  # a valid key
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        settings = settings_of(apps[0])
        assert settings.secret_key == key
        assert settings.database_url == f"sqlite:///{instance / 'sessions.db'}"
        warned = [m for m in handler.messages if "SESSIONS_SECRET_KEY" in m]
        assert len(warned) == 1, handler.messages
        assert "\n" not in warned[0]

        apps.append(create_app({}, instance_path=str(instance)))
        assert settings_of(apps[1]).secret_key == key
        assert key_file.read_text().strip() == key
        assert [m for m in handler.messages if "SESSIONS_SECRET_KEY" in m] == warned
        assert sorted(p.name for p in instance.iterdir() if p.name.startswith("secret")) == [
            "secret.key"
        ]
    finally:
        logger.removeHandler(handler)
        for application in apps:
            get_engine(application).dispose()


@pg_only
def test_postgresql_without_key_refuses_to_start(database_url: str, tmp_path: Path) -> None:
    env = service_env(database_url)
    del env["SESSIONS_SECRET_KEY"]
    proc = start_serve(
        env, free_port(), 1, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop(proc)
        proc.communicate(timeout=5)
        pytest.fail("serve started without SESSIONS_SECRET_KEY against PostgreSQL")
    assert proc.returncode != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "sessions-service keys generate" in lines[0]
    assert "SESSIONS_SECRET_KEY" in lines[0]
    assert "Traceback" not in err + out
    assert not list(tmp_path.glob("**/secret.key"))  # nothing generated for PostgreSQL
