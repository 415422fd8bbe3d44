"""Login throttling (issue 9, finding 3): Rocket.Chat's Block_Multiple_Failed_Logins_* rules,
counted in the database so every worker agrees.

Through the Flask test client on both databases (small limits: 3 per name, 6 per IP), and
across 4 real gunicorn workers with Rocket.Chat's defaults.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sessions_service.clock import FrozenClock

from .bodies import (
    LOGIN_BLOCKED_FOR_IP,
    LOGIN_BLOCKED_FOR_USER,
    LOGIN_FAILED,
    LOGIN_TOTP_INVALID,
    LOGIN_TOTP_REQUIRED,
)
from .concurrency import at_once
from .conftest import LOGIN, Account, Helpers, SecurityEvents, wrong_code
from .servers import running_server, service_env

USER_LIMIT, IP_LIMIT = 3, 6
LIMITS = {
    "SESSIONS_LOGIN_BLOCK_USER_ATTEMPTS": str(USER_LIMIT),
    "SESSIONS_LOGIN_BLOCK_IP_ATTEMPTS": str(IP_LIMIT),
}
BLOCK = timedelta(minutes=5)  # Rocket.Chat's default, left unset


@pytest.fixture
def app_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Small limits; a test adds settings with ``parametrize("app_env", [...], indirect=True)``."""
    return {**LIMITS, **getattr(request, "param", {})}


def attempt(
    client: FlaskClient, user: str, password: str, ip: str = "10.0.0.1", **extra: str
) -> TestResponse:
    return client.post(
        LOGIN, json={"user": user, "password": password, **extra}, environ_base={"REMOTE_ADDR": ip}
    )


def answers(responses: list[TestResponse]) -> list[tuple[int, Any]]:
    return [(r.status_code, r.get_json()) for r in responses]


FAILED = (401, LOGIN_FAILED)
BLOCKED_USER = (401, LOGIN_BLOCKED_FOR_USER)
BLOCKED_IP = (401, LOGIN_BLOCKED_FOR_IP)


@pytest.fixture
def alice(helpers: Helpers) -> Account:
    return helpers.user("alice", email="alice@example.com")


def sessions_of(helpers: Helpers, account: Account) -> int:
    return int(helpers.sql("SELECT COUNT(*) FROM sessions WHERE user_id = :u", u=account.id)[0][0])


def throttle_rows(helpers: Helpers) -> list[tuple[str, int]]:
    return sorted((r[0], r[1]) for r in helpers.sql("SELECT scope, failures FROM login_throttle"))


# --- per user ------------------------------------------------------------------------------


def test_a_name_is_blocked_after_its_limit_even_with_the_right_password(
    client: FlaskClient, helpers: Helpers, alice: Account, security_events: SecurityEvents
) -> None:
    failed = [attempt(client, "alice", f"guess-{i}") for i in range(USER_LIMIT)]
    assert answers(failed) == [FAILED] * USER_LIMIT
    refused = [
        attempt(client, "alice", "one-more-guess"),
        attempt(client, "alice", alice.password),  # right, still refused
        attempt(client, "ALICE", alice.password),  # the same name, case-folded
        attempt(client, "alice", alice.password, ip="10.0.0.2"),  # from anywhere
    ]
    assert answers(refused) == [BLOCKED_USER] * 4
    assert sessions_of(helpers, alice) == 0

    blocks = security_events.named("login.blocked")
    assert len(blocks) == 1, blocks
    block = blocks[0]
    assert (block["outcome"], block["scope"], block["attempts"], block["userId"]) == (
        "failure",
        "user",
        USER_LIMIT,
        alice.id,
    )
    assert block["until"].endswith("Z")
    reasons = [e["reason"] for e in security_events.named("login")]
    assert reasons == ["bad-credentials"] * USER_LIMIT + ["blocked-user"] * 4

    # Blocked attempts are not counted (so they do not extend the block) ...
    assert throttle_rows(helpers) == [("ip", USER_LIMIT), ("user", USER_LIMIT)]
    # ... and another name from the same IP still logs in.
    bob = helpers.user("bob")
    assert attempt(client, "bob", bob.password).status_code == 200


