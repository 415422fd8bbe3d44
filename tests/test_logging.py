"""Security events go through the standard logging tree; the process, not the app, says where.

The app only logs records (``sessions_service.security``, INFO, fields in ``security_event``);
the console script, gunicorn's master and ``flask --app app`` configure stderr JSON lines, and
an operator's own gunicorn logging config replaces that.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sessions_service.clock import frozen_at
from sessions_service.core import events
from sessions_service.core.events import LOGGER_NAME, EventFormatter

from .conftest import CHROME_113
from .servers import CLI_TIMEOUT, run_cli, service_env

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).parent / "flask")
KEYS = ["time", "event", "outcome", "userId", "ip", "requestId"]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_event_renders_as_one_json_line_in_a_fixed_key_order() -> None:
    handler = Records()
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        with frozen_at(datetime(2023, 5, 24, 0, 25, 54, 234567, tzinfo=UTC)):
            events.emit(
                "login.blocked",
                "failure",
                user_id="u1",
                ip="10.0.0.1",
                request_id="req-1",
                scope="user",
                attempts=5,
                note="é\r\n" + "x" * 200,
            )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

    (record,) = handler.records
    assert (record.levelno, record.getMessage()) == (logging.INFO, "login.blocked failure")
    clipped = "\\u00e9\\r\\n" + "x" * 125 + "\\u2026"
    assert EventFormatter().format(record) == (
        '{"time":"2023-05-24T00:25:54.234Z","event":"login.blocked","outcome":"failure",'
        '"userId":"u1","ip":"10.0.0.1","requestId":"req-1","scope":"user","attempts":5,'
        f'"note":"{clipped}"}}'
    )


def test_the_formatter_leaves_other_records_plain() -> None:
    record = logging.LogRecord("other", logging.WARNING, __file__, 1, "a %s", ("b",), None)
    assert EventFormatter().format(record) == "a b"


def test_create_app_leaves_the_logging_configuration_alone(app: Flask) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    assert (logger.handlers, logger.propagate, logger.level) == ([], True, logging.NOTSET)


def test_request_events_reach_the_root_logger_with_the_request_context(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        answer = client.post(
            "/api/v1/login",
            json={"user": "nobody", "password": "wrong"},
            headers={"User-Agent": CHROME_113, "X-Request-Id": "trace-1"},
        )
    assert answer.status_code == 401
    (record,) = [r for r in caplog.records if r.name == LOGGER_NAME]
    event = record.security_event  # type: ignore[attr-defined]
    assert list(event) == [*KEYS, "reason"]
    assert (event["event"], event["outcome"], event["reason"]) == (
        "login",
        "failure",
        "bad-credentials",
    )
    assert (event["ip"], event["requestId"]) == ("127.0.0.1", "trace-1")


def _json_lines(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith('{"time"')]


def test_the_console_script_writes_command_events_to_stderr(tmp_path: Path) -> None:
    env = service_env(f"sqlite:///{tmp_path / 'cli.db'}")
    for args in (["db", "upgrade"], ["users", "create", "alice", "--password", "pw"]):
        assert run_cli(*args, env=env).returncode == 0

    done = run_cli("users", "deactivate", "alice", env=env)

    assert done.returncode == 0, done.stderr
    (event,) = _json_lines(done.stderr)
    assert list(event) == [*KEYS, "count", "by"]
    assert (event["event"], event["ip"], event["requestId"], event["by"]) == (
        "user.deactivate",
        None,
        None,
        "cli",
    )
    assert done.stderr == json.dumps(event, separators=(",", ":")) + "\n"  # nothing else


def test_flask_app_commands_write_their_events_to_stderr(tmp_path: Path) -> None:
    env = service_env(f"sqlite:///{tmp_path / 'flask.db'}")
    for args in (["db", "upgrade"], ["users", "create", "alice", "--password", "pw"]):
        assert run_cli(*args, env=env).returncode == 0

    done = subprocess.run(
        [FLASK, "--app", "app", "users", "activate", "alice"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert [e["event"] for e in _json_lines(done.stderr)] == ["user.activate"]


GUNICORN_LOGGING = """
import json, logging, sys
from gunicorn.config import Config
from sessions_service.ops.server import ServiceLogger

cfg = Config()
if sys.argv[1] == "operator":
    cfg.set("logconfig_dict", {"version": 1, "disable_existing_loggers": False,
                               "loggers": {"sessions_service.security": {"level": "WARNING"}}})
ServiceLogger(cfg)
logger = logging.getLogger("sessions_service.security")
print(json.dumps([[type(h.formatter).__name__ for h in logger.handlers],
                  logger.propagate, logger.level]))
"""


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("none", [["EventFormatter"], False, logging.INFO]),
        ("operator", [[], True, logging.WARNING]),
    ],
)
def test_gunicorn_configures_events_unless_the_operator_gave_a_logging_config(
    given: str, expected: list[object]
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", GUNICORN_LOGGING, given],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected
