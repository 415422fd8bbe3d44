"""The client's IP address behind N trusted proxies (SPEC §6), table-driven."""

from __future__ import annotations

import ipaddress

import pytest
from werkzeug.datastructures import Headers

from sessions_service.core.clientip import client_ip

SOCKET = "192.0.2.10"
XFF = "X-Forwarded-For"
REAL = "X-Real-IP"


def headers(**values: str) -> Headers:
    """Request headers as Flask hands them over (case-insensitive)."""
    return Headers([(name.replace("_", "-"), value) for name, value in values.items()])


@pytest.mark.parametrize(
    ("sent", "socket", "forwarded_count", "expected"),
    [
        (headers(), SOCKET, 0, SOCKET),
        (
            headers(X_Forwarded_For="203.0.113.5", X_Real_IP="203.0.113.6"),
            SOCKET,
            0,
            SOCKET,
        ),
        (headers(X_Forwarded_For="203.0.113.5"), SOCKET, 1, "203.0.113.5"),
        (headers(X_Forwarded_For="203.0.113.5, 198.51.100.7"), SOCKET, 1, "198.51.100.7"),
        (headers(X_Forwarded_For="203.0.113.5, 198.51.100.7"), SOCKET, 2, "203.0.113.5"),
        (
            headers(X_Forwarded_For="1.1.1.1, 203.0.113.5,198.51.100.7"),
            SOCKET,
            2,
            "203.0.113.5",
        ),
        (headers(X_Forwarded_For="  203.0.113.5  "), SOCKET, 1, "203.0.113.5"),
        (
            headers(X_Forwarded_For="203.0.113.5", X_Real_IP="198.51.100.9"),
            SOCKET,
            2,
            "198.51.100.9",
        ),
        (headers(X_Forwarded_For="203.0.113.5"), SOCKET, 2, SOCKET),
        (headers(X_Real_IP="198.51.100.9"), SOCKET, 1, "198.51.100.9"),
        (headers(), SOCKET, 1, SOCKET),
        (headers(), SOCKET, 3, SOCKET),
        (headers(X_Forwarded_For="2001:db8::1"), SOCKET, 1, "2001:db8::1"),
        (headers(X_Forwarded_For="2001:db8::1, 2001:db8::2"), SOCKET, 2, "2001:db8::1"),
        (headers(X_Real_IP="2001:db8::9"), SOCKET, 1, "2001:db8::9"),
        (headers(), "::1", 0, "::1"),
        (headers(X_Forwarded_For="203.0.113.5"), "2001:db8::ff", 0, "2001:db8::ff"),
    ],
    ids=[
        "n0-socket",
        "n0-ignores-forwarded-and-real-ip",
        "n1-single-entry",
        "n1-rightmost",
        "n2-second-from-right",
        "n2-three-entries-no-space",
        "n1-whitespace-trimmed",
        "n2-too-few-entries-real-ip",
        "n2-too-few-entries-no-real-ip-socket",
        "n1-no-xff-real-ip",
        "n1-no-headers-socket",
        "n3-no-headers-socket",
        "n1-ipv6",
        "n2-ipv6",
        "n1-real-ip-ipv6",
        "n0-ipv6-socket",
        "n0-ipv6-socket-ignores-xff",
    ],
)
def test_client_ip(sent: Headers, socket: str, forwarded_count: int, expected: str) -> None:
    assert client_ip(sent, socket, forwarded_count) == expected


@pytest.mark.parametrize(
    ("sent", "socket", "forwarded_count"),
    [
        (headers(X_Forwarded_For="unknown"), SOCKET, 1),
        (headers(X_Forwarded_For="203.0.113.5, evil.example"), SOCKET, 1),
        (headers(X_Forwarded_For="<script>, 203.0.113.5"), SOCKET, 2),
        (headers(X_Forwarded_For="203.0.113.5:4711"), SOCKET, 1),
        (headers(X_Forwarded_For="[2001:db8::1]:443"), SOCKET, 1),
        (headers(X_Real_IP="not-an-ip"), SOCKET, 1),
        (headers(X_Real_IP="999.1.1.1"), SOCKET, 1),
        (headers(), "not-an-ip", 0),
        (headers(), "", 0),
        (headers(), None, 0),
    ],
    ids=[
        "xff-word",
        "xff-hostname",
        "xff-markup",
        "xff-ip-with-port",
        "xff-bracketed-ipv6-with-port",
        "real-ip-word",
        "real-ip-out-of-range",
        "socket-word",
        "socket-empty",
        "socket-none",
    ],
)
def test_non_ip_values_are_never_returned(
    sent: Headers, socket: str | None, forwarded_count: int
) -> None:
    result = client_ip(sent, socket, forwarded_count)
    assert isinstance(result, str)
    if result:
        ipaddress.ip_address(result)  # raises if the service let a non-address through
    offered = {v.strip() for v in sent.get(XFF, "").split(",")} | {sent.get(REAL, ""), socket}
    bad = {v for v in offered if v and not _is_ip(v)}
    assert result not in bad


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


class TestStoredAtLogin:
    """End to end: the address a login stores, behind one trusted proxy."""

    @pytest.fixture
    def app_env(self) -> dict[str, str]:
        return {"SESSIONS_FORWARDED_COUNT": "1"}

    @pytest.mark.parametrize(
        ("sent", "expected"),
        [
            ({XFF: "203.0.113.5, 198.51.100.7"}, {"198.51.100.7"}),
            ({REAL: "198.51.100.9"}, {"198.51.100.9"}),
            ({}, {"10.1.2.3"}),
            # SPEC only says a non-address is never stored: empty or the socket will do.
            ({XFF: "evil.example"}, {"", "10.1.2.3"}),
        ],
        ids=["xff-rightmost", "real-ip", "socket", "non-ip-not-stored"],
    )
    def test_login_stores_client_ip(self, client, helpers, sent, expected) -> None:
        user = helpers.user("alice")
        response = client.post(
            "/api/v1/login",
            json={"user": "alice", "password": user.password},
            headers=sent,
            environ_base={"REMOTE_ADDR": "10.1.2.3"},
        )
        assert response.status_code == 200, response.get_json()
        rows = helpers.sql("SELECT ip FROM sessions WHERE user_id = :u", u=user.id)
        assert len(rows) == 1
        assert rows[0][0] in expected
