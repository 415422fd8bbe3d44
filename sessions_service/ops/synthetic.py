"""Realistic, reproducible Rocket.Chat-style session documents for demos and benchmarks.

Everything comes from one ``random.Random(seed)`` and an explicit ``now``, so the same
arguments always give the same documents (the importer then adds random token hashes).
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from sessions_service.clock import format_timestamp, utcnow
from sessions_service.core.useragent import device_document, parse_user_agent
from sessions_service.data.ids import ID_ALPHABET, ID_LENGTH

SESSIONS_PER_USER = 20
DEFAULT_DAYS = 90
LOGGED_OUT_FRACTION = 1 / 3
NO_NAME_FRACTION = 0.05
NAMES_FILE = "synthetic_names.json"  # {"first": [...], "last": [...]}, next to this module

# (User-Agent, weight): about a quarter Firefox, the rest a typical workspace's mix.
USER_AGENTS: tuple[tuple[str | None, float], ...] = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", 11),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0", 6),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0", 5),
    ("Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", 2),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
        1,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        18,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        7,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/123.0.0.0 Safari/537.36",
        3,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
        5,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Safari/605.1.15",
        5,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        4,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        4,
    ),
    ("RC Mobile; iOS 17.4; v4.48.0 (5123)", 7),
    ("RC Mobile; Android 14; v4.48.0 (5123)", 7),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Rocket.Chat/4.0.2 Chrome/122.0.6261.156 Electron/29.4.0 Safari/537.36",
        6,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Rocket.Chat/4.0.2 Chrome/122.0.6261.156 Electron/29.4.0 Safari/537.36",
        3,
    ),
    ("python-requests/2.31.0", 1),
    (None, 1),  # a service-account token made from the CLI: no device at all
)
HOSTS: tuple[tuple[str, float], ...] = (
    ("chat.example.com", 80),
    ("chat.example.com:443", 10),
    ("open.example.org", 7),
    ("localhost:3000", 3),
)


@dataclass(frozen=True)
class SyntheticUser:
    """A generated account: Rocket.Chat id, unique username, optional display name."""

    id: str
    username: str
    name: str | None


@functools.cache
def _names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The first and last names of synthetic_names.json, read once, at the first use."""
    text = resources.files("sessions_service.ops").joinpath(NAMES_FILE).read_text(encoding="utf-8")
    names = json.loads(text)
    return tuple(names["first"]), tuple(names["last"])


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def _random_id(rng: random.Random) -> str:
    return "".join(rng.choices(ID_ALPHABET, k=ID_LENGTH))


def _username(rng: random.Random, first: str, last: str) -> str:
    f, la = _ascii(first), _ascii(last)
    style = rng.random()
    if style < 0.45:
        return f"{f}.{la}"
    if style < 0.6:
        return f"{f}{la}"
    if style < 0.75:
        return f"{f[0]}{la}"
    if style < 0.85:
        return f"{f}_{la}"
    return f"{f}{rng.randint(1, 99)}"


def synthetic_users(count: int, rng: random.Random) -> list[SyntheticUser]:
    """``count`` users with realistic names and case-insensitively unique usernames."""
    first_names, last_names = _names()
    taken: set[str] = set()
    users: list[SyntheticUser] = []
    for _ in range(count):
        first, last = rng.choice(first_names), rng.choice(last_names)
        base = _username(rng, first, last)
        username = base
        for suffix in itertools.count(2):
            if username not in taken:
                break
            username = f"{base}{suffix}"
        taken.add(username)
        roll = rng.random()
        name: str | None = f"{first} {last}" if roll >= 0.15 else first
        if roll < NO_NAME_FRACTION:
            name = None
        users.append(SyntheticUser(_random_id(rng), username, name))
    return users


def _document(user_agent: str | None) -> dict[str, Any] | None:
    """The device of a User-Agent as the API (and so an export) shows it."""
    device = parse_user_agent(user_agent)
    return None if device is None else device_document(device)


def _ip(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if roll < 0.5:
        return f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if roll < 0.6:
        return f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if roll < 0.95:
        return ".".join(str(rng.randint(1, 223)) for _ in range(4))
    return f"2001:db8:{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"


def synthetic_sessions(
    count: int,
    *,
    users: int | None = None,
    seed: int = 0,
    now: datetime | None = None,
    days: int = DEFAULT_DAYS,
    logged_out: float = LOGGED_OUT_FRACTION,
) -> Iterator[dict[str, Any]]:
    """Yield ``count`` session documents of ``users`` users (default count/20), reproducibly."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    now = now or utcnow()
    people = synthetic_users(users or max(1, count // SESSIONS_PER_USER), rng)
    # Some users log in far more than others (a long tail, as in real workspaces).
    user_weights = list(itertools.accumulate(rng.paretovariate(2.5) for _ in people))
    agents = [agent for agent, _ in USER_AGENTS]
    agent_weights = list(itertools.accumulate(weight for _, weight in USER_AGENTS))
    devices = {agent: _document(agent) for agent in agents}
    hosts = [host for host, _ in HOSTS]
    host_weights = list(itertools.accumulate(weight for _, weight in HOSTS))
    # Logins stay within the last days-1 days, so with the default 90-day expiry every
    # session not logged out is still active for at least a day.
    span_ms = max(1, (days - 1) * 86_400_000)
    for _ in range(count):
        user = rng.choices(people, cum_weights=user_weights)[0]
        login_at = now - timedelta(milliseconds=rng.randrange(span_ms))
        doc: dict[str, Any] = {
            "sessionId": _random_id(rng),
            "userId": user.id,
            "ip": _ip(rng),
            "host": rng.choices(hosts, cum_weights=host_weights)[0],
        }
        device = devices[rng.choices(agents, cum_weights=agent_weights)[0]]
        if device is not None:
            doc["device"] = device
        doc["loginAt"] = format_timestamp(login_at)
        end = now
        if rng.random() < logged_out:
            lasted = timedelta(seconds=min(rng.expovariate(1 / 28_800), 30 * 86_400))
            end = min(now, login_at + lasted)
            doc["logoutAt"] = format_timestamp(end)
            doc["logoutBy"] = user.id
        active_ms = int((end - login_at).total_seconds() * 1000)
        doc["lastActivityAt"] = format_timestamp(
            login_at + timedelta(milliseconds=rng.randint(0, active_ms))
        )
        doc["_user"] = {"username": user.username, "name": user.name}
        if user.name is None:
            del doc["_user"]["name"]
        yield doc


def synthetic_lines(
    count: int,
    *,
    users: int | None = None,
    seed: int = 0,
    now: datetime | None = None,
    days: int = DEFAULT_DAYS,
) -> Iterator[str]:
    """The same documents as JSON Lines (no trailing newline on each string)."""
    for doc in synthetic_sessions(count, users=users, seed=seed, now=now, days=days):
        yield json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
