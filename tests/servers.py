"""The console script in other processes: ``sessions-service serve`` (real gunicorn) and the
CLI, for the tests and for bench/ alike.

Every subprocess gets an environment of its own (nothing of the service inherited), every wait
is bounded, and a server is stopped by its PID. Nothing here needs pytest: a server that does
not come up raises ServerFailed with its log.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from flask import Flask

from sessions_service.state import get_engine

from .conftest import CHROME_113, SECRET_KEY, cli_invoker, json_out

SCRIPT = str(Path(sys.executable).parent / "sessions-service")
HTTP_TIMEOUT = 15
CLI_TIMEOUT = 60
START_TIMEOUT = 30
# The gunicorn settings ``serve`` uses, for plain gunicorn runs of another WSGI app.
GUNICORN_CONF = "sessions_service.ops.gunicorn_conf"


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**settings: str) -> dict[str, str]:
    """os.environ without any service setting, plus ``settings``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("SESSIONS_") and k != "DATABASE_URL"
    }
    env.update(settings)
    return env


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    """The console script's environment: this test's database, test settings, ``extra``."""
    return clean_env(
        **{
            "DATABASE_URL": database_url,
            "SESSIONS_SECRET_KEY": SECRET_KEY,
            "SESSIONS_BCRYPT_ROUNDS": "4",
            **extra,
        }
    )


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``sessions-service ARGS`` in a subprocess (its main() turns config errors into one line)."""
    return subprocess.run(
        [SCRIPT, *args], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False
    )


def cli_json(*args: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``sessions-service ARGS``, check it succeeded and return its JSON output."""
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def start_serve(
    env: dict[str, str],
    port: int,
    workers: int,
    log: Path | None = None,
    *,
    app: str | None = None,
    **popen: Any,
) -> subprocess.Popen[Any]:
    """Start ``sessions-service serve`` on 127.0.0.1:``port``; output appended to ``log``.

    With ``app`` (``module:variable``), plain gunicorn serves that WSGI app instead, under the
    service's own gunicorn settings (``sessions_service.ops.gunicorn_conf``).
    """
    command = [SCRIPT, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if app is not None:
        command = [sys.executable, "-m", "gunicorn", "-c", "python:" + GUNICORN_CONF, app]
        command += ["--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers)]
    if log is None:
        return subprocess.Popen(command, env=env, **popen)
    with log.open("ab") as out:  # append: the workers share the file
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, **popen)


def stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate by PID if still running; kill if it does not stop in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class ServerFailed(RuntimeError):
    """``serve`` exited or did not get ready in time (the message holds its log)."""


@dataclass
class Server:
    """A running ``sessions-service serve`` and the CLI pointed at the same database."""

    port: int
    env: dict[str, str]
    log: Path
    pid: int  # gunicorn's master

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> dict[str, Any]:
        """Run ``sessions-service ARGS`` with the server's settings and return its JSON output.

        In this process (click's runner on the console script's group): the CLI and the server
        still share nothing but the database.
        """
        settings: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SESSIONS_")}
        settings.update((k, v) for k, v in self.env.items() if k.startswith("SESSIONS_"))
        apps: list[Flask] = []
        try:
            invoke = cli_invoker(self.env["DATABASE_URL"], apps)
            result = invoke(*args, key=settings.pop("SESSIONS_SECRET_KEY", None), env=settings)
        finally:
            for app in apps:
                get_engine(app).dispose()
        return json_out(result)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=HTTP_TIMEOUT, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, timeout=HTTP_TIMEOUT, **kwargs)

    def login(self, username: str, password: str, **extra: Any) -> dict[str, Any]:
        """POST /login with a Chrome 113 User-Agent; returns ``data``."""
        response = self.post(
            "/api/v1/login",
            json={"user": username, "password": password, **extra},
            headers={"User-Agent": CHROME_113},
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def events(self) -> list[dict[str, Any]]:
        """The security events the workers wrote (one JSON object per line)."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith('{"time"')]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def running_server(
    env: dict[str, str],
    log: Path,
    *,
    workers: int = 2,
    wait_for_workers: bool = False,
    start_timeout: float = START_TIMEOUT,
    app: str | None = None,
) -> Iterator[Server]:
    """``sessions-service serve`` (or gunicorn serving ``app``, see start_serve) on a free port,
    stopped by its PID at the end of the block.

    Ready once it accepts connections; with ``wait_for_workers`` also not before the log shows
    every worker booted.
    """
    port = free_port()
    proc = start_serve(env, port, workers, log, app=app)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise ServerFailed(f"serve exited with {proc.returncode}:\n{log.read_text()}")
            booted = log.read_text(errors="replace").count("Booting worker")
            if (not wait_for_workers or booted >= workers) and _listening(port):
                break
            if time.monotonic() > deadline:
                log_text = log.read_text()
                raise ServerFailed(
                    f"serve not ready on {port} within {start_timeout}s:\n{log_text}"
                )
            time.sleep(0.1)
        yield Server(port, env, log, proc.pid)
    finally:
        stop(proc)
