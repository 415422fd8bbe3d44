"""Benchmark GET /api/v1/sessions/list.all through gunicorn against the same SQL run raw.

    python bench/list_all.py --sessions 1000000            # PostgreSQL, its own bench_* database
    python bench/list_all.py --sqlite --sessions 100000    # SQLite, a file in a temporary folder

Steps: create a database, migrate it, load generated sessions through ``sessions-service import``
(a third logged out, about a quarter Firefox, sessions/20 users), make an admin with a
2FA-exempt token (``tokens create --bypass-2fa``), run ``sessions-service serve`` with 2 gunicorn
workers, send each scenario's requests from a few client threads, and print per scenario:
p50/p95 latency and requests/s over HTTP, the p50 of the exact statements
``queries.list_sessions`` runs (captured with SQLAlchemy's ``before_cursor_execute`` and re-run
on a bare psycopg / sqlite3 connection, no HTTP, no ORM), the p50 of the same
``queries.list_sessions`` call in-process (SQL + SQLAlchemy), and HTTP p50 / SQL p50; then the
peak RSS (VmHWM) of each gunicorn worker. Nothing is asserted: it only prints figures.

On PostgreSQL the HTTP figures come in three phases: "after import" (as a user who has just
run ``sessions-service import`` sees them; skipped with --reuse), "steady" (after a VACUUM of
the whole database, as autovacuum leaves it) and "live" (while bench/live_traffic.py writes
what a busy workspace does: ~500 lastActivityAt touches/s, ~3 logins/s, ~5 logouts/s). Beside
the service, bench/reference_app.py (P1 written by hand on psycopg, checked to answer the same
bytes) runs under the same gunicorn options, and each phase prints ours/reference for P1's p50
and req/s.

The client threads default to the number of workers (2), so latency is service time rather than
queueing; on a 2-core machine the client, gunicorn and the database share the same cores.
The service runs with SESSIONS_DB_STATEMENT_TIMEOUT_MS raised so slow cases are measured.

--keep leaves the database (and prints how to --reuse it); --reuse NAME (PostgreSQL) or
--reuse PATH (SQLite) skips building the dataset.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import event

from sessions_service import create_app
from sessions_service.clock import utcnow
from sessions_service.data import queries
from sessions_service.data.models import User, UserSession
from sessions_service.data.queries import DEFAULT_SORT
from sessions_service.ops.synthetic import synthetic_lines
from sessions_service.state import get_engine, new_session, settings_of

# The test suite's runner of ``sessions-service serve`` (and its environment), from the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.live_traffic import LiveTraffic  # noqa: E402
from tests.servers import (  # noqa: E402
    SCRIPT,
    Server,
    ServerFailed,
    clean_env,
    running_server,
)

ADMIN = "bench-admin"
PAGE_SIZE = 50
HTTP_TIMEOUT = 120
# Requests slower than the production default (5 s) still get measured, not cancelled.
STATEMENT_TIMEOUT_MS = 120_000
WRITE_CHUNK = 2_000


@dataclass
class Scenario:
    """One list.all call: its query string and the same arguments for queries.list_sessions."""

    key: str
    label: str
    offset: int = 0
    sort: list[tuple[str, int]] = field(default_factory=lambda: list(DEFAULT_SORT))
    pattern: str | None = None

    def path(self) -> str:
        params: dict[str, str] = {}
        if self.pattern:
            params["filter"] = self.pattern
        if self.offset:
            params["offset"] = str(self.offset)
        if self.sort != DEFAULT_SORT:
            params["sort"] = json.dumps(dict(self.sort))
        query = urlencode(params)
        return "/api/v1/sessions/list.all" + (f"?{query}" if query else "")


@dataclass
class Measure:
    """What one scenario measured."""

    scenario: Scenario
    total: int = 0
    requests: int = 0
    errors: int = 0
    p50: float = 0.0
    p95: float = 0.0
    rps: float = 0.0
    sql_p50: float = 0.0
    orm_p50: float = 0.0
    statements: int = 0


# --- databases ------------------------------------------------------------------------------


class Target:
    """The database under test: its app URL, how it is made and dropped."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.sqlite = args.sqlite
        self.keep = args.keep or bool(args.reuse)
        self.reuse = bool(args.reuse)
        if self.sqlite:
            path = Path(args.reuse) if args.reuse else workdir / "bench.db"
            self.path = path.resolve()
            self.name = str(self.path)
            self.url = f"sqlite:///{self.path}"
            self.admin_url = ""
        else:
            base = sa.make_url(args.database_url).set(drivername="postgresql")
            self.name = args.reuse or f"bench_{uuid.uuid4().hex[:10]}"
            self.admin_url = base.set(database=base.database or "postgres").render_as_string(
                hide_password=False
            )
            self.url = base.set(database=self.name).render_as_string(hide_password=False)

    def create(self) -> None:
        if self.sqlite or self.reuse:
            return
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self.keep:
            return
        if self.sqlite:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def vacuum(self) -> None:
        """PostgreSQL: the steady state autovacuum reaches (visibility map, statistics)."""
        if self.sqlite:
            return
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")

    def version(self) -> str:
        if self.sqlite:
            return f"SQLite {sqlite3.sqlite_version}"
        with psycopg.connect(self.url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0] if row else '?'}"


