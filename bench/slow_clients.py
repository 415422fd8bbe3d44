"""Slow-client attack: admin list.all latency while N connections trickle bodies at 1 byte/s.

    python bench/slow_clients.py                      # PostgreSQL at 127.0.0.1:5432
    python bench/slow_clients.py --sqlite --slow 50

Builds a dataset as bench/list_all.py does, starts ``sessions-service serve`` with its default
gunicorn setup (2 workers), measures admin list.all (first page + total) p50 unloaded, then
again while ``--slow`` attacker connections each send a login request's headers and then its
body one byte a second (reconnecting whenever the server answers, e.g. 408 at the body
deadline). Prints both p50s, their ratio and every non-200 answer the admin saw. Nothing is
asserted; figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

from cryptography.fernet import Fernet
from list_all import (
    Target,
    add_target_arguments,
    admin_token,
    build_dataset,
    drive,
    percentile,
    run_cli,
    service_env,
    serving,
)

LOGIN_HEAD = (
    b"POST /api/v1/login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    b"Content-Length: 4000\r\n\r\n"
)


def trickle(port: int, stop: threading.Event, answered: list[int]) -> None:
    """One attacker: headers at once, then a byte a second, reconnecting after each answer."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(LOGIN_HEAD)
                while not stop.is_set():
                    sock.sendall(b" ")
                    try:
                        if sock.recv(4096):
                            answered.append(1)
                            break
                    except TimeoutError:
                        continue
        except OSError:
            time.sleep(0.2)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--slow", type=int, default=50, help="attacker connections")
    parser.add_argument("--requests", type=int, default=100_000, help="admin requests per phase")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per phase")
    add_target_arguments(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench_slow_"))
    target = Target(args, workdir)
    env = service_env(target, Fernet.generate_key().decode())
    env.pop("SESSIONS_DB_STATEMENT_TIMEOUT_MS")  # the production default, as an attack meets it
    try:
        target.create()
        run_cli(env, "db", "upgrade")
        if not target.reuse:
            build_dataset(env, args.sessions, max(1, args.sessions // 20), args.seed)
        target.vacuum()
        user_id, token = admin_token(env)
        headers = {"X-User-Id": user_id, "X-Auth-Token": token, "Connection": "close"}
        path = "/api/v1/sessions/list.all"
        with serving(env, workdir) as server:
            port = server.port
            drive(port, path, headers, 20, 1, args.budget)  # warm up
            quiet, quiet_errors, _, _ = drive(port, path, headers, args.requests, 1, args.budget)
            stop = threading.Event()
            answered: list[int] = []
            attackers = [
                threading.Thread(target=trickle, args=(port, stop, answered), daemon=True)
                for _ in range(args.slow)
            ]
            for thread in attackers:
                thread.start()
            time.sleep(3)  # every attacker is inside a worker thread by now
            loaded, loaded_errors, wall, _ = drive(
                port, path, headers, args.requests, 1, args.budget
            )
            stop.set()
            for thread in attackers:
                thread.join(timeout=5)
        p50_quiet, p50_loaded = percentile(quiet, 50), percentile(loaded, 50)
        p95_quiet, p95_loaded = percentile(quiet, 95), percentile(loaded, 95)
        kind = "SQLite" if target.sqlite else "PostgreSQL"
        print(
            f"{kind}, {args.sessions} sessions, {args.slow} connections trickling 1 byte/s:\n"
            f"  admin list.all p50 unloaded {p50_quiet * 1000:.1f} ms, "
            f"p95 {p95_quiet * 1000:.1f} ms"
            f" ({len(quiet)} requests, "
            f"{quiet_errors} non-200)\n"
            f"  admin list.all p50 under attack {p50_loaded * 1000:.1f} ms, p95 "
            f"{p95_loaded * 1000:.1f} ms ({len(loaded)} "
            f"requests in {wall:.1f} s, {loaded_errors} non-200); ratio "
            f"{p50_loaded / p50_quiet:.2f}\n"
            f"  attacker connections answered by the server (body deadline): {len(answered)}"
        )
    finally:
        target.drop()


if __name__ == "__main__":
    main()
