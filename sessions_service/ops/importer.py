"""Bulk-load Rocket.Chat-style session documents (JSON Lines) and the users they name.

One document per line, as Rocket.Chat shows or exports a session::

    {"sessionId", "userId", "ip", "host", "device": {"type", "name", "longVersion",
     "os": {"name", "version"}, "version"}, "loginAt", "lastActivityAt", "logoutAt",
     "logoutBy", "_user": {"username", "name"}}

``_id`` stands in for a missing ``sessionId``; dates are ISO 8601 strings (no offset means UTC)
or MongoDB extended JSON (``{"$date": ...}`` with an ISO string or epoch milliseconds).
A ``userId`` not in the database becomes a user (no password, so it cannot log in) named by
``_user``; a known one is reused as it is. Imported sessions get the hash of a random token
nobody holds, so they never authenticate, and expire ``expiration_days`` after ``loginAt``.

Lines are read as a stream and written in batches by ``data.bulk``: PostgreSQL COPYs each
batch into temporary tables and moves it with ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``;
SQLite inserts it with ``executemany`` under ``BEGIN IMMEDIATE``. A bad line (not JSON or nested
too deeply, a missing or malformed field, a field too long for its column or holding a control
character, an ip that is not an IP address, a sessionId already seen or stored) is reported
with its line number and reason (escaped, so it stays one line); the other lines are still
loaded. Sessions imported open but already past their expiry are counted (they will never be
listed). Nothing here commits: the caller does, typically from ``after_batch`` so an
interrupted import keeps whole batches.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from sessions_service.clock import utcnow
from sessions_service.config import USERNAME_PATTERN
from sessions_service.core import safejson
from sessions_service.core.clientip import valid_ip
from sessions_service.core.identity import IdentityError, fold, normalize_username
from sessions_service.core.security import hash_token, new_token
from sessions_service.data import bulk
from sessions_service.data.models import DEVICE_COLUMNS, User, UserSession

BATCH_SIZE = 10_000
MAX_LINE_BYTES = 1 << 20
KEPT_REJECTIONS = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# C0, DEL, C1 and the Unicode line and paragraph separators: none belongs in a stored field.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
DEFAULT_ROLES = ("user",)
_USERS: sa.Table = User.__table__  # type: ignore[assignment]
_SESSIONS: sa.Table = UserSession.__table__  # type: ignore[assignment]

# The columns of the rows written; every NOT NULL column of both tables is here.
SESSION_COLUMNS = (
    "id",
    "user_id",
    "token_hash",
    "ip",
    "host",
    *DEVICE_COLUMNS,
    "user_agent",
    "login_at",
    "last_activity_at",
    "logout_at",
    "logout_by",
    "expires_at",
    "bypass_2fa",
)
USER_COLUMNS = (
    "id",
    "username",
    "username_key",
    "name",
    "active",
    "roles",
    "created_at",
    "twofa_failed_attempts",
)
_LENGTHS = {
    name: column.type.length
    for table in (_SESSIONS, _USERS)
    for name, column in table.c.items()
    if isinstance(column.type, sa.String) and column.type.length
}


@dataclass(frozen=True)
class Rejection:
    """A line that was not imported, and why."""

    line: int
    reason: str

    def report(self) -> str:
        """``line N: reason`` on one line: a reason quoting the input has it escaped."""
        return f"line {self.line}: {escaped(self.reason)}"


def escaped(text: str) -> str:
    """``text`` with every unprintable character (line breaks, terminal escapes, bidi
    controls, lone surrogates) written as its Python escape, so it stays one plain line."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


@dataclass(frozen=True)
class BatchProgress:
    """What one written batch did (passed to ``after_batch``)."""

    lines: int
    bytes: int
    sessions_imported: int
    users_created: int
    rejections: list[Rejection]
    sessions_already_expired: int = 0


