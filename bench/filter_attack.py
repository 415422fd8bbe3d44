"""Regex-filter attack (issue 9): admin list.all latency while ordinary users send bad filters.

    python bench/filter_attack.py --sessions 200000           # PostgreSQL, its own bench_* database
    python bench/filter_attack.py --sqlite --sessions 50000   # SQLite, a file in a temporary folder

Builds the dataset as bench/list_all.py does (``sessions-service import`` of synthetic data),
makes a 2FA-exempt admin and an ordinary user ``bench-attacker``, and serves with
``sessions-service serve --workers 2`` under the production defaults (statement timeout 5 s,
filter budget, concurrency cap). Then, per attack pattern: the p50/p95 of the admin's
unfiltered list.all first page from one client thread with nobody else calling ("unloaded"),
then the same while ``--attackers`` threads (default 16) of the one attacker account send
``GET /sessions/list?filter=<pattern>`` back to back, each waiting for its answer ("under
attack"), and what the attackers got (status counts, their p50). Nothing is asserted.

``--interval S`` paces each attacker to one request per S seconds instead (``--interval 1``:
16 requests/s in all, five times the rate at which the issue's attack, one 5 s statement per
attacker at a time, brought PostgreSQL down).

Patterns: the issue's ``(((.*){0,9}){0,9}){0,9}x`` (now a 400 at validation), and
``.*`` x 100 + ``y``, which the static limits accept (RE2 compiles it to 13 instructions) but
PostgreSQL's engine spends ~90 µs a row on: only the own-rows restriction and the runtime
budget bound it; and, as a control, no filter at all (the same flood of requests, so what is
left of the slowdown once the filter costs nothing).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from list_all import (  # noqa: E402 - the sibling benchmark's helpers
    HTTP_TIMEOUT,
    Target,
    add_target_arguments,
    admin_token,
    build_dataset,
    machine,
    percentile,
    run_cli,
    service_env,
    serving,
)

ATTACKER = "bench-attacker"
# "" is the control: the same flood of requests without a filter, i.e. what is left of the
# attack's cost once the filter itself costs nothing.
PATTERNS = ["(((.*){0,9}){0,9}){0,9}x", ".*" * 100 + "y", ""]
ADMIN_PATH = "/api/v1/sessions/list.all"


@dataclass
class Result:
    """One pattern's figures."""

    pattern: str
    unloaded: list[float] = field(default_factory=list)
    attacked: list[float] = field(default_factory=list)
    admin_errors: int = 0
    attacker_status: Counter[int] = field(default_factory=Counter)
    attacker_latency: list[float] = field(default_factory=list)


def attacker_token(env: dict[str, str]) -> tuple[str, str]:
    """An ordinary user (role user only) and a token of theirs."""
    run_cli(env, "users", "create", ATTACKER, "--password", uuid.uuid4().hex, check=False)
    done = run_cli(env, "tokens", "create", ATTACKER)
    token = json.loads(done.stdout)
    return token["userId"], token["authToken"]


def status_of_get(port: int, path: str, headers: dict[str, str]) -> int:
    """One GET on a new connection; its status (body read and dropped), -1 when it failed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return -1
    finally:
        conn.close()


def admin_latencies(
    port: int, headers: dict[str, str], requests: int, budget: float
) -> tuple[list[float], int]:
    """Seconds per admin list.all from one client thread, up to ``requests`` or ``budget`` s."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + budget
    while len(latencies) + errors < requests and time.perf_counter() < deadline:
        started = time.perf_counter()
        status = status_of_get(port, ADMIN_PATH, headers)
        if status == 200:
            latencies.append(time.perf_counter() - started)
        else:
            errors += 1
    return latencies, errors


def attack(
    port: int,
    headers: dict[str, str],
    pattern: str,
    threads: int,
    interval: float,
    stop: threading.Event,
    result: Result,
) -> list[threading.Thread]:
    """Start ``threads`` attackers sending the pattern until ``stop`` is set: each waits for
    its answer, then sends again at once or ``interval`` s after its previous request began."""
    path = "/api/v1/sessions/list" + (f"?{urlencode({'filter': pattern})}" if pattern else "")
    lock = threading.Lock()

    def attacker() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            status = status_of_get(port, path, headers)
            with lock:
                result.attacker_status[status] += 1
                result.attacker_latency.append(time.perf_counter() - started)
            stop.wait(max(0.0, started + interval - time.perf_counter()))

    started = [threading.Thread(target=attacker, daemon=True) for _ in range(threads)]
    for thread in started:
        thread.start()
    return started