def service_env(target: Target, secret_key: str) -> dict[str, str]:
    """The environment for the CLI, gunicorn and the in-process app."""
    return clean_env(
        DATABASE_URL=target.url,
        SESSIONS_SECRET_KEY=secret_key,
        SESSIONS_BCRYPT_ROUNDS="4",
        SESSIONS_DB_STATEMENT_TIMEOUT_MS=str(STATEMENT_TIMEOUT_MS),
    )


def run_cli(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``sessions-service ARGS`` in a subprocess."""
    done = subprocess.run(
        [SCRIPT, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if check and done.returncode != 0:
        raise SystemExit(f"sessions-service {' '.join(args)} failed:\n{done.stderr}")
    return done


# --- dataset ------------------------------------------------------------------------------


def build_dataset(env: dict[str, str], sessions: int, users: int, seed: int) -> dict[str, Any]:
    """Pipe generated JSON Lines into ``sessions-service import -``; returns its summary."""
    proc = subprocess.Popen(
        [SCRIPT, "import", "-"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    started = time.perf_counter()
    chunk: list[str] = []
    try:
        for line in synthetic_lines(sessions, users=users, seed=seed):
            chunk.append(line)
            if len(chunk) >= WRITE_CHUNK:
                proc.stdin.write(("\n".join(chunk) + "\n").encode())
                chunk.clear()
        proc.stdin.write(("\n".join(chunk) + "\n").encode() if chunk else b"")
        proc.stdin.close()
    except BrokenPipeError:
        pass
    output = proc.stdout.read()
    if proc.wait() != 0:
        raise SystemExit("sessions-service import failed")
    summary: dict[str, Any] = json.loads(output)
    summary["wallSeconds"] = round(time.perf_counter() - started, 1)
    return summary


def admin_token(env: dict[str, str]) -> tuple[str, str]:
    """An admin whose token needs no two-factor (created when missing)."""
    created = run_cli(
        env,
        "users",
        "create",
        ADMIN,
        "--password",
        uuid.uuid4().hex,
        "--role",
        "admin",
        "--role",
        "user",
        check=False,
    )
    if created.returncode != 0 and "exists" not in created.stderr:
        raise SystemExit(f"cannot create {ADMIN}:\n{created.stderr}")
    token = json.loads(run_cli(env, "tokens", "create", ADMIN, "--bypass-2fa").stdout)
    return token["userId"], token["authToken"]


def selective_pattern(app: Flask, now: datetime) -> str:
    """A username fragment matching at most 100 active sessions (P2)."""
    with new_session(app) as db:
        active = sa.func.count(UserSession.id)
        candidates = db.scalars(
            sa.select(User.username)
            .join(UserSession, UserSession.user_id == User.id)
            .where(UserSession.logout_at.is_(None), UserSession.expires_at > now)
            .group_by(User.username)
            .having(active.between(5, 60))
            .order_by(User.username.desc())
            .limit(20)
        ).all()
        for username in candidates:
            page = queries.list_sessions(
                db, now=now, offset=0, count=0, sort=DEFAULT_SORT, pattern=username
            )
            if page.total <= 100:
                return str(username)
    return "no-such-user-fragment"


# --- raw SQL ------------------------------------------------------------------------------


def capture(app: Flask, scenario: Scenario, now: datetime) -> tuple[list[tuple[str, Any]], int]:
    """The statements queries.list_sessions sends for this scenario, with their parameters."""
    engine = get_engine(app)
    captured: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        with new_session(app) as db:
            page = queries.list_sessions(
                db,
                now=now,
                offset=scenario.offset,
                count=PAGE_SIZE,
                sort=scenario.sort,
                pattern=scenario.pattern,
            )
            db.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return captured, page.total


def time_raw(app: Flask, statements: list[tuple[str, Any]], runs: int) -> list[float]:
    """Seconds per re-run of the statements on the bare DBAPI connection (first run warms)."""
    pooled = get_engine(app).raw_connection()  # psycopg / sqlite3, with the app's connect hooks
    try:
        dbapi: Any = pooled.driver_connection
        cursor = dbapi.cursor()
        timings: list[float] = []
        for run in range(runs + 1):
            started = time.perf_counter()
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                if cursor.description is not None:
                    cursor.fetchall()
            if run:
                timings.append(time.perf_counter() - started)
            # As each request ends: psycopg's rollback also drops its prepared statements, so
            # (as in the app) PostgreSQL never switches these to generic plans.
            dbapi.rollback()
        return timings
    finally:
        pooled.close()


def time_orm(app: Flask, scenario: Scenario, now: datetime, runs: int) -> list[float]:
    """Seconds per queries.list_sessions call in-process: SQL plus SQLAlchemy, no HTTP."""
    timings: list[float] = []
    with new_session(app) as db:
        for run in range(runs + 1):
            started = time.perf_counter()
            queries.list_sessions(
                db,
                now=now,
                offset=scenario.offset,
                count=PAGE_SIZE,
                sort=scenario.sort,
                pattern=scenario.pattern,
            )
            if run:
                timings.append(time.perf_counter() - started)
            db.rollback()
    return timings


# --- HTTP ---------------------------------------------------------------------------------


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def worker_pids(master: int) -> list[int]:
    """gunicorn's workers: the processes whose parent is the master."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            stat = (entry / "stat").read_text()
            # The command name may hold spaces; the parent pid follows its closing paren.
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry.name))
    return sorted(pids)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def serving(env: dict[str, str], workdir: Path, app: str | None = None) -> Iterator[Server]:
    """``sessions-service serve`` (or gunicorn serving ``app``) with 2 workers, through the test
    suite's runner (tests/servers.py: ready once every worker booted, stopped by its PID)."""
    log = workdir / ("gunicorn.log" if app is None else "reference.log")
    try:
        with running_server(
            env, log, workers=2, wait_for_workers=True, start_timeout=60, app=app
        ) as server:
            yield server
    except ServerFailed as failed:
        raise SystemExit(str(failed)[-3000:]) from None


