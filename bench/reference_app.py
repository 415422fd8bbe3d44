"""The reference for P1: list.all's first page and exact total written by hand on psycopg.

It does the least work that gives the same answer as ``GET /api/v1/sessions/list.all`` with no
parameters: look the token up, add the hourly counts of later hours to a count of the current
hour, read the first page of active sessions by ``loginAt`` with their users in one statement,
and ``json.dumps`` the envelope. No permission or two-factor check (the benchmark's token
bypasses two-factor and belongs to an admin), no ORM, no marshmallow. The benchmark serves it
with the project's own gunicorn options beside the project and checks that both bodies are
the same before it times them.

Run: ``BENCH_DATABASE_URL=postgresql://… gunicorn bench.reference_app:app``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from typing import Any

import psycopg
from flask import Flask, Response, request

PAGE = 50
SECONDS_PER_BUCKET = 3600

TOKEN_SQL = """
SELECT s.user_id FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = %s AND s.logout_at IS NULL AND s.expires_at > %s AND u.active
"""
TOTAL_SQL = """
SELECT (SELECT COALESCE(SUM(active), 0) FROM session_counts WHERE bucket > %(bucket)s)
     + (SELECT count(*) FROM sessions
        WHERE logout_at IS NULL AND expires_at > %(now)s AND expires_at < %(bucket_end)s)
"""
PAGE_SQL = """
SELECT s.id, s.user_id, s.device_type, s.device_name, s.device_long_version,
       s.device_os_name, s.device_os_version, s.device_version, s.host, s.ip, s.login_at,
       u.username, u.name
FROM (SELECT id FROM sessions WHERE logout_at IS NULL AND expires_at > %(now)s
      ORDER BY login_at DESC, id COLLATE "C" DESC LIMIT %(limit)s) page
JOIN sessions s ON s.id = page.id JOIN users u ON u.id = s.user_id
ORDER BY s.login_at DESC, s.id COLLATE "C" DESC
"""

UNAUTHORIZED = json.dumps(
    {
        "success": False,
        "status": "error",
        "message": "You must be logged in to do this.",
        "error": "You must be logged in to do this.",
    },
    separators=(",", ":"),
)

app = Flask(__name__)
_local = threading.local()


def _connection() -> psycopg.Connection[Any]:
    """One autocommit connection per worker thread, opened on first use."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(os.environ["BENCH_DATABASE_URL"], autocommit=True)
        _local.conn = conn
    return conn


def _timestamp(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _session(row: tuple[Any, ...]) -> dict[str, Any]:
    (sid, user_id, dtype, dname, dlong, os_name, os_version, dversion, host, ip, login_at) = row[
        :11
    ]
    username, name = row[11], row[12]
    doc: dict[str, Any] = {"sessionId": sid, "userId": user_id}
    if dtype is not None:
        doc["device"] = {
            "type": dtype,
            "name": dname or "",
            "longVersion": dlong or "",
            "os": {"name": os_name or "", "version": os_version or ""},
            "version": dversion or "",
        }
    doc |= {"host": host, "ip": ip, "loginAt": _timestamp(login_at)}
    doc["_user"] = {"username": username} if name is None else {"username": username, "name": name}
    doc["_id"] = sid
    return doc


@app.get("/api/v1/sessions/list.all")
def list_all() -> Response:
    """P1, by hand."""
    now = datetime.now(UTC)
    token = request.headers.get("X-Auth-Token", "")
    token_hash = base64.b64encode(hashlib.sha256(token.encode()).digest()).decode()
    with _connection().cursor() as cur:
        row = cur.execute(TOKEN_SQL, (token_hash, now)).fetchone()
        if row is None or row[0] != request.headers.get("X-User-Id"):
            return Response(UNAUTHORIZED, 401, mimetype="application/json")
        bucket = int(now.timestamp()) // SECONDS_PER_BUCKET
        bucket_end = datetime.fromtimestamp((bucket + 1) * SECONDS_PER_BUCKET, UTC)
        params = {"now": now, "bucket": bucket, "bucket_end": bucket_end, "limit": PAGE}
        total = cur.execute(TOTAL_SQL, params).fetchone()[0]  # type: ignore[index]
        rows = cur.execute(PAGE_SQL, params).fetchall()
    body = {
        "sessions": [_session(r) for r in rows],
        "total": int(total),
        "count": PAGE,
        "offset": 0,
        "success": True,
    }
    # Flask's jsonify ends its bodies with a newline: so does this, so both are the same bytes.
    return Response(json.dumps(body, separators=(",", ":")) + "\n", mimetype="application/json")