def ms(values: list[float], q: int) -> str:
    return f"{percentile(values, q) * 1000:.1f}" if values else "-"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200_000, help="sessions to generate")
    parser.add_argument("--attackers", type=int, default=16, help="attacker threads")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="seconds between one attacker's requests (default 0: back to back)",
    )
    parser.add_argument("--requests", type=int, default=60, help="admin requests per phase")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds at most per phase")
    add_target_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench_filter_attack_"))
    target = Target(args, workdir)
    secret_key = os.environ.get("SESSIONS_SECRET_KEY") or Fernet.generate_key().decode()
    env = service_env(target, secret_key)
    # The production defaults, not list_all.py's raised timeout: the attack is against them.
    env.pop("SESSIONS_DB_STATEMENT_TIMEOUT_MS")
    results: list[Result] = []
    try:
        target.create()
        run_cli(env, "db", "upgrade")
        print(f"machine: {machine()}; {target.version()}; Python {platform.python_version()}")
        if not target.reuse:
            summary = build_dataset(env, args.sessions, max(1, args.sessions // 20), args.seed)
            print(f"imported {summary['sessionsImported']} sessions in {summary['wallSeconds']} s")
        admin_id, admin_secret = admin_token(env)
        attacker_id, attacker_secret = attacker_token(env)
        target.vacuum()
        admin = {"X-User-Id": admin_id, "X-Auth-Token": admin_secret, "Connection": "close"}
        mallory = {"X-User-Id": attacker_id, "X-Auth-Token": attacker_secret, "Connection": "close"}
        with serving(env, workdir) as server:
            port = server.port
            admin_latencies(port, admin, 5, args.budget)  # warm both workers
            for pattern in PATTERNS:
                result = Result(pattern)
                result.unloaded, errors = admin_latencies(port, admin, args.requests, args.budget)
                stop = threading.Event()
                threads = attack(
                    port, mallory, pattern, args.attackers, args.interval, stop, result
                )
                time.sleep(1.0)  # let the attack reach its steady state
                result.attacked, result.admin_errors = admin_latencies(
                    port, admin, args.requests, args.budget
                )
                result.admin_errors += errors
                stop.set()
                for thread in threads:
                    thread.join(HTTP_TIMEOUT)
                results.append(result)
                print(f"  {pattern[:40]!r}: done", flush=True)
        print()
        print(
            f"admin list.all (unfiltered first page), {target.version()}, gunicorn 2 workers, "
            f"{args.attackers} attacker threads of one account on sessions/list, "
            + (f"one request each per {args.interval} s" if args.interval else "back to back")
        )
        head = (
            f"{'attack pattern':<30}{'unloaded p50':>13}{'attacked p50':>13}{'ratio':>7}"
            f"{'attacked p95':>13}{'admin err':>10}{'attacker p50':>13}  attacker answers"
        )
        print(head)
        print("-" * len(head))
        for r in results:
            ratio = statistics.median(r.attacked) / statistics.median(r.unloaded)
            shown = r.pattern if len(r.pattern) <= 28 else r.pattern[:20] + "…" + r.pattern[-4:]
            shown = shown or "(none: unfiltered list)"
            answers = ", ".join(f"{k}×{v}" for k, v in sorted(r.attacker_status.items()))
            print(
                f"{shown:<30}{ms(r.unloaded, 50):>13}{ms(r.attacked, 50):>13}{ratio:>7.2f}"
                f"{ms(r.attacked, 95):>13}{r.admin_errors:>10}{ms(r.attacker_latency, 50):>13}"
                f"  {answers}"
            )
        if target.keep:
            print(f"\nkept: --reuse {target.name}" + (" --sqlite" if target.sqlite else ""))
    finally:
        target.drop()
        if not (target.keep and target.sqlite and not target.reuse):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