@contextmanager
def reference_serving(env: dict[str, str], workdir: Path, database_url: str) -> Iterator[int]:
    """bench/reference_app.py under the service's own gunicorn settings, 2 workers; its port."""
    root = str(Path(__file__).resolve().parent.parent)  # where ``bench.reference_app`` imports
    reference_env = {**env, "BENCH_DATABASE_URL": database_url, "PYTHONPATH": root}
    with serving(reference_env, workdir, app="bench.reference_app:app") as server:
        yield server.port


def same_body(port: int, ref_port: int, headers: dict[str, str]) -> bool:
    """Both servers answer P1 with the same bytes (the reference is only a reference if so)."""
    _, ours = get(port, "/api/v1/sessions/list.all", headers)
    _, reference = get(ref_port, "/api/v1/sessions/list.all", headers)
    return ours == reference


@dataclass
class Http:
    """One scenario's HTTP figures in one phase."""

    p50: float
    p95: float
    rps: float
    requests: int
    errors: int
    total: int


def measure_http(port: int, path: str, headers: dict[str, str], args: argparse.Namespace) -> Http:
    """Warm up, then time ``args.requests`` GETs of ``path``."""
    drive(port, path, headers, args.concurrency * 2, args.concurrency, args.budget)
    latencies, errors, wall, total = drive(
        port, path, headers, args.requests, args.concurrency, args.budget
    )
    return Http(
        percentile(latencies, 50),
        percentile(latencies, 95),
        len(latencies) / wall if wall else 0.0,
        len(latencies),
        errors,
        total,
    )


def run_phase(
    name: str,
    port: int,
    ref_port: int | None,
    measures: list[Measure],
    headers: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, Http]:
    """Every scenario over HTTP (and P1 on the reference, keyed "ref"); printed as it goes."""
    results: dict[str, Http] = {}
    for m in measures:
        results[m.scenario.key] = figures = measure_http(port, m.scenario.path(), headers, args)
        print(f"  {name} {m.scenario.key}: p50 {figures.p50 * 1000:.1f} ms", flush=True)
    if ref_port is not None:
        results["ref"] = measure_http(ref_port, measures[0].scenario.path(), headers, args)
        ours, ref = results[measures[0].scenario.key], results["ref"]
        print(
            f"  {name} P1 ours/reference: p50 {ours.p50 / ref.p50:.2f}x, "
            f"req/s {ours.rps / ref.rps:.2f}x",
            flush=True,
        )
    return results


