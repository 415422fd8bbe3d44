"""Hostile import lines are rejected one by one (issue 9, finding 7).

A line nested thousands deep, control characters in stored fields, an ip that is not an IP
address: each is reported with its line number and the lines around it are still imported;
what the import reports is escaped, so no input can forge or colour a line of it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from sessions_service.ops import importer

from .conftest import Helpers
from .importing import run_import, write_lines

ALICE = "aliceAAAAAAAAAAAA"
LOGIN_AT = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="milliseconds")
DEEP = 5000


def doc(session_id: str, user_id: str = ALICE, **fields: Any) -> dict[str, Any]:
    """A valid session document of a user the import creates (``alice``)."""
    return {
        "sessionId": session_id,
        "userId": user_id,
        "loginAt": LOGIN_AT,
        "_user": {"username": "alice"},
        **fields,
    }


def stored_ids(helpers: Helpers) -> list[str]:
    return [row[0] for row in helpers.sql("SELECT id FROM sessions ORDER BY id")]


# --- nesting ----------------------------------------------------------------------------

DEEP_LINES = {
    "arrays-5000-deep": "[" * DEEP + "]" * DEEP,
    "arrays-5000-unclosed": "[" * DEEP,
    "objects-5000-deep": '{"a": ' * DEEP + "1" + "}" * DEEP,
    "deep-device-os": json.dumps(doc("deep1"))[:-1]
    + ', "device": {"os": '
    + "[" * DEEP
    + "]" * DEEP
    + "}}",
}


@pytest.mark.parametrize("line", list(DEEP_LINES.values()), ids=list(DEEP_LINES))
def test_a_deeply_nested_line_is_rejected_alone(app: Flask, helpers: Helpers, line: str) -> None:
    summary = run_import(app, [doc("good1"), line, doc("good2")])

    rejections = [(r.line, r.reason) for r in summary.rejections]
    assert rejections == [(2, "JSON nested deeper than 32 levels")]
    assert (summary.sessions_imported, summary.lines_rejected) == (2, 1)
    assert stored_ids(helpers) == ["good1", "good2"]


# --- control characters -------------------------------------------------------------------

CONTROL = {
    "sessionId-newline": (doc("a\nb"), "sessionId"),
    "sessionId-carriage-return": (doc("a\rb"), "sessionId"),
    "userId-newline": (doc("x1", user_id="evil\nline 9: x"), "userId"),
    "username-newline": (doc("x2", _user={"username": "eve\nroot"}), "_user.username"),
    "username-escape": (doc("x3", _user={"username": "\x1b[31meve"}), "_user.username"),
    "name-tab": (doc("x4", _user={"username": "eve", "name": "Eve\tX"}), "_user.name"),
    "host-newline": (doc("x5", host="chat.example\n"), "host"),
    "host-del": (doc("x6", host="chat\x7f.example"), "host"),
    "host-c1-next-line": (doc("x7", host="chat\x85.example"), "host"),
    "device-name-line-separator": (doc("x8", device={"name": "Chrome\u2028"}), "device.name"),
    "os-name-paragraph-separator": (
        doc("x9", device={"os": {"name": "Linux\u2029"}}),
        "device.os.name",
    ),
    "logoutBy-bell": (doc("x10", logoutBy="root\x07"), "logoutBy"),
}


@pytest.mark.parametrize(("line", "field"), list(CONTROL.values()), ids=list(CONTROL))
def test_control_characters_are_rejected(
    app: Flask, helpers: Helpers, line: dict[str, Any], field: str
) -> None:
    summary = run_import(app, [doc("good1"), line])

    rejections = [(r.line, r.reason) for r in summary.rejections]
    assert rejections == [(2, f"{field} contains a control character")]
    assert stored_ids(helpers) == ["good1"]


# --- ip -------------------------------------------------------------------------------------

NOT_IPS = {
    "markup": "not-an-ip<script>",
    "word": "unknown",
    "out-of-range": "999.1.1.1",
    "with-port": "10.0.0.1:80",
    "bracketed-ipv6": "[2001:db8::1]",
    "cidr": "10.0.0.0/8",
    "ipv4-with-zone": "10.0.0.1%eth0",
}


@pytest.mark.parametrize("ip", list(NOT_IPS.values()), ids=list(NOT_IPS))
def test_an_ip_that_is_not_an_address_is_rejected(app: Flask, helpers: Helpers, ip: str) -> None:
    summary = run_import(app, [doc("good1"), doc("bad1", ip=ip)])

    assert [(r.line, r.reason) for r in summary.rejections] == [(2, "ip is not an IP address")]
    assert stored_ids(helpers) == ["good1"]


@pytest.mark.parametrize(
    ("ip", "stored"),
    [
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::1%<img src=x>", "fe80::1"),
        ("2001:DB8::1", "2001:db8::1"),
    ],
    ids=["zone-id", "markup-zone-id", "upper-case-ipv6"],
)
def test_an_ip_is_stored_as_its_address(app: Flask, helpers: Helpers, ip: str, stored: str) -> None:
    summary = run_import(app, [doc("s1", ip=ip)])

    assert summary.rejections == []
    assert helpers.sql("SELECT ip FROM sessions WHERE id = 's1'") == [(stored,)]


# --- what the import reports -------------------------------------------------------------


def test_reported_lines_cannot_be_forged(app: Flask, helpers: Helpers, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "hostile.jsonl",
        [
            doc("rtl\u202eab"),
            doc("x1", user_id="e\nline 9: f"),
            doc("rtl\u202eab"),
            "[" * DEEP,
            doc("ok"),
        ],
    )

    result = app.test_cli_runner().invoke(args=["import", str(path)])

    assert result.exit_code == 1, result.output
    assert result.stderr == (
        "line 2: userId contains a control character\n"
        "line 3: duplicate sessionId rtl\\u202eab (first on line 1)\n"
        "line 4: JSON nested deeper than 32 levels\n"
    )
    assert stored_ids(helpers) == ["ok", "rtl\u202eab"]


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        ("userId a\nline 2: b", "userId a\\nline 2: b"),
        ("host \x1b[31mred", "host \\x1b[31mred"),
        ("name \u202eevil", "name \\u202eevil"),
        ("name \ud800", "name \\ud800"),
        ("plain ünïcode", "plain ünïcode"),
    ],
    ids=["newline", "terminal-escape", "bidi-override", "lone-surrogate", "printable-unicode"],
)
def test_a_rejection_reports_one_escaped_line(reason: str, shown: str) -> None:
    assert importer.Rejection(7, reason).report() == f"line 7: {shown}"
