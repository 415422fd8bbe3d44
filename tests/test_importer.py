"""Bulk import of JSON Lines session documents, the import/demo commands, synthetic data.

Every database test runs on SQLite and on PostgreSQL; what was imported is checked through
list.all (as an admin whose token needs no two-factor) and in the stored rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sessions_service.clock import utcnow
from sessions_service.data.models import User, UserSession
from sessions_service.ops import cli, importer
from sessions_service.ops.synthetic import synthetic_lines, synthetic_sessions
from sessions_service.state import get_engine

from .bodies import iso
from .conftest import LIST_ALL, Helpers
from .importing import import_file, run_import, write_lines

NOW = utcnow()
FIREFOX_DEVICE = {
    "type": "browser",
    "name": "Firefox",
    "longVersion": "125.0",
    "os": {"name": "Linux", "version": ""},
    "version": "125.0",
}
ALICE = "aliceAAAAAAAAAAAA"
BOB = "bobBBBBBBBBBBBBBB"


def ago(**delta: float) -> datetime:
    """A millisecond-precise time before the test module started."""
    return NOW - timedelta(**delta)


def doc(session_id: str, user_id: str = ALICE, **fields: Any) -> dict[str, Any]:
    """A minimal valid session document (loginAt an hour ago)."""
    return {"sessionId": session_id, "userId": user_id, "loginAt": iso(ago(hours=1)), **fields}


def list_all(client: FlaskClient, helpers: Helpers, **params: str) -> dict[str, Any]:
    """list.all as an admin with a 2FA-exempt token; the admin's own session removed."""
    admin = helpers.admin()
    login = helpers.session_for(admin, bypass_2fa=True)
    response = client.get(LIST_ALL, query_string=params, headers=login.headers())
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    body["sessions"] = [s for s in body["sessions"] if s["userId"] != login.user_id]
    body["total"] -= 1
    return body


def summary_counts(summary: importer.ImportSummary) -> dict[str, Any]:
    data = summary.as_dict()
    del data["seconds"]
    return data


def counts(**values: int) -> dict[str, int]:
    base = {
        "linesRead": 0,
        "sessionsImported": 0,
        "sessionsAlreadyExpired": 0,
        "usersCreated": 0,
        "linesRejected": 0,
        "blankLines": 0,
    }
    return base | values


# --- importing ------------------------------------------------------------------------


def test_imported_sessions_appear_in_list_all(
    app: Flask, client: FlaskClient, helpers: Helpers, tmp_path: Path
) -> None:
    s1_login, s2_login, s4_login = ago(hours=2), ago(hours=3), ago(days=3)
    path = write_lines(
        tmp_path / "sessions.jsonl",
        [
            {
                "sessionId": "s1111111111111111",
                "userId": ALICE,
                "ip": "10.1.2.3",
                "host": "chat.example.com",
                "device": FIREFOX_DEVICE,
                "loginAt": iso(s1_login),
                "lastActivityAt": iso(ago(hours=1)),
                "_user": {"username": "alice", "name": "Alice Liddell"},
            },
            # Extended JSON dates, no device, no ip/host: as a CLI-made token.
            {
                "sessionId": "s2222222222222222",
                "userId": ALICE,
                "loginAt": {"$date": iso(s2_login)},
                "_user": {"username": "alice", "name": "Alice Liddell"},
            },
            # Logged out: imported, never listed.
            {
                "sessionId": "s3333333333333333",
                "userId": BOB,
                "loginAt": {"$date": int(ago(hours=5).timestamp() * 1000)},
                "logoutAt": {"$date": {"$numberLong": str(int(ago(hours=4).timestamp() * 1000))}},
                "logoutBy": BOB,
                "_user": {"username": "bob"},
            },
            # Rocket.Chat's _id for the session id; an offset-less date means UTC.
            {
                "_id": "s4444444444444444",
                "userId": BOB,
                "loginAt": s4_login.replace(tzinfo=None).isoformat(timespec="milliseconds"),
                "device": {"type": "mobile-app", "name": "RC Mobile", "os": {"name": "iOS"}},
                "_user": {"username": "bob"},
            },
        ],
    )

    summary = import_file(app, path)

    assert summary_counts(summary) == counts(linesRead=4, sessionsImported=4, usersCreated=2)
    body = list_all(client, helpers, sort='{"loginAt": -1}')
    assert body["total"] == 3
    assert body["sessions"] == [
        {
            "sessionId": "s1111111111111111",
            "userId": ALICE,
            "device": FIREFOX_DEVICE,
            "host": "chat.example.com",
            "ip": "10.1.2.3",
            "loginAt": iso(s1_login),
            "_user": {"username": "alice", "name": "Alice Liddell"},
            "_id": "s1111111111111111",
        },
        {
            "sessionId": "s2222222222222222",
            "userId": ALICE,
            "host": "",
            "ip": "",
            "loginAt": iso(s2_login),
            "_user": {"username": "alice", "name": "Alice Liddell"},
            "_id": "s2222222222222222",
        },
        {
            "sessionId": "s4444444444444444",
            "userId": BOB,
            "device": {
                "type": "mobile-app",
                "name": "RC Mobile",
                "longVersion": "",
                "os": {"name": "iOS", "version": ""},
                "version": "",
            },
            "host": "",
            "ip": "",
            "loginAt": iso(s4_login),
            "_user": {"username": "bob"},
            "_id": "s4444444444444444",
        },
    ]