def live_accounts(app: Flask, count: int) -> list[tuple[str, str]]:
    """Users with passwords for the live phase's logins (made when missing)."""
    from sessions_service.core import accounts

    made = []
    settings = settings_of(app)
    with new_session(app) as db:
        for i in range(count):
            username, password = f"bench-live-{i}", f"bench-live-pass-{i}"
            if accounts.get_user_by_username(db, username) is None:
                accounts.create_user(
                    db,
                    username,
                    password,
                    bcrypt_rounds=settings.bcrypt_rounds,
                    username_pattern=settings.username_pattern,
                )
            made.append((username, password))
        db.commit()
    return made


def print_phases(measures: list[Measure], phases: dict[str, dict[str, Http]]) -> None:
    """p50 / req/s of each scenario in each phase, and P1 against the reference."""
    names = list(phases)
    head = f"{'scenario (p50 ms / req/s)':<32}" + "".join(f"{n:>22}" for n in names)
    print(head)
    print("-" * len(head))
    rows = [(m.scenario.key + " " + m.scenario.label, m.scenario.key) for m in measures]
    if all("ref" in results for results in phases.values()):
        rows.append(("P1 reference (hand-written)", "ref"))
    for label, key in rows:
        cells = "".join(
            f"{phases[n][key].p50 * 1000:>12.1f} / {phases[n][key].rps:>6.0f}" for n in names
        )
        print(f"{label[:31]:<32}{cells}")
    for n, results in phases.items():
        if "ref" in results:
            ours, ref = results[measures[0].scenario.key], results["ref"]
            print(
                f"{n}: P1 ours/reference p50 {ours.p50 / ref.p50:.2f}x, "
                f"req/s {ours.rps / ref.rps:.2f}x"
            )


def drive(
    port: int, path: str, headers: dict[str, str], requests: int, concurrency: int, budget: float
) -> tuple[list[float], int, float, int]:
    """Send up to ``requests`` GETs from ``concurrency`` threads within ``budget`` seconds."""
    lock = threading.Lock()
    issued = 0
    errors = 0
    latencies: list[float] = []
    totals: list[int] = []
    deadline = time.perf_counter() + budget

    def client() -> None:
        nonlocal issued, errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
        while True:
            with lock:
                if issued >= requests or time.perf_counter() > deadline:
                    break
                issued += 1
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                with lock:
                    errors += 1
                continue
            elapsed = time.perf_counter() - started
            if response.will_close:  # gunicorn's sync workers close after each response
                conn.close()
            if response.status != 200:
                with lock:
                    errors += 1
                continue
            latencies.append(elapsed)
            if not totals:
                totals.append(json.loads(body)["total"])
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return latencies, errors, wall, totals[0] if totals else -1


def percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# --- report -------------------------------------------------------------------------------


def machine() -> str:
    model = "?"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    return (
        f"{os.cpu_count()} CPUs ({model}), {memory} RAM, {platform.system()} {platform.release()}"
    )