@dataclass
class ImportSummary:
    """Counts for a whole import; ``rejections`` keeps the first KEPT_REJECTIONS."""

    lines_read: int = 0
    blank_lines: int = 0
    sessions_imported: int = 0
    sessions_already_expired: int = 0
    users_created: int = 0
    lines_rejected: int = 0
    seconds: float = 0.0
    rejections: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The summary the CLI prints."""
        return {
            "linesRead": self.lines_read,
            "sessionsImported": self.sessions_imported,
            "sessionsAlreadyExpired": self.sessions_already_expired,
            "usersCreated": self.users_created,
            "linesRejected": self.lines_rejected,
            "blankLines": self.blank_lines,
            "seconds": round(self.seconds, 3),
        }


class _Bad(ValueError):
    """The line cannot be imported; the message is the reason."""


@dataclass(slots=True)
class _Record:
    line: int
    session_id: str
    user_id: str
    username: str | None
    name: str | None
    # The session row by column name, but for id, user_id, token_hash and the constants.
    session: dict[str, Any]

    def expired_unended(self, now: datetime) -> bool:
        """Not logged out, yet past its expiry already: no list will ever show it."""
        return self.session["logout_at"] is None and self.session["expires_at"] <= now


# --- parsing --------------------------------------------------------------------------


def _text(value: Any, field_name: str, column: str, *, required: bool = False) -> str | None:
    if value is None or (required and value == ""):
        if required:
            raise _Bad(f"missing {field_name}")
        return None
    if not isinstance(value, str):
        raise _Bad(f"{field_name} must be a string")
    limit = _LENGTHS[column]
    if len(value) > limit:
        raise _Bad(f"{field_name} is longer than {limit} characters")
    if "\x00" in value:
        raise _Bad(f"{field_name} contains a NUL character")
    if _CONTROL.search(value):
        raise _Bad(f"{field_name} contains a control character")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise _Bad(f"{field_name} is not valid Unicode text") from None
    return value


def _ip(value: Any) -> str:
    text = _text(value, "ip", "ip") or ""
    if not text:
        return ""  # unknown, as for a session made by the CLI
    ip = valid_ip(text)
    if ip is None:
        raise _Bad("ip is not an IP address")
    return ip


def _date(value: Any, field_name: str, *, required: bool = False) -> datetime | None:
    if value is None:
        if required:
            raise _Bad(f"missing {field_name}")
        return None
    if isinstance(value, dict) and value.keys() == {"$date"}:
        value = value["$date"]
        if isinstance(value, dict) and value.keys() == {"$numberLong"}:
            try:
                value = int(value["$numberLong"])
            except (TypeError, ValueError):
                raise _Bad(f"{field_name} is not a date") from None
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (is_number or isinstance(value, str)):
        raise _Bad(f"{field_name} is not a date")
    try:
        if is_number:
            parsed = EPOCH + timedelta(milliseconds=value)
        else:
            parsed = datetime.fromisoformat(value)
            parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _Bad(f"{field_name} is not a valid ISO 8601 date or epoch milliseconds") from None
    # The API's precision is the millisecond.
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def _object(value: Any, field_name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(f"{field_name} must be an object")
    return value


def _parse(line_no: int, raw: str | bytes, expiration: timedelta) -> _Record:
    if len(raw) > MAX_LINE_BYTES:
        raise _Bad(f"line is longer than {MAX_LINE_BYTES} bytes")
    try:
        doc = safejson.loads(raw)
    except safejson.TooDeep as exc:
        raise _Bad(f"JSON {exc}") from None
    except json.JSONDecodeError as exc:
        raise _Bad(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError:
        raise _Bad("not valid JSON (not UTF-8)") from None
    if not isinstance(doc, dict):
        raise _Bad("not a JSON object")
    raw_id = doc.get("sessionId")
    session_id = _text(
        raw_id if raw_id is not None else doc.get("_id"), "sessionId", "id", required=True
    )
    user_id = _text(doc.get("userId"), "userId", "user_id", required=True)
    login_at = _date(doc.get("loginAt"), "loginAt", required=True)
    assert session_id is not None and user_id is not None and login_at is not None
    try:
        expires_at = login_at + expiration
    except OverflowError:
        raise _Bad("loginAt is too far in the future") from None
    device = doc.get("device")
    if device is None:
        device_values: dict[str, str | None] = dict.fromkeys(DEVICE_COLUMNS)
    else:
        device = _object(device, "device")
        os = _object(device.get("os"), "device.os")
        device_values = {
            "device_type": _text(device.get("type"), "device.type", "device_type") or "",
            "device_name": _text(device.get("name"), "device.name", "device_name"),
            "device_long_version": _text(
                device.get("longVersion"), "device.longVersion", "device_long_version"
            ),
            "device_os_name": _text(os.get("name"), "device.os.name", "device_os_name"),
            "device_os_version": _text(os.get("version"), "device.os.version", "device_os_version"),
            "device_version": _text(device.get("version"), "device.version", "device_version"),
        }
    user = _object(doc.get("_user"), "_user")
    username = _text(user.get("username"), "_user.username", "username")
    session = {
        "ip": _ip(doc.get("ip")),
        "host": _text(doc.get("host"), "host", "host") or "",
        **device_values,
        "login_at": login_at,
        "last_activity_at": _date(doc.get("lastActivityAt"), "lastActivityAt") or login_at,
        "logout_at": _date(doc.get("logoutAt"), "logoutAt"),
        "logout_by": _text(doc.get("logoutBy"), "logoutBy", "logout_by"),
        "expires_at": expires_at,
    }
    username = username.strip() if username else None
    if username and len(fold(username)) > _LENGTHS["username_key"]:
        raise _Bad("_user.username is too long once case-folded")
    name = _text(user.get("name"), "_user.name", "name")
    return _Record(line_no, session_id, user_id, username or None, name, session)


# --- writing --------------------------------------------------------------------------


def _write_batch(
    writer: bulk.BulkWriter,
    records: list[_Record],
    now: datetime,
    rejections: list[Rejection],
    username_pattern: str = USERNAME_PATTERN,
) -> tuple[int, int, int]:
    """Create the missing users, then the sessions; returns (sessions, users) written and
    how many of those sessions are already expired."""
    writer.begin()
    by_user: dict[str, list[_Record]] = {}
    for record in records:
        by_user.setdefault(record.user_id, []).append(record)
    known = writer.existing(_USERS.c.id, list(by_user))
    refused: dict[str, str] = {}
    wanted: dict[str, tuple[str, str | None]] = {}
    claimed: dict[str, str] = {}
    for user_id, user_records in by_user.items():
        if user_id in known:
            continue
        named = next((r for r in user_records if r.username), None)
        if named is None or named.username is None:
            refused[user_id] = f"userId {user_id} is not a known user and _user.username is missing"
            continue
        try:  # the identity rules of every other way a user is made
            username = normalize_username(named.username, username_pattern, field="_user.username")
        except IdentityError as exc:
            refused[user_id] = str(exc)
            continue
        key = fold(username)
        if key in claimed:
            refused[user_id] = f"_user.username {username!r} belongs to another userId"
            continue
        claimed[key] = user_id
        wanted[user_id] = (username, named.name)
    # Usernames and emails share one namespace of keys (identity.py).
    taken = writer.existing(_USERS.c.username_key, claimed)
    taken |= writer.existing(_USERS.c.email_key, claimed)
    for key in taken:
        user_id = claimed[key]
        refused[user_id] = f"_user.username {wanted.pop(user_id)[0]!r} belongs to another user"
    created = writer.insert_new(
        _USERS,
        USER_COLUMNS,
        [
            {
                "id": user_id,
                "username": username,
                "username_key": fold(username),
                "name": name,
                "active": True,
                "roles": list(DEFAULT_ROLES),
                "created_at": now,
                "twofa_failed_attempts": 0,
            }
            for user_id, (username, name) in wanted.items()
        ],
    )
    missed = [user_id for user_id in wanted if user_id not in created]
    if missed:  # created meanwhile by someone else (fine) or a name taken meanwhile
        present = writer.existing(_USERS.c.id, missed)
        for user_id in missed:
            if user_id not in present:
                refused[user_id] = f"_user.username {wanted[user_id][0]!r} is taken"
    rows = []
    lines: dict[str, int] = {}
    for record in records:
        reason = refused.get(record.user_id)
        if reason is not None:
            rejections.append(Rejection(record.line, reason))
            continue
        lines[record.session_id] = record.line
        rows.append(
            {
                "id": record.session_id,
                "user_id": record.user_id,
                "token_hash": hash_token(new_token()),  # nobody holds this token
                **record.session,
                "user_agent": None,
                "bypass_2fa": False,
            }
        )
    inserted = writer.insert_new(_SESSIONS, SESSION_COLUMNS, rows)
    for session_id, line in lines.items():
        if session_id not in inserted:
            rejections.append(Rejection(line, f"duplicate sessionId {session_id}: already stored"))
    expired = sum(1 for r in records if r.session_id in inserted and r.expired_unended(now))
    return len(inserted), len(created), expired


def import_sessions(
    conn: sa.Connection,
    lines: Iterable[str | bytes],
    *,
    expiration_days: int,
    username_pattern: str = USERNAME_PATTERN,
    batch_size: int = BATCH_SIZE,
    now: datetime | None = None,
    after_batch: Callable[[BatchProgress], None] | None = None,
) -> ImportSummary:
    """Import JSON Lines of session documents in batches; never commits (see module doc)."""
    started = time.perf_counter()
    writer = bulk.bulk_writer(conn)
    expiration = timedelta(days=expiration_days)
    created_at = now or utcnow()
    summary = ImportSummary()
    records: dict[str, _Record] = {}
    rejections: list[Rejection] = []
    batch_lines = batch_bytes = 0

    def flush() -> None:
        nonlocal records, rejections, batch_lines, batch_bytes
        imported = users = expired = 0
        if records:
            imported, users, expired = _write_batch(
                writer, list(records.values()), created_at, rejections, username_pattern
            )
        rejections.sort(key=lambda r: r.line)
        summary.sessions_imported += imported
        summary.sessions_already_expired += expired
        summary.users_created += users
        summary.lines_rejected += len(rejections)
        room = KEPT_REJECTIONS - len(summary.rejections)
        summary.rejections.extend(rejections[: max(0, room)])
        progress = BatchProgress(batch_lines, batch_bytes, imported, users, rejections, expired)
        records, rejections, batch_lines, batch_bytes = {}, [], 0, 0
        if after_batch is not None:
            after_batch(progress)

    for line_no, raw in enumerate(lines, start=1):
        summary.lines_read += 1
        batch_lines += 1
        batch_bytes += len(raw)
        if line_no == 1:
            raw = (
                raw.removeprefix(b"\xef\xbb\xbf")
                if isinstance(raw, bytes)
                else raw.removeprefix("\ufeff")
            )
        if not raw or raw.isspace():
            summary.blank_lines += 1
        else:
            try:
                record = _parse(line_no, raw, expiration)
            except _Bad as exc:
                rejections.append(Rejection(line_no, str(exc)))
            else:
                first = records.get(record.session_id)
                if first is None:
                    records[record.session_id] = record
                else:
                    rejections.append(
                        Rejection(
                            line_no,
                            f"duplicate sessionId {record.session_id} (first on line {first.line})",
                        )
                    )
        if batch_lines >= batch_size:
            flush()
    if batch_lines:
        flush()
    summary.seconds = time.perf_counter() - started
    return summary


def analyze(conn: sa.Connection) -> None:
    """Refresh the planner's statistics after a bulk load (the caller commits)."""
    bulk.analyze(conn, (_USERS, _SESSIONS))


def vacuum(engine: sa.Engine) -> None:
    """VACUUM (ANALYZE) what an import wrote (ANALYZE on SQLite), outside any transaction."""
    bulk.vacuum_analyze(engine, (_USERS, _SESSIONS))
