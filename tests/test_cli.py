"""The operator CLI (SPEC §7): click's CliRunner on the console script's group; the installed
console script itself in one subprocess test (and ``serve``, which must fail before gunicorn).

Every command runs against a real database of each kind; its printed JSON is checked and,
where it matters, what it wrote is used through the API (login, token, TOTP code). Every
expected failure is checked as its exact one line on stderr and its exit status.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from flask import Flask

from sessions_service.ops.cli import PROG, cli
from sessions_service.state import get_engine

from .bodies import ID_RE
from .conftest import CliOn, Invoke, json_lines, json_out, make_app
from .servers import (
    CLI_TIMEOUT,
    clean_env,
    free_port,
    run_cli,
    service_env,
    start_serve,
    stop,
)

UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:9/never_used"


def is_rc_id(value: Any) -> bool:
    """A 17-character id from Rocket.Chat's alphabet."""
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


NO_SUCH_USER = "no such user: nobody — see: sessions-service users list"
SCHEMA_NOT_CURRENT = "the database schema is not current; run: sessions-service db upgrade"


def assert_fails(result: Result, message: str, exit_code: int = 1) -> None:
    """The command failed with exactly ``error: message`` on stderr, nothing on stdout."""
    assert (result.exit_code, result.stderr) == (exit_code, f"error: {message}\n"), (
        result.output,
        result.exception,
    )
    assert result.stdout == ""
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback


def bare(*args: str, **env: str) -> Result:
    """``sessions-service ARGS`` in-process, as main() runs it, with no service setting in the
    environment but ``env``."""
    unset: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith("SESSIONS_") or k == "DATABASE_URL"
    }
    return CliRunner().invoke(cli, list(args), prog_name=PROG, env={**unset, **env})


@pytest.fixture
def api(app: Flask) -> Flask:
    """The app on the same database, to use what the CLI wrote through the API."""
    return app


# --- the console script ---------------------------------------------------------------


def test_version_and_help_show_only_our_options() -> None:
    version = bare("--version")
    assert (version.exit_code, version.stderr) == (0, "")
    assert version.stdout == f"sessions-service {importlib.metadata.version('sessions-service')}\n"

    shown = bare("--help")
    assert (shown.exit_code, shown.stderr) == (0, "")  # no app built: no warning, no key file
    options = shown.stdout.split("Options:\n")[1].split("\n\n")[0]
    assert options.splitlines() == [
        "  --version  Show the version and exit.",
        "  --help     Show this message and exit.",
    ]
    commands = shown.stdout.split("Commands:\n")[1].splitlines()
    assert [line.split()[0] for line in commands] == [
        "db",
        "demo",
        "import",
        "keys",
        "serve",
        "sessions",
        "tokens",
        "totp",
        "users",
    ]


@pytest.mark.e2e
def test_console_script_reports_an_unreachable_database_in_one_line() -> None:
    """The one run of the installed console script (its main()) for a command."""
    done = run_cli("users", "list", env=service_env(REFUSING_PG))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"error: {PG_REFUSED}\n"
    assert "hunter2" not in done.stderr


# --- expected failures, in-process ------------------------------------------------------

REFUSING_PG = "postgresql://postgres:hunter2@127.0.0.1:1/x"  # nothing listens on port 1
PG_REFUSED = (
    "cannot connect to the database: connection failed: connection to server at "
    '"127.0.0.1", port 1 failed: Connection refused — is PostgreSQL running there, '
    "and is DATABASE_URL right?"
)
EVERY_DATABASE_COMMAND = [
    ["db", "upgrade"],
    ["db", "check"],
    ["users", "create", "x", "--password", "y"],
    ["users", "list"],
    ["users", "deactivate", "x"],
    ["tokens", "create", "x"],
    ["sessions", "revoke", "--user", "x"],
    ["import", "{file}"],
    ["serve", "--port", "{port}", "--workers", "1"],
    ["demo", "--port", "{port}", "--workers", "1"],
]


def _args(args: list[str], tmp_path: Path) -> list[str]:
    """The arguments with a real import file and a free port filled in."""
    path = tmp_path / "one.jsonl"
    line = {"sessionId": "s1", "userId": "u1", "loginAt": "2026-01-01T00:00:00Z"}
    path.write_text(json.dumps({**line, "_user": {"username": "u"}}) + "\n")
    return [a.format(file=path, port=free_port()) for a in args]