def test_an_unknown_name_is_blocked_exactly_like_a_known_one(
    client: FlaskClient, helpers: Helpers, alice: Account
) -> None:
    def sequence(name: str, ip: str) -> list[tuple[int, Any]]:
        return answers([attempt(client, name, "wrong", ip=ip) for _ in range(USER_LIMIT + 2)])

    assert sequence("alice", "10.0.0.1") == sequence("nobody", "10.0.0.2")
    assert sequence("nobody@example.com", "10.0.0.3") == [FAILED] * USER_LIMIT + [BLOCKED_USER] * 2
    # What was typed is never stored: keys are hashes.
    keys = [r[0] for r in helpers.sql("SELECT key FROM login_throttle WHERE scope = 'user'")]
    assert len(keys) == 3
    assert all(len(key) == 64 and "alice" not in key and "nobody" not in key for key in keys)


def test_a_success_clears_the_count(client: FlaskClient, helpers: Helpers, alice: Account) -> None:
    for _ in range(2):
        assert answers([attempt(client, "alice", "wrong") for _ in range(USER_LIMIT - 1)]) == [
            FAILED
        ] * (USER_LIMIT - 1)
        assert attempt(client, "alice", alice.password).status_code == 200
    assert throttle_rows(helpers) == []  # the IP's count went too

    # Logging in by email clears the username's count too: one identity.
    for _ in range(USER_LIMIT - 1):
        attempt(client, "alice", "wrong")
    assert attempt(client, "alice@example.com", alice.password).status_code == 200
    assert [attempt(client, "alice", "wrong") for _ in range(USER_LIMIT - 1)][-1].get_json() == (
        LOGIN_FAILED
    )
    assert attempt(client, "alice", alice.password).status_code == 200


def test_a_block_ends_after_its_time_and_one_more_failure_starts_it_again(
    clock: FrozenClock, client: FlaskClient, helpers: Helpers, alice: Account
) -> None:
    for _ in range(USER_LIMIT):
        attempt(client, "alice", "wrong")
    assert answers([attempt(client, "alice", alice.password)]) == [BLOCKED_USER]
    # Blocked to its last second, however often refused (a refused attempt is not counted) ...
    clock.advance(BLOCK - timedelta(seconds=1))
    assert answers([attempt(client, "alice", alice.password)]) == [BLOCKED_USER]
    clock.advance(timedelta(seconds=1))
    # ... then failures since the last success still count: one more, and a failure re-blocks.
    assert answers(
        [attempt(client, "alice", "wrong"), attempt(client, "alice", alice.password)]
    ) == [
        FAILED,
        BLOCKED_USER,
    ]
    clock.advance(BLOCK)
    assert attempt(client, "alice", alice.password).status_code == 200
    assert sessions_of(helpers, alice) == 1
    assert throttle_rows(helpers) == []


# --- per IP ----------------------------------------------------------------------------


def test_an_ip_is_blocked_after_its_limit_across_names(
    client: FlaskClient, helpers: Helpers, alice: Account, security_events: SecurityEvents
) -> None:
    failed = [attempt(client, f"spray-{i}", "wrong", ip="203.0.113.9") for i in range(IP_LIMIT)]
    assert answers(failed) == [FAILED] * IP_LIMIT
    assert answers([attempt(client, "alice", alice.password, ip="203.0.113.9")]) == [BLOCKED_IP]
    # The refused attempt counted against neither the IP nor the name.
    assert throttle_rows(helpers) == [("ip", IP_LIMIT)] + [("user", 1)] * IP_LIMIT
    assert attempt(client, "alice", alice.password, ip="203.0.113.10").status_code == 200

    blocks = security_events.named("login.blocked")
    assert [(b["scope"], b["attempts"], b["ip"], b["userId"]) for b in blocks] == [
        ("ip", IP_LIMIT, "203.0.113.9", None)
    ]
    assert security_events.named("login")[IP_LIMIT]["reason"] == "blocked-ip"


def test_ipv6_clients_are_counted_by_their_64_prefix(
    client: FlaskClient, helpers: Helpers, alice: Account
) -> None:
    for i in range(IP_LIMIT):
        attempt(client, f"spray-{i}", "wrong", ip=f"2001:db8:1:2::{i + 1:x}")
    assert answers([attempt(client, "alice", alice.password, ip="2001:db8:1:2:ffff::1")]) == [
        BLOCKED_IP
    ]
    assert attempt(client, "alice", alice.password, ip="2001:db8:1:3::1").status_code == 200


ALLOWLIST = {"SESSIONS_LOGIN_BLOCK_IP_ALLOWLIST": "10.9.0.0/16, 192.0.2.7"}


