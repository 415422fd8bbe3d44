"""Settings are validated when the app is built (issue 9, finding 4): every SESSIONS_* integer
has a sane range, so a value that would fail later (bcrypt cost 32 answering 500 for unknown
users only) is one ConfigError at start instead."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from sessions_service.config import ConfigError, Settings, load_config

from .conftest import SECRET_KEY


def settings(tmp_path: Path, **env: str) -> Settings:
    environ = {"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "SESSIONS_SECRET_KEY": SECRET_KEY}
    return load_config({**environ, **env}, tmp_path / "instance")


REFUSED = [
    ("SESSIONS_BCRYPT_ROUNDS", "32", "SESSIONS_BCRYPT_ROUNDS must be at most 31, got 32"),
    ("SESSIONS_BCRYPT_ROUNDS", "3", "SESSIONS_BCRYPT_ROUNDS must be at least 4, got 3"),
    ("SESSIONS_FORWARDED_COUNT", "17", "SESSIONS_FORWARDED_COUNT must be at most 16, got 17"),
    (
        "SESSIONS_API_DEFAULT_COUNT",
        "2147483648",
        "SESSIONS_API_DEFAULT_COUNT must be at most 2147483647, got 2147483648",
    ),
    (
        "SESSIONS_API_UPPER_COUNT_LIMIT",
        "99999999999999999999",
        "SESSIONS_API_UPPER_COUNT_LIMIT must be at most 2147483647, got 99999999999999999999",
    ),
    (
        "SESSIONS_DB_STATEMENT_TIMEOUT_MS",
        "86400001",
        "SESSIONS_DB_STATEMENT_TIMEOUT_MS must be at most 86400000, got 86400001",
    ),
    (
        "SESSIONS_LOGIN_EXPIRATION_DAYS",
        "36501",
        "SESSIONS_LOGIN_EXPIRATION_DAYS must be at most 36500, got 36501",
    ),
    (
        "SESSIONS_2FA_REMEMBER_FOR",
        "2592001",
        "SESSIONS_2FA_REMEMBER_FOR must be at most 2592000, got 2592001",
    ),
    (
        "SESSIONS_REQUEST_BODY_TIMEOUT",
        "3601",
        "SESSIONS_REQUEST_BODY_TIMEOUT must be at most 3600, got 3601",
    ),
    (
        "SESSIONS_LOGIN_BLOCK_USER_ATTEMPTS",
        "0",
        "SESSIONS_LOGIN_BLOCK_USER_ATTEMPTS must be at least 1, got 0",
    ),
    (
        "SESSIONS_LOGIN_BLOCK_IP_ATTEMPTS",
        "2147483648",
        "SESSIONS_LOGIN_BLOCK_IP_ATTEMPTS must be at most 2147483647, got 2147483648",
    ),
    (
        "SESSIONS_LOGIN_BLOCK_USER_MINUTES",
        "0",
        "SESSIONS_LOGIN_BLOCK_USER_MINUTES must be more than 0 minutes, got 0",
    ),
    (
        "SESSIONS_LOGIN_BLOCK_IP_MINUTES",
        "nan",
        "SESSIONS_LOGIN_BLOCK_IP_MINUTES must be more than 0 minutes, got nan",
    ),
    (
        "SESSIONS_LOGIN_BLOCK_IP_MINUTES",
        "five",
        "SESSIONS_LOGIN_BLOCK_IP_MINUTES must be a number of minutes, got 'five'",
    ),
    (
        "SESSIONS_LOGIN_BLOCK_USER_MINUTES",
        "10081",
        "SESSIONS_LOGIN_BLOCK_USER_MINUTES must be at most 10080 minutes (a week), got 10081",
    ),
    (
        "SESSIONS_LOGIN_BLOCK_ENABLED",
        "maybe",
        "SESSIONS_LOGIN_BLOCK_ENABLED must be true or false, got 'maybe'",
    ),
    (
        "SESSIONS_LOGIN_BLOCK_IP_ALLOWLIST",
        "10.0.0.1, 10.0.0.0/33",
        "SESSIONS_LOGIN_BLOCK_IP_ALLOWLIST must list IP addresses or CIDR blocks, "
        "got '10.0.0.0/33'",
    ),
    (
        "SESSIONS_USERNAME_PATTERN",
        "[a-",
        "SESSIONS_USERNAME_PATTERN is not a valid regular expression (RE2): missing ]: [a-",
    ),
]


@pytest.mark.parametrize(
    ("name", "value", "message"), REFUSED, ids=[f"{n}={v}" for n, v, _ in REFUSED]
)
def test_out_of_range_settings_are_refused_at_start(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, **{name: value})
    assert str(caught.value) == message


def test_the_limits_themselves_are_accepted(tmp_path: Path) -> None:
    got = settings(
        tmp_path,
        SESSIONS_BCRYPT_ROUNDS="31",
        SESSIONS_FORWARDED_COUNT="16",
        SESSIONS_API_UPPER_COUNT_LIMIT="2147483647",
        SESSIONS_DB_STATEMENT_TIMEOUT_MS="86400000",
        SESSIONS_LOGIN_BLOCK_USER_MINUTES="0.05",
        SESSIONS_LOGIN_BLOCK_IP_MINUTES="10080",
        SESSIONS_LOGIN_BLOCK_IP_ALLOWLIST=" 10.1.0.0/16 ,,2001:db8::1 ",
        SESSIONS_USERNAME_PATTERN="[0-9a-z.@]+",
    )
    assert (got.bcrypt_rounds, got.forwarded_count, got.api_upper_count_limit) == (
        31,
        16,
        2**31 - 1,
    )
    assert got.db_statement_timeout_ms == 86_400_000
    assert (got.login_block_user_minutes, got.login_block_ip_minutes) == (0.05, 10080.0)
    assert got.login_block_ip_allowlist == (
        ipaddress.ip_network("10.1.0.0/16"),
        ipaddress.ip_network("2001:db8::1/128"),
    )
    assert got.username_pattern == "[0-9a-z.@]+"


def test_login_throttling_defaults_are_rocket_chats(tmp_path: Path) -> None:
    got = settings(tmp_path)
    assert (
        got.login_block_enabled,
        got.login_block_by_user,
        got.login_block_user_attempts,
        got.login_block_user_minutes,
        got.login_block_by_ip,
        got.login_block_ip_attempts,
        got.login_block_ip_minutes,
        got.login_block_ip_allowlist,
        got.username_pattern,
    ) == (True, True, 10, 5.0, True, 50, 5.0, (), "[0-9a-zA-Z-_.]+")