@pytest.mark.parametrize("args", EVERY_DATABASE_COMMAND, ids=" ".join)
@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_an_unreachable_database_is_one_line(
    cli_on: CliOn, kind: str, args: list[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "sessions.db"
    url = REFUSING_PG if kind == "postgresql" else f"sqlite:///{missing}"
    result = cli_on(url)(*_args(args, tmp_path))
    sqlite_refused = (
        f"cannot open the database: cannot create {missing}: No such file or directory — "
        "does its directory exist and is it writable? (DATABASE_URL)"
    )
    assert_fails(result, PG_REFUSED if kind == "postgresql" else sqlite_refused)
    assert "hunter2" not in result.output
    assert not missing.parent.exists()


NEEDS_TABLES = [
    ["db", "check"],
    ["users", "create", "x", "--password", "y"],
    ["users", "list"],
    ["users", "activate", "x"],
    ["totp", "enable", "x"],
    ["tokens", "create", "x"],
    ["sessions", "revoke", "--user", "x"],
    ["import", "{file}"],
]


@pytest.mark.parametrize("args", NEEDS_TABLES, ids=" ".join)
def test_a_database_never_migrated_says_run_db_upgrade(
    cli_on: CliOn, blank_database_url: str, args: list[str], tmp_path: Path
) -> None:
    result = cli_on(blank_database_url)(*_args(args, tmp_path))
    assert_fails(result, SCHEMA_NOT_CURRENT)


def test_bad_configuration_is_one_line_with_status_2(invoke: Invoke) -> None:
    result = invoke("tokens", "create", "x", env={"SESSIONS_BCRYPT_ROUNDS": "many"})
    assert_fails(result, "SESSIONS_BCRYPT_ROUNDS must be an integer, got 'many'", exit_code=2)


def test_bcrypt_rounds_past_31_is_one_line_with_status_2(invoke: Invoke) -> None:
    # Accepted, it would answer 500 for unknown users only (bcrypt refuses cost 32).
    result = invoke("users", "list", env={"SESSIONS_BCRYPT_ROUNDS": "32"})
    assert_fails(result, "SESSIONS_BCRYPT_ROUNDS must be at most 31, got 32", exit_code=2)


# --- db -------------------------------------------------------------------------------


def test_db_upgrade_is_idempotent_and_check_passes(cli_on: CliOn, blank_database_url: str) -> None:
    invoke = cli_on(blank_database_url)
    for _ in range(2):
        result = invoke("db", "upgrade")
        assert result.exit_code == 0, (result.output, result.exception)
        assert result.stdout.strip() == "database is at the newest migration"
    checked = invoke("db", "check")
    assert checked.exit_code == 0, (checked.output, checked.exception)
    assert checked.stdout.strip() == "models match the migrations"
    created = json_out(invoke("users", "create", "first", "--password", "pw"))
    assert is_rc_id(created["userId"])


def test_db_check_reports_models_match_migrations(invoke: Invoke) -> None:
    result = invoke("db", "check")
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout.strip() == "models match the migrations"


def test_a_new_sqlite_database_and_its_journals_are_private(cli_on: CliOn, tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "sessions.db"
    path.parent.mkdir()
    old_umask = os.umask(0o022)  # the usual umask would give 0644
    app = None
    try:
        upgraded = cli_on(f"sqlite:///{path}")("db", "upgrade")
        assert upgraded.exit_code == 0, upgraded.output
        app = make_app(tmp_path, f"sqlite:///{path}")
        with get_engine(app).connect() as conn:  # WAL mode: -wal and -shm exist while open
            conn.exec_driver_sql("SELECT count(*) FROM users")
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in sorted(path.parent.iterdir())}
    finally:
        os.umask(old_umask)
        if app is not None:
            get_engine(app).dispose()
    assert modes == {"sessions.db": 0o600, "sessions.db-shm": 0o600, "sessions.db-wal": 0o600}


def test_an_existing_sqlite_file_keeps_its_mode(cli_on: CliOn, tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    result = cli_on(f"sqlite:///{path}")("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # the operator's choice stands


# --- users ----------------------------------------------------------------------------


def _login(app: Flask, username: str, password: str, **extra: str) -> dict[str, Any]:
    response = app.test_client().post(
        "/api/v1/login", json={"user": username, "password": password, **extra}
    )
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()["data"]
    return data


def test_users_create_prints_user_id_and_defaults_role_to_user(invoke: Invoke, api: Flask) -> None:
    created = json_out(invoke("users", "create", "alice", "--password", "pw-alice"))
    assert list(created) == ["userId"]
    assert is_rc_id(created["userId"])

    me = _login(api, "alice", "pw-alice")["me"]
    assert me == {
        "_id": created["userId"],
        "username": "alice",
        "name": None,
        "roles": ["user"],
        "active": True,
    }


@pytest.mark.parametrize(
    ("args", "message", "exit_code"),
    [
        ([], "give one of --password PW or --no-password (a service account)", 2),
        (
            ["--password", "pw", "--no-password"],
            "give one of --password PW or --no-password (a service account)",
            2,
        ),
        (
            ["--password", ""],
            "the password must not be empty — for a service account use --no-password",
            1,
        ),
    ],
    ids=["neither", "both", "empty-password"],
)
def test_users_create_needs_exactly_one_password_choice(
    invoke: Invoke, args: list[str], message: str, exit_code: int
) -> None:
    assert_fails(invoke("users", "create", "alice", *args), message, exit_code)
    assert json_lines(invoke("users", "list")) == []  # nothing was created


def test_users_create_with_name_email_and_roles(invoke: Invoke, api: Flask) -> None:
    created = json_out(
        invoke(
            "users",
            "create",
            "Boss",
            "--password",
            "pw-boss",
            "--name",
            "The Boss",
            "--email",
            "boss@example.org",
            "--role",
            "admin",
            "--role",
            "user",
        )
    )
    me = _login(api, "BOSS@example.org", "pw-boss")["me"]
    assert me == {
        "_id": created["userId"],
        "username": "Boss",
        "name": "The Boss",
        "roles": ["admin", "user"],
        "active": True,
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (["alice"], ["alice"]),
        (["alice"], ["ALICE"]),
        (["Alice"], ["aLiCe"]),
        (["alice", "--email", "a@example.org"], ["bob", "--email", "A@EXAMPLE.ORG"]),
    ],
    ids=["same-username", "upper-case-username", "mixed-case-username", "email-case"],
)
def test_users_create_refuses_duplicates(
    invoke: Invoke, first: list[str], second: list[str]
) -> None:
    json_out(invoke("users", "create", *first, "--password", "pw-1"))
    result = invoke("users", "create", *second, "--password", "pw-2")
    assert_fails(
        result,
        f"username or email already exists: {second[0]} — see: sessions-service users list",
    )


EXISTS = "username or email already exists: {} — see: sessions-service users list"
PATTERN_REFUSES = (
    "username {} is not allowed: it must match [0-9a-zA-Z-_.]+ (SESSIONS_USERNAME_PATTERN)"
)
INVISIBLE = "username {} contains an invisible or control character ({})"
HOSTILE_USERNAMES = [
    ("ADMİN", PATTERN_REFUSES.format("'ADMİN'")),
    ("ａｄｍｉｎ", EXISTS.format("admin")),  # NFKC: full-width is admin, who exists
    ("ＡＤＭＩＮ", EXISTS.format("ADMIN")),
    ("admin\u200b", INVISIBLE.format("'admin\\u200b'", "U+200B")),
    ("\u200badmin", INVISIBLE.format("'\\u200badmin'", "U+200B")),
    ("аdmin", PATTERN_REFUSES.format("'аdmin'")),  # Cyrillic а
    ("a\nb", INVISIBLE.format("'a\\nb'", "U+000A")),
    ("\x01", INVISIBLE.format("'\\x01'", "U+0001")),
    ("admin\u202e", INVISIBLE.format("'admin\\u202e'", "U+202E")),
    ("\u3164", INVISIBLE.format("'\u3164'", "U+3164")),
    ("ceo@corp.com", PATTERN_REFUSES.format("'ceo@corp.com'")),
    ("al ice", PATTERN_REFUSES.format("'al ice'")),
    ("   ", "username must not be empty"),
    ("admin\u00a0", EXISTS.format("admin")),  # NFKC: a no-break space, trimmed
]
HOSTILE_IDS = [
    "dotted-capital-i",
    "full-width",
    "full-width-upper",
    "zero-width-space",
    "leading-zero-width-space",
    "cyrillic-a",
    "newline",
    "control-x01",
    "right-to-left-override",
    "hangul-filler",
    "email-as-username",
    "space",
    "blank",
    "no-break-space",
]


@pytest.mark.parametrize(("username", "message"), HOSTILE_USERNAMES, ids=HOSTILE_IDS)
def test_users_create_refuses_hostile_usernames(
    invoke: Invoke, username: str, message: str
) -> None:
    json_out(invoke("users", "create", "admin", "--password", "pw", "--email", "admin@corp.com"))
    assert_fails(invoke("users", "create", username, "--password", "pw-2"), message)
    assert [u["username"] for u in json_lines(invoke("users", "list"))] == ["admin"]


NOT_AN_EMAIL = "email {} is not an email address (one @ with text on both sides, no spaces)"
HOSTILE_EMAILS = [
    ("ADMIN@Corp.com", EXISTS.format("ceo")),
    ("ａｄｍｉｎ@corp.com", EXISTS.format("ceo")),
    (
        "ceo@corp.com\n",
        "email 'ceo@corp.com\\n' contains an invisible or control character (U+000A)",
    ),
    (
        "ceo\u200b@corp.com",
        "email 'ceo\\u200b@corp.com' contains an invisible or control character (U+200B)",
    ),
    ("no-at-sign", NOT_AN_EMAIL.format("'no-at-sign'")),
    ("a@b@corp.com", NOT_AN_EMAIL.format("'a@b@corp.com'")),
    ("ceo @corp.com", NOT_AN_EMAIL.format("'ceo @corp.com'")),
    ("@corp.com", NOT_AN_EMAIL.format("'@corp.com'")),
    ("ceo@", NOT_AN_EMAIL.format("'ceo@'")),
]
HOSTILE_EMAIL_IDS = [
    "someones-email-other-case",
    "someones-email-full-width",
    "newline",
    "zero-width-space",
    "no-at",
    "two-ats",
    "space",
    "no-local-part",
    "no-domain",
]


@pytest.mark.parametrize(("email", "message"), HOSTILE_EMAILS, ids=HOSTILE_EMAIL_IDS)
def test_users_create_refuses_hostile_emails(invoke: Invoke, email: str, message: str) -> None:
    json_out(invoke("users", "create", "admin", "--password", "pw", "--email", "admin@corp.com"))
    assert_fails(invoke("users", "create", "ceo", "--password", "pw-2", "--email", email), message)
    assert [u["username"] for u in json_lines(invoke("users", "list"))] == ["admin"]


PERMISSIVE = {"SESSIONS_USERNAME_PATTERN": "[0-9a-zA-Z-_.@]+"}


@pytest.mark.parametrize(
    ("first", "second", "clash"),
    [
        (["ceo@corp.com"], ["ceo", "--email", "CEO@corp.com"], "ceo"),
        (["ceo", "--email", "ceo@corp.com"], ["Ceo@Corp.com"], "Ceo@Corp.com"),
    ],
    ids=["email-equals-a-username", "username-equals-an-email"],
)
def test_usernames_and_emails_share_one_namespace(
    invoke: Invoke, api: Flask, first: list[str], second: list[str], clash: str
) -> None:
    created = json_out(invoke("users", "create", *first, "--password", "pw-1", env=PERMISSIVE))
    result = invoke("users", "create", *second, "--password", "pw-2", env=PERMISSIVE)
    assert_fails(result, EXISTS.format(clash))
    assert len(json_lines(invoke("users", "list"))) == 1
    assert _login(api, "ceo@corp.com", "pw-1")["userId"] == created["userId"]


@pytest.mark.parametrize(
    "username", ["funke.olasupo", "user-0", "rocket.agent", "Boss_2", "a"], ids=lambda u: u
)
def test_rocket_chat_usernames_are_accepted(invoke: Invoke, api: Flask, username: str) -> None:
    created = json_out(invoke("users", "create", username, "--password", "pw"))
    assert _login(api, username.upper(), "pw")["userId"] == created["userId"]


# --- totp -----------------------------------------------------------------------------


def test_totp_enable_prints_secret_uri_and_backup_codes(invoke: Invoke, api: Flask) -> None:
    json_out(invoke("users", "create", "tina", "--password", "pw-tina"))
    enrolment = json_out(invoke("totp", "enable", "tina"))
    assert set(enrolment) == {"secret", "uri", "backupCodes"}
    secret, uri, codes = enrolment["secret"], enrolment["uri"], enrolment["backupCodes"]
    assert len(base64.b32decode(secret)) >= 10
    assert uri.startswith("otpauth://totp/")
    assert pyotp.parse_uri(uri).secret == secret
    assert "tina" in uri
    assert len(codes) == 12
    assert len(set(codes)) == 12
    assert all(isinstance(code, str) and len(code) == 8 for code in codes)

    # What was printed is what the server checks.
    assert _login(api, "tina", "pw-tina", code=pyotp.TOTP(secret).now())["me"]["username"] == (
        "tina"
    )
    assert _login(api, "tina", "pw-tina", code=codes[0])["me"]["username"] == "tina"


def test_totp_enable_for_unknown_user_fails(invoke: Invoke) -> None:
    assert_fails(invoke("totp", "enable", "nobody"), NO_SUCH_USER)


# --- tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize("bypass", [[], ["--bypass-2fa"]], ids=["plain", "bypass-2fa"])
def test_tokens_create_prints_a_working_login(
    invoke: Invoke, api: Flask, bypass: list[str]
) -> None:
    user_id = json_out(invoke("users", "create", "svc", "--password", "pw-svc"))["userId"]
    token = json_out(invoke("tokens", "create", "svc", *bypass))
    assert set(token) == {"userId", "authToken", "sessionId"}
    assert token["userId"] == user_id
    assert isinstance(token["authToken"], str) and len(token["authToken"]) >= 43
    assert is_rc_id(token["sessionId"])

    response = api.test_client().get(
        "/api/v1/sessions/list",
        headers={"X-User-Id": token["userId"], "X-Auth-Token": token["authToken"]},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["total"] == 1
    (session,) = body["sessions"]
    assert session["sessionId"] == session["_id"] == token["sessionId"]
    assert session["host"] == session["ip"] == ""
    assert "device" not in session


def test_tokens_create_for_unknown_user_fails(invoke: Invoke) -> None:
    assert_fails(invoke("tokens", "create", "nobody"), NO_SUCH_USER)


# --- keys and configuration errors ----------------------------------------------------


def _assert_fernet_key(text: str) -> str:
    key = text.strip()
    assert len(base64.urlsafe_b64decode(key)) == 32
    Fernet(key.encode())  # raises if malformed
    return key


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": UNREACHABLE_PG},
        {"DATABASE_URL": "mysql://nope", "SESSIONS_SECRET_KEY": "not-a-fernet-key"},
    ],
    ids=["postgres-without-secret-key", "invalid-settings"],
)
def test_keys_generate_needs_no_configuration(env: dict[str, str]) -> None:
    first = bare("keys", "generate", **env)
    second = bare("keys", "generate", **env)
    assert (first.exit_code, first.stderr) == (0, ""), first.exception
    assert (second.exit_code, second.stderr) == (0, ""), second.exception
    assert _assert_fernet_key(first.stdout) != _assert_fernet_key(second.stdout)
    assert first.stdout.count("\n") == 1


def test_keys_generate_in_process_without_secret_key() -> None:
    result = CliRunner().invoke(
        cli,
        ["keys", "generate"],
        env={"DATABASE_URL": UNREACHABLE_PG, "SESSIONS_SECRET_KEY": None},
    )
    assert result.exit_code == 0, (result.output, result.exception)
    _assert_fernet_key(result.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ["db", "upgrade"],
        ["users", "create", "x", "--password", "y"],
        pytest.param(
            ["serve", "--host", "127.0.0.1", "--port", "{port}", "--workers", "1"],
            id="serve",
            marks=pytest.mark.e2e,  # a real process: were it to start, gunicorn would serve
        ),
    ],
    ids=["db-upgrade", "users-create", "serve"],
)
def test_postgres_without_secret_key_is_a_one_line_error(args: list[str]) -> None:
    argv = [a.format(port=free_port()) for a in args]
    if args[0] == "serve":
        done = run_cli(*argv, env=clean_env(DATABASE_URL=UNREACHABLE_PG))
        status, stdout, stderr = done.returncode, done.stdout, done.stderr
    else:
        result = bare(*argv, DATABASE_URL=UNREACHABLE_PG)
        status, stdout, stderr = result.exit_code, result.stdout, result.stderr
        assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert status != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "SESSIONS_SECRET_KEY" in lines[0]
    assert "sessions-service keys generate" in lines[0]
    assert "Traceback" not in stdout + stderr
    assert stdout == ""


# --- serve ----------------------------------------------------------------------------


@pytest.mark.e2e
def test_serve_refuses_a_never_migrated_postgres_database(
    blank_pg_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    proc = start_serve(service_env(blank_pg_url), free_port(), 2, log)
    try:
        returncode = proc.wait(timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail(f"serve kept running on an unmigrated database:\n{log.read_text()}")
    output = log.read_text()
    assert returncode != 0, output
    assert "sessions-service db upgrade" in output
    assert "Booting worker" not in output
    assert "Listening at" not in output
    assert "Traceback" not in output

    # Nothing was created: the refusal happened before any migration.
    engine = sa.create_engine(blank_pg_url)
    try:
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == []
    finally:
        engine.dispose()
