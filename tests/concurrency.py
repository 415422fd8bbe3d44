"""Calls released together from threads, for the race tests (replay, lockout, throttling)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

THREAD_TIMEOUT = 60


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, released together by a barrier; their results."""
    barrier = threading.Barrier(len(calls), timeout=THREAD_TIMEOUT)
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except BaseException as exc:  # asserted on below
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a racing call did not finish in time"
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return results


def at_once(count: int, fn: Callable[[], Any]) -> list[Any]:
    """Call ``fn`` from ``count`` threads released together."""
    return race([fn] * count)
