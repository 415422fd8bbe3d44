"""Serving as operators do: plain ``gunicorn wsgi:app`` behaves like ``sessions-service serve``,
and a database that was never migrated says how to fix it."""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .bodies import LOGGED_OUT
from .conftest import make_app
from .servers import HTTP_TIMEOUT, _listening, free_port, service_env, stop

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def test_gunicorn_conf_defaults_match_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1:3000 (Rocket.Chat's port), workers from WEB_CONCURRENCY, serve's limits."""
    from sessions_service.ops.server import gunicorn_options

    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    conf = importlib.reload(importlib.import_module("sessions_service.ops.gunicorn_conf"))
    assert conf.bind == ["127.0.0.1:3000"]
    assert conf.workers == 3
    expected = gunicorn_options("127.0.0.1", 3000, 3)
    for name, value in expected.items():
        if name != "bind":
            assert getattr(conf, name) == value, name


def _plain_gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """``gunicorn wsgi:app`` from the checkout (so it reads gunicorn.conf.py), on ``port``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [GUNICORN, "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.e2e
@pytest.mark.parametrize("workers", ["2"])
def test_plain_gunicorn_migrates_a_fresh_sqlite_file_and_serves(
    tmp_path: Path, workers: str
) -> None:
    database = tmp_path / "fresh.db"
    env = service_env(f"sqlite:///{database}", WEB_CONCURRENCY=workers)
    port = free_port()
    log = tmp_path / "gunicorn.log"
    proc = _plain_gunicorn(env, port, log)
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        response = requests.get(
            f"http://127.0.0.1:{port}/api/v1/sessions/list",
            headers={"X-User-Id": "nobody", "X-Auth-Token": "nothing"},
            timeout=HTTP_TIMEOUT,
        )
        # 401 (the tables exist), not 503 from a database nobody migrated.
        assert response.status_code == 401
        assert response.json() == LOGGED_OUT
        deadline = time.monotonic() + 15
        while log.read_text().count("Booting worker") < int(workers):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        stop(proc)
    assert database.exists()


@pytest.mark.e2e
def test_plain_gunicorn_refuses_a_postgresql_schema_that_is_behind(
    tmp_path: Path, blank_pg_url: str
) -> None:
    env = service_env(blank_pg_url)
    log = tmp_path / "gunicorn.log"
    proc = _plain_gunicorn(env, free_port(), log)
    try:
        assert proc.wait(timeout=30) != 0
    finally:
        stop(proc)
    errors = [line for line in log.read_text().splitlines() if line.startswith("error:")]
    assert errors == ["error: the database schema is not current; run: sessions-service db upgrade"]
    assert "Traceback" not in log.read_text()
    assert "Booting worker" not in log.read_text()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_unmigrated_database_answers_503_and_logs_the_fix(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'never-migrated.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("blank_pg_url")
    )
    app = make_app(tmp_path, url)
    try:
        with caplog.at_level(logging.ERROR, logger="sessions_service.web.errors"):
            response = app.test_client().get(
                "/api/v1/sessions/list", headers={"X-User-Id": "a", "X-Auth-Token": "b"}
            )
    finally:
        from sessions_service.state import get_engine

        get_engine(app).dispose()
    assert response.status_code == 503
    assert response.get_json() == {"success": False, "error": "Service unavailable"}
    assert "run: sessions-service db upgrade" in caplog.text
