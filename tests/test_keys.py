"""Secret-key rotation (issue 8): several SESSIONS_SECRET_KEY keys, ``keys rotate``, the canary.

OLD is the key the fixtures encrypt with (conftest's SECRET_KEY); NEW replaces it; OTHER is a
key nothing here was ever encrypted with. Everything runs on both databases, the CLI in-process
through click's runner or as the real console script, the server as real gunicorn workers.
"""

from __future__ import annotations

import logging
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import Result
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask

from sessions_service import create_app
from sessions_service.clock import utcnow
from sessions_service.config import ConfigError, load_config
from sessions_service.core.security import KeyMismatch, decrypt_secret, encrypt_secret
from sessions_service.core.twofactor import TOTP_PERIOD, SecretKeyError, check_secret_keys
from sessions_service.ops.server import _prepare
from sessions_service.state import get_engine, new_session, settings_of

from .bodies import LOGIN_TOTP_INVALID, SECRET_KEY_WRONG, TOTP_INVALID
from .conftest import (
    CHROME_113,
    LIST_ALL,
    SECRET_KEY,
    Account,
    Helpers,
    Invoke,
    json_out,
    list_all,
    login_body,
    make_app,
    pg_only,
    wrong_code,
)
from .servers import (
    CLI_TIMEOUT,
    HTTP_TIMEOUT,
    SCRIPT,
    free_port,
    running_server,
    service_env,
    start_serve,
    stop,
)

OLD = SECRET_KEY
NEW = "JBKXc_wnt-Y2nhn89RaChEPykp_rdd3NCQXEI5gkKOM="
OTHER = "ipg1gqXDbgocSZLu3_XOCApzJlwJ4HpB_reIMHr34rM="
BAD_KEY = "bm90LXRoaXJ0eS10d28tYnl0ZXMtb2Yta2V5"  # base64, but of 27 bytes
MAKE_ONE = "make one with: sessions-service keys generate"
NOT_FERNET = "is not a Fernet key (urlsafe base64 of 32 bytes); " + MAKE_ONE


@pytest.fixture
def keyed_app(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Flask]]:
    """Apps on this test's database with another SESSIONS_SECRET_KEY (disposed at the end)."""
    apps: list[Flask] = []

    def build(key: str, **env: str) -> Flask:
        app = make_app(tmp_path / f"app{len(apps)}", database_url, SESSIONS_SECRET_KEY=key, **env)
        apps.append(app)
        return app

    yield build
    for app in apps:
        get_engine(app).dispose()


def ciphertexts(helpers: Helpers) -> dict[str, str]:
    """Every stored TOTP secret, by user id."""
    return {row[0]: row[1] for row in helpers.sql("SELECT user_id, secret_encrypted FROM totp")}


