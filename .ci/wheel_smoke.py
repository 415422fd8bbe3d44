"""CI: the built wheel, installed in a fresh venv away from the checkout, migrates a fresh
SQLite and a fresh PostgreSQL database and answers one real list.all over HTTP.

Standard library only; run with any Python 3.11: ``python3 .ci/wheel_smoke.py``. Needs
TEST_DATABASE_URL (a PostgreSQL server where it may create and drop a database).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "wheel-smoke-pw"  # noqa: S105  (a throwaway account in a throwaway database)


def run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(map(str, args))}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def list_all_once(script: Path, env: dict[str, str], cwd: Path) -> dict[str, object]:
    """Migrate, make an admin and a token, serve, GET list.all with the password 2FA method."""
    run(script, "db", "upgrade", env=env, cwd=cwd)
    run(script, "db", "check", env=env, cwd=cwd)
    user = json.loads(
        run(
            script,
            "users",
            "create",
            "wheeladmin",
            "--password",
            PASSWORD,
            "--role",
            "admin",
            env=env,
            cwd=cwd,
        )
    )
    token = json.loads(run(script, "tokens", "create", "wheeladmin", env=env, cwd=cwd))
    port = free_port()
    log = cwd / f"serve-{port}.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(script), "serve", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/sessions/list.all",
            headers={
                "X-User-Id": user["userId"],
                "X-Auth-Token": token["authToken"],
                "x-2fa-code": hashlib.sha256(PASSWORD.encode()).hexdigest(),
                "x-2fa-method": "password",
            },
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    body: dict[str, object] = json.loads(response.read())
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"serve did not answer:\n{log.read_text()}")
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=20)
    if body.get("success") is not True or body.get("total") != 1:
        sys.exit(f"unexpected list.all answer: {body}")
    return body


def main() -> None:
    admin_url = os.environ["TEST_DATABASE_URL"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        venv_python = ROOT / ".venv" / "bin" / "python"
        run(
            venv_python,
            "-m",
            "pip",
            "wheel",
            ".",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            tmp / "dist",
            cwd=ROOT,
        )
        wheel = next((tmp / "dist").glob("sessions_service-*.whl"))
        run(sys.executable, "-m", "venv", tmp / "venv")
        pip = tmp / "venv" / "bin" / "pip"
        run(pip, "install", "-q", "--require-hashes", "-r", ROOT / "requirements.lock")
        run(pip, "install", "-q", "--no-deps", wheel)
        script = tmp / "venv" / "bin" / "sessions-service"
        work = tmp / "work"  # away from the checkout: nothing of the source tree is on hand
        work.mkdir()
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SESSIONS_") and k != "DATABASE_URL"
        }
        base["SESSIONS_SECRET_KEY"] = run(script, "keys", "generate", cwd=work).strip()

        list_all_once(script, {**base, "DATABASE_URL": f"sqlite:///{tmp}/wheel.db"}, work)
        print("wheel on SQLite: migrated, list.all answered")

        dbname = f"sessions_wheel_{uuid.uuid4().hex[:8]}"
        run("psql", admin_url, "-qc", f'CREATE DATABASE "{dbname}"')
        try:
            pg_url = admin_url.rsplit("/", 1)[0] + f"/{dbname}"
            list_all_once(script, {**base, "DATABASE_URL": pg_url}, work)
            print("wheel on PostgreSQL: migrated, list.all answered")
        finally:
            run("psql", admin_url, "-qc", f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    main()
