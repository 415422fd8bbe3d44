"""The one time source and the one timestamp format of the service.

Every "now" comes from ``utcnow()``; tests move it with ``frozen_at`` (in-process apps only:
a server in another process keeps the real clock). Every timestamp the service writes out
(API bodies, CLI output, security events) is ``format_timestamp``'s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta


def _system_now() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _system_now


def utcnow() -> datetime:
    """Timezone-aware UTC now, truncated to milliseconds (the API's precision)."""
    now = _source()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_timestamp(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and Z, as Rocket.Chat (``2023-05-24T00:25:54.234Z``)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class FrozenClock:
    """A clock standing at one instant until moved (``advance``)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        self.now = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move the clock by ``delta``."""
        self.now += delta

    def __call__(self) -> datetime:
        return self.now


@contextlib.contextmanager
def frozen_at(at: datetime | None = None) -> Iterator[FrozenClock]:
    """Within the block, ``utcnow()`` answers the FrozenClock's time (default: now)."""
    global _source
    clock = FrozenClock(at or _system_now())
    previous, _source = _source, clock
    try:
        yield clock
    finally:
        _source = previous
