"""Fixtures: every app test runs on SQLite and on PostgreSQL, schema from the migrations.

PostgreSQL comes from TEST_DATABASE_URL. Unset, its half is skipped locally but fails in CI
(CI set); set and unreachable, it fails.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sessions_service import create_app
from sessions_service.clock import FrozenClock, frozen_at, utcnow
from sessions_service.core import accounts, logins, twofactor
from sessions_service.core.events import LOGGER_NAME, EventFormatter
from sessions_service.core.security import password_digest
from sessions_service.data.base import Base
from sessions_service.data.models import Permission, SessionCount, Totp, User, UserSession
from sessions_service.data.schema import upgrade_schema
from sessions_service.ops.cli import cli
from sessions_service.state import get_engine, new_session, settings_of

from .bodies import LOGGED_OUT, TIMESTAMP

SECRET_KEY = "SSKbIscDZyYeIeC5Lm_Ye4T_TJhK2vNzd4uryucVhaM="
CHROME_113 = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/113.0.0.0 Safari/537.36"
)
FIREFOX_112 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/112.0"
LOGIN = "/api/v1/login"
LOGOUT = "/api/v1/logout"
SESSIONS_API = "/api/v1/sessions"
LIST = f"{SESSIONS_API}/list"
LIST_ALL = f"{SESSIONS_API}/list.all"
INFO = f"{SESSIONS_API}/info"
INFO_ADMIN = f"{SESSIONS_API}/info.admin"
LOGOUT_ME = f"{SESSIONS_API}/logout.me"
LOGOUT_ANY = f"{SESSIONS_API}/logout"
BIG = "x" * (64 * 1024 + 1)  # one byte more than a request body may have
TABLES = ("backup_codes", "totp", "sessions", "users", "session_counts", "login_throttle")


def _pg_admin_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    return url or None


def _pg_url_for(admin_url: str, dbname: str) -> str:
    return (
        sa.make_url(admin_url)
        .set(drivername="postgresql+psycopg", database=dbname)
        .render_as_string(hide_password=False)
    )


@contextmanager
def created_pg_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (its URL), dropped at the end of the block."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        _pg_url_for(admin_url, sa.make_url(admin_url).database or "postgres"),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"TEST_DATABASE_URL is set but PostgreSQL is unreachable: {exc.orig}")
    try:
        yield _pg_url_for(admin_url, name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_app(tmp_path: Path, database_url: str, **env: str) -> Flask:
    """An app on ``database_url`` with test settings (fast bcrypt, fixed key)."""
    environ = {
        "DATABASE_URL": database_url,
        "SESSIONS_SECRET_KEY": SECRET_KEY,
        "SESSIONS_BCRYPT_ROUNDS": "4",
        **env,
    }
    app = create_app(environ, instance_path=str(tmp_path / "instance"))
    app.config["TESTING"] = True
    return app


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    base = tmp_path_factory.mktemp("sqlite-template")
    path = base / "template.db"
    app = make_app(base, f"sqlite:///{path}")
    upgrade_schema(settings_of(app))
    get_engine(app).dispose()
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database created and migrated once per run, dropped at the end."""
    admin_url = _pg_admin_url()
    if admin_url is None:
        if os.environ.get("CI"):
            pytest.fail("TEST_DATABASE_URL must be set in CI: the PostgreSQL tests cannot run")
        pytest.skip("TEST_DATABASE_URL not set: PostgreSQL half skipped (it fails in CI)")
    with created_pg_database(admin_url, "sessions_test") as url:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            app = make_app(Path(tmp), url)
            upgrade_schema(settings_of(app))
            get_engine(app).dispose()
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database of each kind for a whole module (a module-scoped server's),
    its own: SQLite a copy of the template, PostgreSQL a new database, dropped at the end."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("module-db") / "module.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    request.getfixturevalue("pg_database")  # skips locally / fails in CI without PostgreSQL
    admin_url = _pg_admin_url()
    assert admin_url is not None
    with created_pg_database(admin_url, "sessions_test_module") as url:
        app = make_app(tmp_path_factory.mktemp("module-db"), url)
        upgrade_schema(settings_of(app))
        get_engine(app).dispose()
        yield url


@pytest.fixture
def blank_pg_url(pg_database: str) -> Iterator[str]:
    """An empty, never-migrated PostgreSQL database, dropped afterwards."""
    admin_url = _pg_admin_url()
    assert admin_url is not None
    with created_pg_database(admin_url, "sessions_blank") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, never-migrated database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blank.db'}"
    url: str = request.getfixturevalue("blank_pg_url")  # skips locally / fails in CI without it
    return url


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> str:
    """This process's SQLite test database: a copy of the template, emptied before each test."""
    path = tmp_path_factory.mktemp("sqlite-db") / "test.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


class _Kept:
    """What this process keeps from test to test: an engine per test database (to empty it)
    and the last apps built (building one per test costs more than most tests do: create_app,
    a new engine, its first connection). Disposed when the session ends."""

    APPS = 2

    def __init__(self) -> None:
        self.engines: dict[str, sa.Engine] = {}
        self.apps: dict[tuple[str, tuple[tuple[str, str], ...]], Flask] = {}

    def engine(self, url: str) -> sa.Engine:
        if url not in self.engines:
            self.engines[url] = sa.create_engine(url)
        return self.engines[url]

    def app(self, url: str, env: dict[str, str], instance: Callable[[], Path]) -> Flask:
        key = (url, tuple(sorted(env.items())))
        app = self.apps.pop(key, None) or make_app(instance(), url, **env)
        self.apps[key] = app  # the most recent last
        while len(self.apps) > self.APPS:
            get_engine(self.apps.pop(next(iter(self.apps)))).dispose()
        return app

    def dispose(self) -> None:
        for app in self.apps.values():
            get_engine(app).dispose()
        for engine in self.engines.values():
            engine.dispose()


@pytest.fixture(scope="session")
def kept() -> Iterator[_Kept]:
    held = _Kept()
    yield held
    held.dispose()


def _empty(engine: sa.Engine) -> None:
    """Empty a test database (DELETE: a TRUNCATE of six tables costs ~40 ms, this under 1 ms
    on the rows a test leaves) and give the permissions their default roles again."""
    name = engine.url.database or ""
    # Only ever a database this process created (TEST_DATABASE_URL's own is never touched).
    assert engine.url.get_backend_name() == "sqlite" or name.startswith("sessions_test_"), name
    permissions = Permission.__table__
    with engine.begin() as conn:
        for table in TABLES:  # children before users; session_counts after the sessions' triggers
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(
            permissions.update()
            .where(permissions.c.id.in_(["view-device-management", "logout-device-management"]))
            .values(roles=["admin"])
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, kept: _Kept) -> str:
    """A migrated database of each kind, empty: this process's own (pg_database and
    sqlite_database are created per process, so under xdist each worker empties only its
    own), emptied before the test."""
    fixture = "sqlite_database" if request.param == "sqlite" else "pg_database"
    url: str = request.getfixturevalue(fixture)
    _empty(kept.engine(url))
    return url


pg_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
"""Run a test that takes ``database_url`` on PostgreSQL only."""


@pytest.fixture
def app_env() -> dict[str, str]:
    """Extra SESSIONS_* settings for the app; override in a test module to change them."""
    return {}


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    """``utcnow()`` frozen at the real now for the test; ``clock.advance(delta)`` moves it.

    In-process apps (test clients, in-process CLI runs) obey it; a server in another process
    keeps the real clock, so tests with a clock make their requests in-process.
    """
    with frozen_at() as frozen:
        yield frozen


@pytest.fixture
def app(
    kept: _Kept,
    database_url: str,
    app_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Flask:
    """The app on this test's database with its ``app_env`` (kept for the next test with the
    same database and settings: it holds no state of its own between requests)."""
    return kept.app(database_url, app_env, lambda: tmp_path_factory.mktemp("app"))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class Account:
    """A user made for a test, with what it needs to authenticate."""

    id: str
    username: str
    password: str
    totp_secret: str | None = None
    backup_codes: list[str] = field(default_factory=list)

    def code(self, offset_steps: int = 0) -> str:
        """The TOTP code for now (+/- steps)."""
        assert self.totp_secret is not None
        totp = pyotp.TOTP(self.totp_secret)
        return totp.at(utcnow().timestamp() + 30 * offset_steps)

    @property
    def digest(self) -> str:
        """The password method's code."""
        return password_digest(self.password)


class Codes:
    """Fresh TOTP codes for one secret, each for a later time step than the one before."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last: int | None = None

    def next(self) -> str:
        current = int(utcnow().timestamp()) // 30
        step = current if self.last is None or self.last < current else self.last + 1
        assert step <= current + 1, "test bug: more than two fresh codes asked within one step"
        self.last = step
        return self.totp.at(step * 30)


@dataclass
class Login:
    """A logged-in session: its ids and the headers that authenticate it."""

    user_id: str
    token: str
    session_id: str
    user_agent: str | None = CHROME_113

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"X-User-Id": self.user_id, "X-Auth-Token": self.token}
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        headers.update(extra)
        return headers


class Helpers:
    """Make users and sessions through the real database and log in over HTTP."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client

    def user(
        self,
        username: str,
        *,
        password: str = "s3cret-pass",
        name: str | None = None,
        roles: tuple[str, ...] = ("user",),
        totp: bool = False,
        email: str | None = None,
    ) -> Account:
        settings = settings_of(self.app)
        with new_session(self.app) as db:
            user = accounts.create_user(
                db,
                username,
                password,
                name=name,
                email=email,
                roles=roles,
                bcrypt_rounds=4,
                username_pattern=settings.username_pattern,
            )
            account = Account(user.id, username, password)
            if totp:
                enrolment = twofactor.enable_totp(db, user, settings)
                account.totp_secret = enrolment.secret
                account.backup_codes = enrolment.backup_codes
            db.commit()
        return account

    def admin(self, username: str = "root", **kwargs: Any) -> Account:
        return self.user(username, roles=("admin", "user"), **kwargs)

    def login(
        self,
        account: Account,
        *,
        user_agent: str | None = CHROME_113,
        code: str | None = None,
        environ: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Login:
        body = login_body(account, code)
        sent = dict(headers or {})
        if user_agent is not None:
            sent["User-Agent"] = user_agent
        response = self.client.post(
            "/api/v1/login", json=body, headers=sent, environ_base=environ or {}
        )
        assert response.status_code == 200, response.get_json()
        data = response.get_json()["data"]
        session_id = self.session_id_for(data["authToken"])
        return Login(data["userId"], data["authToken"], session_id, user_agent)

    def session_id_for(self, token: str) -> str:
        with new_session(self.app) as db:
            found = logins.find_active_session_by_token(db, token, utcnow())
            assert found is not None
            return found.id

    def session_for(
        self,
        account: Account,
        *,
        user_agent: str | None = CHROME_113,
        ip: str = "10.0.0.1",
        host: str = "localhost:3000",
        login_at: Any = None,
        bypass_2fa: bool = False,
    ) -> Login:
        """A session written straight to the database (fast, any login time)."""
        settings = settings_of(self.app)
        with new_session(self.app) as db:
            user = accounts.get_user_by_username(db, account.username)
            assert user is not None
            session, token = logins.create_session(
                db,
                user,
                user_agent=user_agent,
                ip=ip,
                host=host,
                now=login_at or utcnow(),
                expiration_days=settings.login_expiration_days,
                bypass_2fa=bypass_2fa,
            )
            db.commit()
            return Login(user.id, token, session.id, user_agent)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Run SQL on the test database (for assertions on stored state)."""
        with get_engine(self.app).begin() as conn:
            result = conn.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []


@pytest.fixture
def helpers(app: Flask, client: FlaskClient) -> Helpers:
    return Helpers(app, client)


@dataclass
class World:
    """Three active sessions: an admin's exempt from two-factor (reaches every view), a TOTP
    admin's (two-factor not bypassed) and a plain user's."""

    admin: Login
    tfa: Account  # the TOTP admin "tfa" (password s3cret-pass)
    totp: Login
    user: Login  # "mallory", password pw-mallory
    total: int = 3


@pytest.fixture
def world(helpers: Helpers) -> World:
    return make_world(helpers)


def make_world(helpers: Helpers) -> World:
    admin = helpers.admin("root")
    tfa = helpers.admin("tfa", totp=True)
    user = helpers.user("mallory", password="pw-mallory")
    return World(
        admin=helpers.session_for(admin, bypass_2fa=True),
        tfa=tfa,
        totp=helpers.session_for(tfa),
        user=helpers.session_for(user),
    )


# --- request and assertion helpers shared by the test modules --------------------------


def login_body(account: Account, code: str | None = None) -> dict[str, str]:
    """The JSON body of POST /login for this account (with a two-factor code if given)."""
    body = {"user": account.username, "password": account.password}
    if code is not None:
        body["code"] = code
    return body


def post_login(client: FlaskClient, account: Account, code: str | None = None) -> TestResponse:
    """POST /login as ``account`` from Chrome 113 (with a two-factor code if given)."""
    return client.post(LOGIN, json=login_body(account, code), headers={"User-Agent": CHROME_113})


def list_all(
    client: FlaskClient,
    login: Login,
    code: str | None = None,
    *,
    user_agent: str | None = None,
    ip: str = "127.0.0.1",
    **extra: str,
) -> TestResponse:
    """GET list.all as ``login`` (with an x-2fa-code, another User-Agent or IP if given)."""
    headers = login.headers(**extra)
    if user_agent is not None:
        headers["User-Agent"] = user_agent
    if code is not None:
        headers["x-2fa-code"] = code
    return client.get(LIST_ALL, headers=headers, environ_base={"REMOTE_ADDR": ip})


def wrong_code(account: Account) -> str:
    """A six-digit code the server cannot accept now or in the next 30 seconds.

    The server accepts the codes of its current step ±1. Between this call and the server's
    check its clock may cross into the next step, whose window reaches two steps ahead of now;
    so the code is none of steps -2 … +2 (one of ten candidates: at most five are taken).
    """
    taken = {account.code(step) for step in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(0, 10**6, 111_111)) if c not in taken)


def alive(client: FlaskClient, login: Login) -> bool:
    """Does this login's token still authenticate? (401 must carry SPEC §2's exact body.)"""
    response = client.get(f"{SESSIONS_API}/list", headers=login.headers())
    if response.status_code == 401:
        assert response.get_json() == LOGGED_OUT
        return False
    assert response.status_code == 200, response.get_json()
    return True


def assert_invalid_params(response: TestResponse) -> None:
    """400 invalid-params: SPEC §4's envelope with a description of what is wrong."""
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert set(body) == {"success", "error", "errorType"}, body
    assert body["success"] is False
    assert body["errorType"] == "invalid-params"
    assert body["error"].endswith(" [invalid-params]")
    assert len(body["error"]) > len(" [invalid-params]")


def assert_json_error(response: TestResponse) -> dict[str, Any]:
    """A JSON body without any trace of a stack trace."""
    assert response.headers["Content-Type"].startswith("application/json"), response.data
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "sqlalchemy" not in text.lower()
    body: dict[str, Any] = response.get_json()
    return body


# --- stored state, read back for assertions --------------------------------------------


def count_sessions(app: Flask, user_id: str) -> int:
    """Sessions of a user, ended or not."""
    with new_session(app) as db:
        stmt = sa.select(sa.func.count()).where(UserSession.user_id == user_id)
        return int(db.scalar(stmt) or 0)


def last_step(app: Flask, user_id: str) -> int | None:
    """The TOTP step last accepted for a user (None: none yet)."""
    with new_session(app) as db:
        step: int | None = db.scalar(sa.select(Totp.last_step).where(Totp.user_id == user_id))
        return step


Rows = dict[str, list[dict[str, Any]]]


def snapshot_rows(app: Flask) -> Rows:
    """Every row of every table of the app's database, by table."""
    with get_engine(app).connect() as conn:
        return {
            table.name: [dict(row._mapping) for row in conn.execute(sa.select(table))]
            for table in Base.metadata.sorted_tables
        }


def restore_rows(app: Flask, rows: Rows) -> None:
    """Put every table back as ``rows`` (snapshot_rows') has it, in one transaction."""
    tables = Base.metadata.sorted_tables
    counts = SessionCount.__table__
    with get_engine(app).begin() as conn:
        for table in reversed(tables):
            conn.execute(table.delete())
        for table in tables:
            if rows[table.name] and table is not counts:
                conn.execute(table.insert(), rows[table.name])
        # Triggers on sessions counted the inserted rows again: the counts as they were.
        conn.execute(counts.delete())
        if rows[counts.name]:
            conn.execute(counts.insert(), rows[counts.name])


def twofa_state(app: Flask, user_id: str) -> tuple[int, Any]:
    """(failed attempts, locked until) as stored in the users row."""
    with new_session(app) as db:
        row = db.execute(
            sa.select(User.twofa_failed_attempts, User.twofa_locked_until).where(User.id == user_id)
        ).one()
        return row[0], row[1]


# --- the console script, in-process --------------------------------------------------

Invoke = Callable[..., Result]
CliOn = Callable[..., Invoke]


def cli_invoker(database_url: str, apps: list[Flask], *, via: str = "sessions-service") -> Invoke:
    """Run ``sessions-service ARGS`` in-process on ``database_url``: through the console
    script's click group, or (``via="flask"``) through the app's own ``app.cli``, as
    ``flask --app app ARGS`` does. The settings are make_app's; ``key`` replaces the secret
    key, ``env`` adds variables (None removes one). Built apps go to ``apps`` for disposal."""

    def invoke(
        *args: str,
        env: dict[str, str | None] | None = None,
        key: str | None = SECRET_KEY,
        **kwargs: Any,
    ) -> Result:
        environ: dict[str, str | None] = {
            "DATABASE_URL": database_url,
            "SESSIONS_SECRET_KEY": key,
            "SESSIONS_BCRYPT_ROUNDS": "4",
            **(env or {}),
        }
        if via == "flask":
            app = create_app({k: v for k, v in environ.items() if v is not None})
            apps.append(app)
            return app.test_cli_runner().invoke(args=list(args), env=environ, **kwargs)

        def factory() -> Flask:
            # What the group builds from the environment; kept so the engines can be disposed.
            app = create_app()
            apps.append(app)
            return app

        return CliRunner().invoke(
            cli, list(args), env=environ, obj=ScriptInfo(create_app=factory), **kwargs
        )

    return invoke


@pytest.fixture
def cli_on() -> Iterator[CliOn]:
    """``cli_on(url, via=...)``: cli_invoker on any database; every app disposed afterwards."""
    apps: list[Flask] = []

    def on(database_url: str, *, via: str = "sessions-service") -> Invoke:
        return cli_invoker(database_url, apps, via=via)

    yield on
    for app in apps:
        get_engine(app).dispose()


@pytest.fixture
def invoke(cli_on: CliOn, database_url: str) -> Invoke:
    """Run ``sessions-service ARGS`` in-process against this test's database."""
    return cli_on(database_url)


def json_out(result: Result) -> dict[str, Any]:
    """A command's JSON output, after checking it succeeded."""
    assert result.exit_code == 0, (result.output, result.exception)
    data = json.loads(result.stdout)
    assert isinstance(data, dict), result.stdout
    return data


def json_lines(result: Result) -> list[dict[str, Any]]:
    """A command's JSON Lines output, after checking it succeeded."""
    assert result.exit_code == 0, (result.output, result.exception)
    return [json.loads(line) for line in result.stdout.splitlines()]


# --- security events, as the ``sessions_service.security`` logger writes them ---------------


EVENT_KEYS = {"time", "event", "outcome", "userId", "ip", "requestId"}


def parse_event(message: str) -> dict[str, Any]:
    """One security event: a single line of JSON with the keys every event has."""
    assert "\n" not in message and "\r" not in message, message
    event = json.loads(message)
    assert isinstance(event, dict), message
    assert set(event) >= EVENT_KEYS, message
    assert TIMESTAMP.match(event["time"]), message
    return event


class SecurityEvents(logging.Handler):
    """The security events written while attached (each checked by ``parse_event``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []  # every message as written, for searching
        self._taken = 0

    def emit(self, record: logging.LogRecord) -> None:
        # Only kept here: an assertion raised inside emit() would fail the request instead.
        self.messages.append(self.format(record))

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event so far."""
        return [parse_event(m) for m in self.messages]

    def take(self) -> list[dict[str, Any]]:
        """The events written since the last ``take``."""
        new = self.messages[self._taken :]
        self._taken = len(self.messages)
        return [parse_event(m) for m in new]

    def named(self, name: str) -> list[dict[str, Any]]:
        """The events called ``name``."""
        return [e for e in self.events if e["event"] == name]

    def starting(self, prefix: str) -> list[dict[str, Any]]:
        """The events whose name starts with ``prefix`` (e.g. ``user.``)."""
        return [e for e in self.events if e["event"].startswith(prefix)]


@contextmanager
def attached_to_security_log(handler: logging.Handler) -> Iterator[None]:
    """``handler`` on the security logger for the block, formatting events as their JSON line
    (the process's logging would; nothing configures it in the test process)."""
    logger = logging.getLogger(LOGGER_NAME)
    handler.setFormatter(EventFormatter())
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def security_events(app: Flask) -> Iterator[SecurityEvents]:
    """The security events written during the test."""
    handler = SecurityEvents()
    with attached_to_security_log(handler):
        yield handler