def test_imported_users_and_tokens_cannot_authenticate(
    app: Flask, helpers: Helpers, tmp_path: Path
) -> None:
    login_at = ago(days=1)
    import_file(
        app,
        write_lines(
            tmp_path / "s.jsonl",
            [
                doc("s1111111111111111", loginAt=iso(login_at), _user={"username": "Alice"}),
                doc("s2222222222222222", _user={"username": "Alice"}),
            ],
        ),
    )

    users = helpers.sql("SELECT username, username_key, password_hash, active FROM users")
    assert [tuple(u) for u in users] == [("Alice", "alice", None, True)]
    rows = helpers.sql("SELECT id, token_hash, expires_at, bypass_2fa FROM sessions ORDER BY id")
    hashes = {row[1] for row in rows}
    assert len(hashes) == 2 and all(len(h) == 44 for h in hashes)  # base64(SHA-256)
    expires = rows[0][2]
    if not isinstance(expires, datetime):  # SQLite's stored text (naive UTC)
        expires = datetime.fromisoformat(expires).replace(tzinfo=UTC)
    assert expires == login_at + timedelta(days=90)
    assert [bool(row[3]) for row in rows] == [False, False]


BAD_LINES = [
    ("not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ({"userId": ALICE, "loginAt": iso(NOW)}, "missing sessionId"),
    ({"sessionId": "x1", "loginAt": iso(NOW)}, "missing userId"),
    ({"sessionId": "x2", "userId": ALICE}, "missing loginAt"),
    (doc("x3", loginAt="yesterday"), "loginAt is not a valid ISO 8601 date"),
    (doc("x4", logoutAt={"$date": "soon"}), "logoutAt is not a valid ISO 8601 date"),
    (doc("x5", lastActivityAt=True), "lastActivityAt is not a date"),
    (doc("x6", ip="1" * 46), "ip is longer than 45 characters"),
    (doc("x" * 18), "sessionId is longer than 17 characters"),
    (doc("x7", _user={"username": "u" * 256}), "_user.username is longer than 255 characters"),
    (doc("x8", device={"name": 7}), "device.name must be a string"),
    (doc("x9", device="Firefox"), "device must be an object"),
    (doc("x10", host="a\x00b"), "host contains a NUL character"),
    (doc("x12", host="\ud800"), "host is not valid Unicode text"),
    (doc("x13", _user={"username": "ß" * 200}), "_user.username is too long once case-folded"),
    (doc("x14", loginAt={"$date": {"$numberLong": "²"}}), "loginAt is not a date"),
    (doc("x11", userId="nobodyNNNNNNNNNNN"), "is not a known user and _user.username is missing"),
    (doc("good1"), "duplicate sessionId good1 (first on line 1)"),
]


@pytest.mark.parametrize("batch_size", [1000, 4], ids=["one-batch", "small-batches"])
def test_bad_lines_are_reported_and_good_lines_kept(
    app: Flask, helpers: Helpers, tmp_path: Path, batch_size: int
) -> None:
    good = [
        doc("good1", _user={"username": "alice", "name": "Alice"}),
        doc("good2", user_id=BOB, _user={"username": "bob"}),
        doc("good3"),
    ]
    # good1 on line 1, the bad lines after it, the other good lines last.
    lines = [good[0], *(line for line, _ in BAD_LINES), *good[1:]]
    path = write_lines(tmp_path / "mixed.jsonl", lines)

    summary = import_file(app, path, batch_size=batch_size)

    assert summary_counts(summary) == counts(
        linesRead=len(lines),
        sessionsImported=3,
        usersCreated=2,
        linesRejected=len(BAD_LINES),
    )
    reported = [(r.line, r.reason) for r in summary.rejections]
    assert [line for line, _ in reported] == list(range(2, len(BAD_LINES) + 2))
    for (_, reason), (_, expected) in zip(reported, BAD_LINES, strict=True):
        if expected.startswith("duplicate") and batch_size == 4:
            expected = "duplicate sessionId good1: already stored"  # caught by the database
        assert expected in reason
    stored = helpers.sql("SELECT id FROM sessions ORDER BY id")
    assert [row[0] for row in stored] == ["good1", "good2", "good3"]


def test_undecodable_lines_are_reported(app: Flask) -> None:
    good = json.dumps(doc("ok", _user={"username": "alice"})).encode()
    other = json.dumps(doc("other")).encode()

    # A byte-order mark is fine; bytes that are not UTF-8 are not.
    summary = run_import(app, [b"\xef\xbb\xbf" + good, b"\xff" + other])

    assert [(r.line, r.reason) for r in summary.rejections] == [(2, "not valid JSON (not UTF-8)")]
    assert summary.sessions_imported == 1


def test_duplicate_session_ids_are_reported(app: Flask, helpers: Helpers, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "dups.jsonl",
        [
            doc("same", _user={"username": "alice"}, ip="10.0.0.1"),
            doc("same", ip="10.0.0.2"),
            doc("other"),
            doc("same", ip="10.0.0.3"),  # in a later batch: found in the database
        ],
    )

    summary = import_file(app, path, batch_size=3)

    assert [(r.line, r.reason) for r in summary.rejections] == [
        (2, "duplicate sessionId same (first on line 1)"),
        (4, "duplicate sessionId same: already stored"),
    ]
    assert helpers.sql("SELECT ip FROM sessions WHERE id = 'same'")[0][0] == "10.0.0.1"


def test_reimporting_the_same_file_imports_nothing_new(
    app: Flask, helpers: Helpers, tmp_path: Path
) -> None:
    path = tmp_path / "synthetic.jsonl"
    path.write_text("\n".join(synthetic_lines(60, users=6, seed=3)) + "\n", encoding="utf-8")
    first = import_file(app, path, batch_size=25)
    before = helpers.sql("SELECT id, token_hash FROM sessions ORDER BY id")

    again = import_file(app, path, batch_size=25)

    assert summary_counts(first) == counts(linesRead=60, sessionsImported=60, usersCreated=6)
    assert summary_counts(again) == counts(linesRead=60, linesRejected=60)
    assert {r.reason.split(": ")[-1] for r in again.rejections} == {"already stored"}
    assert helpers.sql("SELECT id, token_hash FROM sessions ORDER BY id") == before
    assert helpers.sql("SELECT count(*) FROM users")[0][0] == 6


def test_existing_users_are_reused_and_usernames_stay_unique(
    app: Flask, helpers: Helpers, tmp_path: Path
) -> None:
    carol = helpers.user("carol", name="Carol")
    path = write_lines(
        tmp_path / "users.jsonl",
        [
            # A known userId is reused as it is, whatever _user says.
            doc("c1", user_id=carol.id, _user={"username": "someone-else", "name": "X"}),
            # A new userId may not take a username that exists, in any case.
            doc("e1", user_id="eveEEEEEEEEEEEEEE", _user={"username": "CAROL"}),
            doc("d1", user_id="daveDDDDDDDDDDDDD", _user={"username": "dave"}),
            doc("d2", user_id="dave2DDDDDDDDDDDD", _user={"username": "Dave"}),
        ],
    )

    summary = import_file(app, path)

    assert summary_counts(summary) == counts(
        linesRead=4, sessionsImported=2, usersCreated=1, linesRejected=2
    )
    assert [(r.line, r.reason) for r in summary.rejections] == [
        (2, "_user.username 'CAROL' belongs to another user"),
        (4, "_user.username 'Dave' belongs to another userId"),
    ]
    users = helpers.sql("SELECT username, name FROM users ORDER BY username")
    assert [tuple(u) for u in users] == [("carol", "Carol"), ("dave", None)]


def test_import_streams_in_batches(app: Flask) -> None:
    consumed: list[int] = []

    def lines() -> Iterator[str]:
        for i, line in enumerate(synthetic_lines(35, users=5, seed=1)):
            consumed.append(i)
            yield line

    batches: list[tuple[int, int]] = []
    with get_engine(app).connect() as conn:

        def after_batch(batch: importer.BatchProgress) -> None:
            # Each batch is written before the next lines are read.
            batches.append((batch.lines, len(consumed)))
            conn.commit()

        importer.import_sessions(
            conn, lines(), expiration_days=90, batch_size=10, after_batch=after_batch
        )
    assert batches == [(10, 10), (10, 20), (10, 30), (5, 35)]


def test_importer_fills_every_required_column() -> None:
    for table, columns in (
        (UserSession.__table__, importer.SESSION_COLUMNS),
        (User.__table__, importer.USER_COLUMNS),
    ):
        required = {c.name for c in table.c if not c.nullable and c.server_default is None}
        assert required <= set(columns), table.name


# --- commands ---------------------------------------------------------------------------


def test_import_command_prints_the_summary_and_fails_on_a_rejected_line(
    app: Flask, helpers: Helpers, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "cli.jsonl",
        [doc("c1", _user={"username": "alice"}), "{oops", "", doc("c2")],
    )

    result = app.test_cli_runner().invoke(args=["import", str(path)])

    assert result.exit_code == 1, result.output  # a script notices; the good lines are in
    summary = json.loads(result.stdout)
    assert summary.pop("seconds") >= 0
    assert summary == counts(
        linesRead=4, sessionsImported=2, usersCreated=1, linesRejected=1, blankLines=1
    )
    assert result.stderr == (
        "line 2: not valid JSON (Expecting property name enclosed in double quotes at column 2)\n"
    )
    assert helpers.sql("SELECT count(*) FROM sessions")[0][0] == 2


def test_import_command_succeeds_when_every_line_is_good(app: Flask, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "good.jsonl", [doc("g1", _user={"username": "alice"})])

    result = app.test_cli_runner().invoke(args=["import", str(path)])

    assert (result.exit_code, result.stderr) == (0, ""), result.output
    assert json.loads(result.stdout)["sessionsImported"] == 1


def test_import_counts_sessions_already_past_their_expiry(
    app: Flask, client: FlaskClient, helpers: Helpers, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "old.jsonl",
        [
            doc("fresh", _user={"username": "alice"}),
            doc("old1", loginAt=iso(ago(days=91))),  # past 90 days: never listed
            doc("old2", loginAt={"$date": int(ago(days=400).timestamp() * 1000)}),
            # Logged out anyway: not a surprise, so not counted.
            doc("ended", loginAt=iso(ago(days=200)), logoutAt=iso(ago(days=199))),
            doc("edge", loginAt=iso(ago(days=89, hours=23))),  # still within 90 days
        ],
    )

    result = app.test_cli_runner().invoke(args=["import", str(path)])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    del summary["seconds"]
    assert summary == counts(
        linesRead=5, sessionsImported=5, sessionsAlreadyExpired=2, usersCreated=1
    )
    assert result.stderr == (
        "note: 2 imported sessions are already past their expiry "
        "(loginAt + SESSIONS_LOGIN_EXPIRATION_DAYS) and will not appear in lists\n"
    )
    listed = list_all(client, helpers)
    assert sorted(s["sessionId"] for s in listed["sessions"]) == ["edge", "fresh"]


def test_import_note_for_one_expired_session_is_singular(app: Flask, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "one.jsonl", [doc("old", loginAt=iso(ago(days=100)), _user={"username": "a"})]
    )

    result = app.test_cli_runner().invoke(args=["import", str(path)])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sessionsAlreadyExpired"] == 1
    assert result.stderr == (
        "note: 1 imported session is already past its expiry "
        "(loginAt + SESSIONS_LOGIN_EXPIRATION_DAYS) and will not appear in lists\n"
    )


def test_reimported_expired_sessions_are_not_counted_twice(app: Flask, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "old.jsonl", [doc("old", loginAt=iso(ago(days=100)), _user={"username": "a"})]
    )
    assert import_file(app, path).sessions_already_expired == 1

    again = import_file(app, path)

    assert (again.sessions_imported, again.sessions_already_expired) == (0, 0)


def test_import_command_reads_stdin(app: Flask, helpers: Helpers) -> None:
    data = "\n".join(synthetic_lines(30, users=3, seed=9)).encode()

    result = app.test_cli_runner().invoke(args=["import", "-", "--batch-size", "7"], input=data)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sessionsImported"] == 30
    assert helpers.sql("SELECT count(*) FROM sessions")[0][0] == 30


def test_demo_seeds_generated_sessions_into_an_empty_database(app: Flask, helpers: Helpers) -> None:
    summary = cli.seed_demo_sessions(app, 120)

    assert summary is not None
    assert (summary.sessions_imported, summary.users_created, summary.lines_rejected) == (120, 6, 0)
    usernames = {row[0] for row in helpers.sql("SELECT username FROM users")}
    assert {"admin", "funke.olasupo"} <= usernames
    assert cli.seed_demo_sessions(app, 120) is None  # not empty any more
    assert helpers.sql("SELECT count(*) FROM sessions")[0][0] > 120  # and the demo users' own


# --- synthetic data ---------------------------------------------------------------------

FIXED_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_synthetic_lines_are_deterministic_with_a_seed() -> None:
    first = list(synthetic_lines(200, users=20, seed=42, now=FIXED_NOW))

    assert first == list(synthetic_lines(200, users=20, seed=42, now=FIXED_NOW))
    assert first != list(synthetic_lines(200, users=20, seed=43, now=FIXED_NOW))


def test_synthetic_sessions_look_like_a_real_workspace() -> None:
    docs = list(synthetic_sessions(4000, users=200, seed=7, now=FIXED_NOW))

    firefox = sum("Firefox" in d.get("device", {}).get("name", "") for d in docs) / len(docs)
    logged_out = sum("logoutAt" in d for d in docs) / len(docs)
    assert 0.22 < firefox < 0.30
    assert 0.30 < logged_out < 0.37
    logins = [datetime.fromisoformat(d["loginAt"]) for d in docs]
    assert all(FIXED_NOW - timedelta(days=90) < t <= FIXED_NOW for t in logins)
    assert max(logins) - min(logins) > timedelta(days=80)
    names = {d["userId"]: d["_user"]["username"] for d in docs}
    assert len(names) <= 200
    assert len({n.casefold() for n in names.values()}) == len(names)
    assert all(len(d["sessionId"]) == 17 for d in docs)
    assert len({d["sessionId"] for d in docs}) == len(docs)


def test_synthetic_sessions_import_cleanly(
    app: Flask, client: FlaskClient, helpers: Helpers
) -> None:
    summary = run_import(app, synthetic_lines(300, users=15, seed=5))

    assert summary_counts(summary) == counts(linesRead=300, sessionsImported=300, usersCreated=15)
    body = list_all(client, helpers, filter="firefox", count="0")
    assert 40 < body["total"] < 100  # about a quarter of the ~200 still logged in