def print_table(measures: list[Measure], rss: dict[int, float]) -> None:
    head = (
        f"{'scenario':<44}{'total':>9}{'n':>6}{'err':>5}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'req/s':>8}{'SQL p50':>9}{'ORM p50':>9}{'HTTP/SQL':>9}{'stmts':>6}"
    )
    print(head)
    print("-" * len(head))
    for m in measures:
        ratio = m.p50 / m.sql_p50 if m.sql_p50 else float("nan")
        print(
            f"{m.scenario.key + ' ' + m.scenario.label:<44}{m.total:>9}{m.requests:>6}"
            f"{m.errors:>5}{m.p50 * 1000:>9.1f}{m.p95 * 1000:>9.1f}{m.rps:>8.1f}"
            f"{m.sql_p50 * 1000:>9.1f}{m.orm_p50 * 1000:>9.1f}{ratio:>9.2f}{m.statements:>6}"
        )
    for pid, mb in rss.items():
        print(f"peak RSS (VmHWM) of gunicorn worker {pid}: {mb:.0f} MB")


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions to generate")
    parser.add_argument("--users", type=int, default=None, help="users (default sessions/20)")
    parser.add_argument("--requests", type=int, default=200, help="HTTP requests per scenario")
    parser.add_argument("--concurrency", type=int, default=2, help="client threads (default 2)")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds at most per scenario's HTTP load"
    )
    parser.add_argument("--sql-runs", type=int, default=20, help="raw SQL runs per scenario")
    add_target_arguments(parser)
    return parser.parse_args(argv)


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark takes to make (or reuse) its database."""
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/",
        help="PostgreSQL server (a bench_* database is created there)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", metavar="NAME", help="use this kept database (or SQLite file)")
    parser.add_argument("--seed", type=int, default=1, help="synthetic data seed")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    users = args.users or max(1, args.sessions // 20)
    workdir = Path(tempfile.mkdtemp(prefix="bench_list_all_"))
    target = Target(args, workdir)
    secret_key = os.environ.get("SESSIONS_SECRET_KEY") or Fernet.generate_key().decode()
    env = service_env(target, secret_key)
    app: Flask | None = None
    try:
        target.create()
        run_cli(env, "db", "upgrade")
        print(f"machine: {machine()}; {target.version()}; Python {platform.python_version()}")
        if not target.reuse:
            summary = build_dataset(env, args.sessions, users, args.seed)
            rate = summary["sessionsImported"] / max(summary["wallSeconds"], 1e-9)
            print(
                f"imported {summary['sessionsImported']} sessions of {summary['usersCreated']} "
                f"users in {summary['wallSeconds']} s ({rate:.0f}/s; import command "
                f"{summary['seconds']} s); {summary['linesRejected']} rejected"
            )
        user_id, token = admin_token(env)
        headers = {"X-User-Id": user_id, "X-Auth-Token": token, "Connection": "close"}

        app = create_app(env, instance_path=str(workdir / "instance"))
        now = utcnow()
        with new_session(app) as db:
            stored = db.scalar(sa.select(sa.func.count()).select_from(UserSession)) or 0
        half = max(0, min(500_000, stored // 2))
        scenarios = [
            Scenario("P1", "first page, unfiltered"),
            Scenario("P2", "selective filter", pattern=selective_pattern(app, now)),
            Scenario("P3", "broad filter 'firefox'", pattern="firefox"),
            Scenario("P4", f"offset {half}", offset=half),
            Scenario("P5", "sort _user.username", sort=[("_user.username", 1)]),
        ]
        print(f"dataset: {stored} sessions stored; P2 filter = {scenarios[1].pattern!r}")
        measures = [Measure(scenario) for scenario in scenarios]
        accounts = [] if target.sqlite else live_accounts(app, 10)
        phases: dict[str, dict[str, Http]] = {}

        with serving(env, workdir) as server, contextlib.ExitStack() as stack:
            port = server.port
            ref_port = (
                None
                if target.sqlite
                else stack.enter_context(reference_serving(env, workdir, target.url))
            )
            if ref_port is not None and not same_body(port, ref_port, headers):
                raise SystemExit("the reference answers P1 differently from the service")
            if not target.reuse and not target.sqlite:
                # As a user sees it: right after `sessions-service import` (which vacuums).
                phases["after import"] = run_phase(
                    "after import", port, ref_port, measures, headers, args
                )
            target.vacuum()
            phases["steady"] = run_phase("steady", port, ref_port, measures, headers, args)
            if not target.sqlite:
                live = LiveTraffic(target.url, port, accounts)
                live.start()
                try:
                    time.sleep(5)  # let the writes build up before measuring
                    phases["live"] = run_phase("live", port, ref_port, measures, headers, args)
                finally:
                    print(live.stop().summary(), flush=True)
            rss = {pid: peak_rss_mb(pid) for pid in worker_pids(server.pid)}

        target.vacuum()  # the raw statements run on the steady table, not the live one
        for m in measures:  # the steady phase, beside the same statements run raw
            steady = phases["steady"][m.scenario.key]
            m.p50, m.p95, m.rps = steady.p50, steady.p95, steady.rps
            m.requests, m.errors = steady.requests, steady.errors
            statements, total = capture(app, m.scenario, now)
            m.total = steady.total if steady.total >= 0 else total
            m.statements = len(statements)
            m.sql_p50 = statistics.median(time_raw(app, statements, args.sql_runs))
            m.orm_p50 = statistics.median(time_orm(app, m.scenario, now, args.sql_runs))
        get_engine(app).dispose()
        print()
        print(
            f"list.all, {target.version()}, gunicorn 2 workers, {args.concurrency} client threads, "
            f"page size {PAGE_SIZE}"
        )
        print_table(measures, rss)
        print()
        print_phases(measures, phases)
        if target.keep:
            print(f"\nkept: --reuse {target.name}" + (" --sqlite" if target.sqlite else ""))
    finally:
        if app is not None:
            get_engine(app).dispose()
        target.drop()
        if not (target.keep and target.sqlite and not target.reuse):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