@pytest.mark.parametrize("app_env", [ALLOWLIST], indirect=True, ids=["allowlist"])
@pytest.mark.parametrize("ip", ["10.9.200.1", "192.0.2.7"], ids=["in-cidr", "exact-ip"])
def test_allowlisted_ips_are_never_blocked_but_names_still_are(
    client: FlaskClient, helpers: Helpers, alice: Account, ip: str
) -> None:
    sprayed = [attempt(client, f"spray-{i}", "wrong", ip=ip) for i in range(IP_LIMIT + 3)]
    assert answers(sprayed) == [FAILED] * (IP_LIMIT + 3)
    assert attempt(client, "alice", alice.password, ip=ip).status_code == 200
    named = [attempt(client, "alice", "wrong", ip=ip) for _ in range(USER_LIMIT + 1)]
    assert answers(named) == [FAILED] * USER_LIMIT + [BLOCKED_USER]
    assert [scope for scope, _ in throttle_rows(helpers)] == ["user"] * (IP_LIMIT + 4)


OFF = {"SESSIONS_LOGIN_BLOCK_ENABLED": "false"}
NO_IP = {"SESSIONS_LOGIN_BLOCK_BY_IP": "false"}
NO_USER = {"SESSIONS_LOGIN_BLOCK_BY_USER": "false"}


@pytest.mark.parametrize(
    ("app_env", "expected"),
    [
        (OFF, [FAILED] * 10),
        (NO_IP, [FAILED] * USER_LIMIT + [BLOCKED_USER] * (10 - USER_LIMIT)),
        (NO_USER, [FAILED] * IP_LIMIT + [BLOCKED_IP] * (10 - IP_LIMIT)),
    ],
    indirect=["app_env"],
    ids=["disabled", "by-user-only", "by-ip-only"],
)
def test_each_scope_can_be_turned_off(
    client: FlaskClient, alice: Account, expected: list[tuple[int, Any]]
) -> None:
    assert answers([attempt(client, "alice", "wrong") for _ in range(10)]) == expected


# --- two-factor ------------------------------------------------------------------------------


def test_wrong_totp_codes_are_left_to_the_two_factor_lockout(
    client: FlaskClient, helpers: Helpers
) -> None:
    account = helpers.user("tina", totp=True)
    tries = [attempt(client, "tina", account.password)]  # no code: totp-required
    tries += [
        attempt(client, "tina", account.password, code=wrong_code(account))
        for _ in range(USER_LIMIT + 1)
    ]
    assert answers(tries) == [(401, LOGIN_TOTP_REQUIRED)] + [(401, LOGIN_TOTP_INVALID)] * (
        USER_LIMIT + 1
    )
    assert throttle_rows(helpers) == [("ip", 0), ("user", 0)]  # the password was no guess
    ok = attempt(client, "tina", account.password, code=account.code())
    assert ok.status_code == 200, ok.get_json()


# --- across 4 gunicorn workers -----------------------------------------------------------------

RACERS = 40
RC_USER_LIMIT = 10  # Rocket.Chat's default, left unset


@pytest.mark.e2e
def test_the_block_holds_across_four_workers(database_url: str, tmp_path: Path) -> None:
    env = service_env(database_url)
    with running_server(env, tmp_path / "serve.log", workers=4, wait_for_workers=True) as server:
        user_id = server.cli("users", "create", "target", "--password", "right-pw")["userId"]
        body = {"user": "target", "password": "wrong-pw"}
        raced = at_once(RACERS, lambda: server.post(LOGIN, json=body))
        got = Counter((r.status_code, json.dumps(r.json())) for r in raced)
        assert got == {
            (401, json.dumps(LOGIN_FAILED)): RC_USER_LIMIT,
            (401, json.dumps(LOGIN_BLOCKED_FOR_USER)): RACERS - RC_USER_LIMIT,
        }

        # The right password, on whichever worker answers, is refused too.
        for _ in range(8):
            right = server.post(LOGIN, json={"user": "target", "password": "right-pw"})
            assert (right.status_code, right.json()) == (401, LOGIN_BLOCKED_FOR_USER)

    events = server.events()
    blocks = [e for e in events if e["event"] == "login.blocked"]
    assert [(b["scope"], b["attempts"], b["userId"]) for b in blocks] == [
        ("user", RC_USER_LIMIT, user_id)
    ]
    reasons = sorted(e["reason"] for e in events if e["event"] == "login")
    assert reasons == ["bad-credentials"] * RC_USER_LIMIT + ["blocked-user"] * (
        RACERS - RC_USER_LIMIT + 8
    )
