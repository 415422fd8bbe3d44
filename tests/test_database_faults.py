"""Database faults: an outage, a statement past its timeout, a lock that holds a login up.

Each answers 503 with the JSON body, leaves nothing half written, and the service recovers
without a restart. Real parts only: the real databases, a real TCP proxy (a thread in this
process) between the app and PostgreSQL, so an outage can be made and ended without touching
the PostgreSQL server, and real gunicorn workers behind it. Every wait and thread is bounded;
nothing asserts on elapsed time.
"""

from __future__ import annotations

import select
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from sessions_service.state import get_engine

from .bodies import (
    UNAVAILABLE,
)
from .conftest import (
    INFO,
    LIST,
    LIST_ALL,
    LOGIN,
    LOGOUT_ME,
    Helpers,
    assert_json_error,
    count_sessions,
    last_step,
    make_app,
    pg_only,
    post_login,
)
from .servers import (
    HTTP_TIMEOUT,
    free_port,
    running_server,
    service_env,
)

THREAD_TIMEOUT = 30


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


@pytest.mark.e2e
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
            first, done_first = in_thread(lambda: post_login(client, plain))
            second, done_second = in_thread(lambda: post_login(client, tfa, code))
            release()
            assert done_first and done_second, "login waited on the lock without a bound"
        for response in (first, second):
            assert response.status_code == 503, response.get_data()
            assert assert_json_error(response) == UNAVAILABLE
        # Nothing of either login is left: no session, and the TOTP step is not consumed.
        assert count_sessions(helpers.app, plain.id) == 0
        assert count_sessions(helpers.app, tfa.id) == 0
        assert last_step(helpers.app, tfa.id) is None

        ok = post_login(client, plain)
        assert ok.status_code == 200, ok.get_json()
        assert count_sessions(helpers.app, plain.id) == 1
        # The very same code works now: the consumed step and the session commit together.
        ok = post_login(client, tfa, code)
        assert ok.status_code == 200, ok.get_json()
        assert last_step(helpers.app, tfa.id) is not None
        token = ok.get_json()["data"]["authToken"]
        assert count_sessions(helpers.app, tfa.id) == 1
        assert helpers.session_id_for(token)
    finally:
        get_engine(slow).dispose()