def one_line_error(result: Result) -> str:
    """A failed command's only output line."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


# --- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "keys"),
    [
        (NEW, (NEW,)),
        (f"{NEW},{OLD}", (NEW, OLD)),
        (f" {NEW} , {OLD} ,{OTHER}\n", (NEW, OLD, OTHER)),
        (f"{NEW},{NEW}", (NEW, NEW)),
    ],
    ids=["one", "two", "three-with-spaces", "repeated"],
)
@pytest.mark.parametrize("database_url", ["sqlite:///x.db", "postgresql://h/db"], ids=["sq", "pg"])
def test_secret_keys_parse_in_order(
    raw: str, keys: tuple[str, ...], database_url: str, tmp_path: Path
) -> None:
    settings = load_config({"DATABASE_URL": database_url, "SESSIONS_SECRET_KEY": raw}, tmp_path)
    assert settings.secret_keys == keys
    assert settings.secret_key == keys[0]
    assert settings.secret_key_generated is False


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (BAD_KEY, f"SESSIONS_SECRET_KEY {NOT_FERNET}"),
        (f"{NEW},{BAD_KEY}", f"SESSIONS_SECRET_KEY key 2 of 2 {NOT_FERNET}"),
        (f"{BAD_KEY},{NEW},{OLD}", f"SESSIONS_SECRET_KEY key 1 of 3 {NOT_FERNET}"),
        (f"{NEW},{OLD},{BAD_KEY}x", f"SESSIONS_SECRET_KEY key 3 of 3 {NOT_FERNET}"),
        (f"{NEW},", f"SESSIONS_SECRET_KEY key 2 of 2 is empty; {MAKE_ONE}"),
        (f"{NEW},,{OLD}", f"SESSIONS_SECRET_KEY key 2 of 3 is empty; {MAKE_ONE}"),
    ],
    ids=["one-bad", "second-bad", "first-bad", "third-bad", "trailing-comma", "empty-middle"],
)
@pytest.mark.parametrize("database_url", ["sqlite:///x.db", "postgresql://h/db"], ids=["sq", "pg"])
def test_a_bad_key_is_named_by_position_never_echoed(
    raw: str, message: str, database_url: str, tmp_path: Path
) -> None:
    environ = {"DATABASE_URL": database_url, "SESSIONS_SECRET_KEY": raw}
    with pytest.raises(ConfigError) as caught:
        load_config(environ, tmp_path)
    assert str(caught.value) == message
    for key in (BAD_KEY, NEW, OLD):
        assert key not in str(caught.value)


def test_the_generated_key_file_may_hold_several_keys(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    first = load_config({}, instance)
    assert first.secret_key_generated is True
    key_file = instance / "secret.key"
    assert first.secret_keys == (key_file.read_text().strip(),)

    key_file.write_text(f"{NEW},{first.secret_key}\n")
    again = load_config({}, instance)
    assert again.secret_keys == (NEW, first.secret_key)
    assert again.secret_key_generated is False

    key_file.write_text(f"{NEW},{BAD_KEY}\n")
    with pytest.raises(ConfigError) as caught:
        load_config({}, instance)
    assert str(caught.value) == f"{key_file} key 2 of 2 {NOT_FERNET}"


# --- encrypt with the first, decrypt with any ----------------------------------------------


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    stored = encrypt_secret((NEW, OLD), "JBSWY3DPEHPK3PXP")
    assert Fernet(NEW.encode()).decrypt(stored.encode()) == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(InvalidToken):
        Fernet(OLD.encode()).decrypt(stored.encode())

    under_old = Fernet(OLD.encode()).encrypt(b"JBSWY3DPEHPK3PXP").decode()
    for keys in ((NEW, OLD), (OLD, NEW), (OTHER, NEW, OLD), (OLD,)):
        assert decrypt_secret(keys, under_old) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(KeyMismatch) as caught:
        decrypt_secret((NEW, OTHER), under_old)
    assert str(caught.value) == "a TOTP secret decrypts with none of the 2 keys"


def test_an_app_with_new_and_old_reads_old_secrets_and_writes_new_ones(
    helpers: Helpers, keyed_app: Callable[..., Flask]
) -> None:
    alice = helpers.admin("alice", totp=True)  # encrypted under OLD
    both = keyed_app(f"{NEW},{OLD}", SESSIONS_2FA_REMEMBER_FOR="0")
    login = helpers.session_for(alice)
    client = both.test_client()
    assert list_all(client, login, alice.code()).status_code == 200
    assert list_all(client, login, wrong_code(alice)).get_json() == TOTP_INVALID

    bob = Helpers(both, client).admin("bob", totp=True)  # encrypted under NEW
    stored = ciphertexts(helpers)[bob.id]
    assert Fernet(NEW.encode()).decrypt(stored.encode()).decode() == bob.totp_secret
    with pytest.raises(InvalidToken):
        Fernet(OLD.encode()).decrypt(stored.encode())


# --- keys rotate ------------------------------------------------------------------------------


def test_rotate_with_new_and_old_then_new_alone_works(
    helpers: Helpers, invoke: Invoke, keyed_app: Callable[..., Flask]
) -> None:
    alice = helpers.admin("alice", totp=True)
    bob = helpers.admin("bob", totp=True)
    before = ciphertexts(helpers)

    rotated = invoke("keys", "rotate", key=f"{NEW},{OLD}")
    assert rotated.exit_code == 0, rotated.output
    assert rotated.stdout == '{\n  "secretsReencrypted": 2\n}\n'

    after = ciphertexts(helpers)
    for account in (alice, bob):
        assert after[account.id] != before[account.id]
        assert Fernet(NEW.encode()).decrypt(after[account.id].encode()).decode() == (
            account.totp_secret
        )
        with pytest.raises(InvalidToken):
            Fernet(OLD.encode()).decrypt(after[account.id].encode())

    # OLD dropped: NEW alone passes the canary and checks codes.
    new_only = keyed_app(NEW, SESSIONS_2FA_REMEMBER_FOR="0")
    with new_session(new_only) as db:
        check_secret_keys(db, settings_of(new_only))
    login = helpers.session_for(alice)
    assert list_all(new_only.test_client(), login, alice.code()).status_code == 200
    assert list_all(new_only.test_client(), login, wrong_code(alice)).get_json() == TOTP_INVALID


def test_rotate_on_an_empty_table(invoke: Invoke) -> None:
    rotated = invoke("keys", "rotate", key=f"{NEW},{OLD}")
    assert rotated.exit_code == 0, rotated.output
    assert rotated.stdout == '{\n  "secretsReencrypted": 0\n}\n'


def test_rotate_keeps_old_as_an_extra_decrypt_key(helpers: Helpers, invoke: Invoke) -> None:
    alice = helpers.admin("alice", totp=True)
    rotated = invoke("keys", "rotate", "--old", OLD, key=NEW)
    assert rotated.exit_code == 0, rotated.output
    assert rotated.stdout == '{\n  "secretsReencrypted": 1\n}\n'
    stored = ciphertexts(helpers)[alice.id]
    assert Fernet(NEW.encode()).decrypt(stored.encode()).decode() == alice.totp_secret


@pytest.mark.parametrize(
    ("key", "extra", "line"),
    [
        (NEW, [], "error: a TOTP secret decrypts with none of the 1 keys; nothing was changed"),
        (
            f"{NEW},{OTHER}",
            ["--old", OTHER],
            "error: a TOTP secret decrypts with none of the 3 keys; nothing was changed",
        ),
        (NEW, ["--old", BAD_KEY], "error: --old is not a Fernet key"),
        (
            NEW,
            ["--old", OTHER],
            "error: a TOTP secret decrypts with none of the 2 keys; nothing was changed",
        ),
        (NEW, ["--old", "not-a-fernet-key"], "error: --old is not a Fernet key"),
    ],
    ids=["new-only", "wrong-old", "malformed-old", "another-old", "not-base64-old"],
)
def test_rotate_refuses_and_changes_nothing(
    helpers: Helpers, invoke: Invoke, key: str, extra: list[str], line: str
) -> None:
    helpers.admin("alice", totp=True)
    before = ciphertexts(helpers)
    assert one_line_error(invoke("keys", "rotate", *extra, key=key)) == line
    assert ciphertexts(helpers) == before


def test_rotate_is_all_or_nothing(helpers: Helpers, invoke: Invoke) -> None:
    alice = helpers.admin("alice", totp=True)
    bob = helpers.admin("bob", totp=True)
    # bob's secret under a key nobody configured: alice's row, readable, must not change either.
    assert bob.totp_secret is not None
    stray = Fernet(OTHER.encode()).encrypt(bob.totp_secret.encode()).decode()
    helpers.sql("UPDATE totp SET secret_encrypted = :s WHERE user_id = :u", s=stray, u=bob.id)
    before = ciphertexts(helpers)
    assert one_line_error(invoke("keys", "rotate", key=f"{NEW},{OLD}")) == (
        "error: a TOTP secret decrypts with none of the 2 keys; nothing was changed"
    )
    assert ciphertexts(helpers) == before
    assert Fernet(OLD.encode()).decrypt(before[alice.id].encode()).decode() == alice.totp_secret


# --- the canary at start -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (NEW, "its key does not read them"),
        (f"{NEW},{OTHER}", "none of its 2 keys read them"),
    ],
    ids=["one-key", "two-keys"],
)
def test_prepare_refuses_keys_that_read_no_stored_secret(
    helpers: Helpers, keyed_app: Callable[..., Flask], key: str, message: str
) -> None:
    wrong = keyed_app(key)
    with new_session(wrong) as db:
        check_secret_keys(db, settings_of(wrong))  # nothing stored: passes
    helpers.admin("alice", totp=True)
    with pytest.raises(SecretKeyError) as caught:
        _prepare(wrong)
    assert str(caught.value) == (
        f"SESSIONS_SECRET_KEY cannot decrypt the stored TOTP secrets ({message}); "
        "set the key they were encrypted with"
    )
    assert isinstance(caught.value, ConfigError)
    for right in (OLD, f"{NEW},{OLD}", f"{OTHER},{NEW},{OLD}"):
        _prepare(keyed_app(right))


@pytest.mark.e2e
@pytest.mark.parametrize("command", ["serve", "demo"])
def test_serve_with_a_wrong_key_is_a_one_line_error(
    helpers: Helpers, database_url: str, tmp_path: Path, command: str
) -> None:
    helpers.admin("admin", totp=True)  # "admin": the demo's own admin, so it seeds nothing
    env = service_env(database_url, SESSIONS_SECRET_KEY=f"{NEW},{OTHER}")
    argv = [command, "--host", "127.0.0.1", "--port", str(free_port()), "--workers", "1"]
    proc = subprocess.Popen(
        [SCRIPT, *argv],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop(proc)
        proc.communicate(timeout=5)
        pytest.fail(f"{command} started with keys that read no stored secret")
    assert proc.returncode == 2, err
    assert err == (
        "error: SESSIONS_SECRET_KEY cannot decrypt the stored TOTP secrets "
        "(none of its 2 keys read them); set the key they were encrypted with\n"
    )
    assert "Traceback" not in out
    assert "Booting worker" not in out + err
    for key in (NEW, OTHER, OLD):
        assert key not in out + err


# --- a request that meets an unreadable secret ----------------------------------------------


def test_an_unreadable_secret_answers_a_json_error(
    helpers: Helpers, keyed_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    alice = helpers.admin("alice", totp=True)
    login = helpers.session_for(alice)
    client = keyed_app(f"{NEW},{OTHER}", SESSIONS_2FA_REMEMBER_FOR="0").test_client()

    with caplog.at_level(logging.INFO):
        endpoint = list_all(client, login, alice.code())
        by_login = client.post(
            "/api/v1/login",
            json=login_body(alice, alice.code()),
            headers={"User-Agent": CHROME_113},
        )
    assert (endpoint.status_code, endpoint.get_json()) == (500, SECRET_KEY_WRONG)
    assert (by_login.status_code, by_login.get_json()) == (500, SECRET_KEY_WRONG)

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [(r.name, r.getMessage()) for r in errors] == [
        (
            "sessions_service.web.auth",
            f"the TOTP secret of user {alice.id} decrypts with none of the "
            "SESSIONS_SECRET_KEY keys; set the key it was encrypted with",
        )
    ] * 2
    assert all(r.exc_info is None for r in errors)  # one line each, no traceback
    logged = caplog.text + endpoint.get_data(as_text=True) + by_login.get_data(as_text=True)
    assert alice.totp_secret is not None
    for secret in (NEW, OTHER, OLD, alice.totp_secret, *ciphertexts(helpers).values()):
        assert secret not in logged
    # The server's fault, not alice's: no failure counted, no session opened.
    assert helpers.sql("SELECT twofa_failed_attempts FROM users WHERE id = :u", u=alice.id) == [
        (0,)
    ]
    assert helpers.sql("SELECT count(*) FROM sessions WHERE user_id = :u", u=alice.id) == [(1,)]

    # With the right key among them the same code-checks work again.
    fixed = keyed_app(f"{NEW},{OLD}").test_client()
    assert list_all(fixed, login, wrong_code(alice)).get_json() == TOTP_INVALID
    response = fixed.post("/api/v1/login", json=login_body(alice, wrong_code(alice)))
    assert (response.status_code, response.get_json()) == (401, LOGIN_TOTP_INVALID)


# --- rotation under a running gunicorn -------------------------------------------------------


@dataclass
class _Traffic:
    """Two-factor requests made from a thread, each answer kept as (phase, status, body)."""

    server_url: str
    logins: list[tuple[Account, dict[str, str]]]
    phase: str = "before"
    results: list[tuple[str, int, Any]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    last_step: dict[str, int] = field(default_factory=dict)

    def _next_code(self) -> tuple[dict[str, str], str] | None:
        """A code not used yet: replay protection accepts each step once per user."""
        current = int(utcnow().timestamp()) // TOTP_PERIOD
        for account, headers in self.logins:
            used = self.last_step.get(account.id, -1)
            step = next((s for s in range(current - 1, current + 2) if s > used), None)
            if step is not None:
                self.last_step[account.id] = step
                return headers, account.code(step - current)
        return None

    def run(self) -> None:
        """Request list.all with a fresh code until stopped (or out of fresh codes)."""
        with requests.Session() as http:
            while not self.stop.is_set() and (chosen := self._next_code()) is not None:
                headers, code = chosen
                response = http.get(
                    self.server_url + LIST_ALL,
                    headers={**headers, "x-2fa-code": code},
                    timeout=HTTP_TIMEOUT,
                )
                try:
                    body = response.json()
                except ValueError:
                    body = response.text
                self.results.append((self.phase, response.status_code, body))
                time.sleep(0.02)  # a steady trickle, not a load test

    def wait_for(self, phase: str, count: int, timeout: float = 30) -> None:
        """Until ``count`` answers of ``phase`` arrived (bounded)."""
        deadline = time.monotonic() + timeout
        while sum(1 for p, _, _ in self.results if p == phase) < count:
            assert time.monotonic() < deadline, (phase, self.results)
            time.sleep(0.05)


@pytest.mark.e2e
def test_rotation_while_gunicorn_serves_has_no_5xx(
    helpers: Helpers, database_url: str, tmp_path: Path
) -> None:
    accounts = [helpers.admin(f"admin{i}", totp=True) for i in range(40)]
    logins = []
    for account in accounts:
        login = helpers.session_for(account)
        logins.append((account, login.headers()))
    env = service_env(
        database_url, SESSIONS_SECRET_KEY=f"{NEW},{OLD}", SESSIONS_2FA_REMEMBER_FOR="0"
    )
    with running_server(env, tmp_path / "serve.log") as server:
        traffic = _Traffic(server.url, logins)
        thread = threading.Thread(target=traffic.run, daemon=True)
        thread.start()
        try:
            traffic.wait_for("before", 5)
            traffic.phase = "during"
            rotated = server.cli("keys", "rotate")
            traffic.phase = "after"
            traffic.wait_for("after", 5)
        finally:
            traffic.stop.set()
            thread.join(timeout=HTTP_TIMEOUT + 5)
        assert not thread.is_alive()

    assert rotated == {"secretsReencrypted": 40}
    assert [r for r in traffic.results if r[1] >= 500] == []
    # A code can straddle a step boundary (then it is wrong); nothing else is refused.
    assert [r for r in traffic.results if r[1] != 200 and r[2] != TOTP_INVALID] == []
    for phase in ("before", "after"):
        assert any(p == phase and status == 200 for p, status, _ in traffic.results), phase
    for account_id, stored in ciphertexts(helpers).items():
        secret = next(a.totp_secret for a in accounts if a.id == account_id)
        assert Fernet(NEW.encode()).decrypt(stored.encode()).decode() == secret


# --- secrets at rest, the embedded default key, PostgreSQL without a key ------------------


def test_totp_secrets_encrypted_and_keys_rotate(
    app: Flask, helpers: Helpers, invoke: Invoke, database_url: str, tmp_path: Path
) -> None:
    """(A wrong or malformed --old changes nothing: test_rotate_refuses_and_changes_nothing.)"""
    alice = helpers.admin("alice", totp=True)
    bob = helpers.user("bob", totp=True)
    assert alice.totp_secret and bob.totp_secret
    stored = repr(helpers.sql("SELECT * FROM totp"))
    stored += repr(helpers.sql("SELECT * FROM backup_codes"))
    for plain in (alice.totp_secret, bob.totp_secret, *alice.backup_codes, *bob.backup_codes):
        assert plain not in stored

    before = ciphertexts(helpers)
    new_key = Fernet.generate_key().decode()
    rotated = json_out(invoke("keys", "rotate", "--old", SECRET_KEY, key=new_key))
    assert rotated == {"secretsReencrypted": 2}
    after = ciphertexts(helpers)
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


@pytest.mark.e2e
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
