"""A busy workspace's writes, in the background while the benchmark measures (PostgreSQL).

What a minute of a 30,000-user workspace does to the sessions table: every active user's
session records activity about once a minute (``lastActivityAt`` touches, ~500/s over a
rotating set of 30,000 active sessions), people log in (~3/s, each a real ``POST /login`` with a
bcrypt check, so a new row) and log out (~5/s). Touches and logouts are written as the service
writes them, one row per autocommit transaction on a connection of their own; logins go through
the service. Writes leave dead tuples and clear visibility-map bits, which is what slows the
index-only scans of a quiet, freshly vacuumed table.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

TOUCH_SET = 30_000
TICK_S = 0.1

ACTIVE_IDS_SQL = """
SELECT id FROM sessions WHERE logout_at IS NULL AND expires_at > now()
ORDER BY md5(id) LIMIT %s
"""
TOUCH_SQL = "UPDATE sessions SET last_activity_at = now() WHERE id = %s"
LOGOUT_SQL = """
UPDATE sessions SET logout_at = now(), logout_by = user_id
WHERE id = %s AND logout_at IS NULL
"""


@dataclass
class Rates:
    """Target writes per second of each kind."""

    touches: float = 500
    logins: float = 3
    logouts: float = 5


@dataclass
class Done:
    """What the generator did, and for how long."""

    touches: int = 0
    logins: int = 0
    login_failures: int = 0
    logouts: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Achieved rates, one line."""
        s = max(self.seconds, 1e-9)
        return (
            f"live traffic: {self.touches / s:.0f} touches/s, {self.logins / s:.1f} logins/s "
            f"({self.login_failures} failed), {self.logouts / s:.1f} logouts/s over {s:.0f} s"
        )


class LiveTraffic:
    """Start with ``start()``, stop with ``stop()`` (returns what was done)."""

    def __init__(
        self,
        database_url: str,
        port: int,
        accounts: list[tuple[str, str]],
        rates: Rates | None = None,
    ) -> None:
        self.database_url = database_url
        self.port = port
        self.accounts = accounts
        self.rates = rates or Rates()
        self.done = Done()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0
        with psycopg.connect(database_url, autocommit=True) as conn:
            ids = [row[0] for row in conn.execute(ACTIVE_IDS_SQL, (TOUCH_SET * 2,))]
        # Disjoint pools, so touches keep finding active sessions while others log out.
        split = min(TOUCH_SET, len(ids) // 2)
        self._touch_ids, self._logout_ids = ids[:split], ids[split:]

    def start(self) -> None:
        """Begin writing in background threads."""
        self._started = time.perf_counter()
        for target in (self._touches, self._logouts, self._logins):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> Done:
        """Stop writing and say what was done."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.done.seconds = time.perf_counter() - self._started
        return self.done

    def _paced(self, per_second: float, batch: Callable[[range], bool]) -> None:
        """Call ``batch(range)`` each tick with the steps due by then (``per_second`` a
        second), until stopped or it returns False."""
        if per_second <= 0:
            return
        started, i = time.perf_counter(), 0
        while not self._stop.is_set():
            due = int((time.perf_counter() - started) * per_second)
            if due > i:
                if not batch(range(i, due)):
                    return
                i = due
            self._stop.wait(TICK_S)

    def _touches(self) -> None:
        if not self._touch_ids:
            return
        with psycopg.connect(self.database_url, autocommit=True) as conn:

            def touch(steps: range) -> bool:
                # Pipelined: one round trip a tick, each UPDATE still its own transaction.
                with conn.pipeline():
                    for i in steps:
                        conn.execute(TOUCH_SQL, (self._touch_ids[i % len(self._touch_ids)],))
                self.done.touches += len(steps)
                return True

            self._paced(self.rates.touches, touch)

    def _logouts(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:

            def logout(steps: range) -> bool:
                for i in steps:
                    if i >= len(self._logout_ids):
                        return False  # the pool is used up: no more logouts this run
                    conn.execute(LOGOUT_SQL, (self._logout_ids[i],))
                    self.done.logouts += 1
                return True

            self._paced(self.rates.logouts, logout)

    def _logins(self) -> None:
        if not self.accounts:
            return

        def logins(steps: range) -> bool:
            for i in steps:
                self._login(*self.accounts[i % len(self.accounts)])
            return True

        self._paced(self.rates.logins, logins)

    def _login(self, username: str, password: str) -> None:
        """One real login (a bcrypt check and a new session row)."""
        body = json.dumps({"user": username, "password": password})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", "/api/v1/login", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                self.done.logins += 1
            else:
                self.done.login_failures += 1
        except OSError as exc:
            self.done.errors.append(str(exc))
            self.done.login_failures += 1
        finally:
            conn.close()
