"""list.all and list: active sessions regex-filtered, sorted and paged, each case on an index.

Every function takes a Session first and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from sessions_service.data.dialect import database_collation, regex_match, sort_text
from sessions_service.data.models import SessionCount, User, UserSession
from sessions_service.data.queries.sessions import (
    RECORD_COLUMNS,
    SessionRecord,
    active_conditions,
    records,
)

# The API's sort keys (the only ones it accepts) and what each sorts by: text keys sort NULL
# as '' and by code point, as the px_* indexes of migration 0002 hold them.
SORT_KEYS: dict[str, Any] = {
    "loginAt": UserSession.login_at,
    "device.name": sort_text(UserSession.device_name, nullable=True),
    "device.os.name": sort_text(UserSession.device_os_name, nullable=True),
    "device.os.version": sort_text(UserSession.device_os_version, nullable=True),
    "_user.name": sort_text(User.name, nullable=True),
    "_user.username": sort_text(User.username, nullable=False),
}
DEFAULT_SORT: list[tuple[str, int]] = [("loginAt", -1)]
# Keys of the session's user (Rocket.Chat's ``_user``): sorting by them joins users.
USER_SORT_KEYS = frozenset(key for key in SORT_KEYS if key.startswith("_user."))
# Filtered device fields: few distinct values, so the pattern runs once per value.
DEVICE_FILTER_COLUMNS = (
    UserSession.device_name,
    UserSession.device_type,
    UserSession.device_os_name,
)
# Filtered session fields with (nearly) one value per row: trigram-indexed on PostgreSQL.
SESSION_FILTER_COLUMNS = (UserSession.id, UserSession.ip, UserSession.host)
# Matching users are passed as a list up to this many, else as a subquery.
USER_ID_LIST_LIMIT = 1000
SECONDS_PER_BUCKET = 3600  # session_counts' bucket width (migration 0002)


@dataclass(frozen=True)
class Page:
    """One page of sessions and the number of all that match."""

    sessions: list[SessionRecord]
    total: int


def _order_by(sort: Sequence[tuple[str, int]]) -> list[Any]:
    clauses = [
        SORT_KEYS[key].asc() if direction == 1 else SORT_KEYS[key].desc() for key, direction in sort
    ]
    # sessionId is the final tie-breaker so pages never overlap or skip.
    tie = sort_text(UserSession.id, nullable=False)
    clauses.append(tie.asc() if sort[0][1] == 1 else tie.desc())
    return clauses


def _matching_values(db: Session, column: Any, pattern: str) -> list[str]:
    """Distinct values of a low-cardinality column that match (a loose index scan)."""
    expr = sort_text(column, nullable=True)  # the px_ index's expression
    not_ended = UserSession.logout_at.is_(None)
    first = sa.select(expr).where(not_ended).order_by(expr).limit(1).scalar_subquery()
    values = sa.select(first.label("v")).cte("distinct_values", recursive=True)
    following = (
        sa.select(expr).where(not_ended, expr > values.c.v).order_by(expr).limit(1)
    ).scalar_subquery()
    values = values.union_all(sa.select(following).where(values.c.v.is_not(None)))
    stmt = sa.select(values.c.v).where(
        values.c.v.is_not(None), regex_match(database_collation(values.c.v), pattern)
    )
    return list(db.scalars(stmt))


@dataclass(frozen=True)
class _Filter:
    """A pattern as conditions: ``device`` on the low-cardinality columns, ``other`` the rest.

    A session matches when any condition of either list holds; none of them is ever NULL.
    """

    device: list[sa.ColumnElement[bool]]
    other: list[sa.ColumnElement[bool]]

    def condition(self) -> sa.ColumnElement[bool]:
        return sa.or_(*self.device, *self.other)


def _filter_parts(db: Session, pattern: str) -> _Filter:
    """Resolve the pattern on users and device values first, so each part has an index."""
    user_match = sa.or_(*(regex_match(c, pattern) for c in (User.username, User.name, User.id)))
    user_ids = list(db.scalars(sa.select(User.id).where(user_match).limit(USER_ID_LIST_LIMIT + 1)))
    other: list[sa.ColumnElement[bool]] = []
    if len(user_ids) > USER_ID_LIST_LIMIT:
        other.append(UserSession.user_id.in_(sa.select(User.id).where(user_match)))
    elif user_ids:
        other.append(UserSession.user_id.in_(user_ids))
    # id, ip and host are NOT NULL, so these regexes are never NULL either.
    other += [regex_match(c, pattern) for c in SESSION_FILTER_COLUMNS]
    device: list[sa.ColumnElement[bool]] = []
    for column in DEVICE_FILTER_COLUMNS:
        values = _matching_values(db, column, pattern)
        named = [v for v in values if v != ""]
        if named:
            device.append(sort_text(column, nullable=True).in_(named))
        if "" in values:  # '' stands for NULL too in the index; NULL never matches
            device.append(sa.and_(column.is_not(None), column == ""))
    return _Filter(device, other)


def _own_filter(user_id: str, pattern: str, now: datetime) -> sa.ColumnElement[bool]:
    """The pattern over one user's active sessions only (sessions/list).

    Those rows are materialized first, so no plan can run the regex on another user's row
    (a trigram index scan over every session would).
    """
    own = (
        sa.select(
            UserSession.id,
            *DEVICE_FILTER_COLUMNS,
            *SESSION_FILTER_COLUMNS[1:],
            UserSession.user_id,
            User.username,
            User.name,
        )
        .join(UserSession.user)
        .where(UserSession.user_id == user_id, *active_conditions(now))
        .cte("own_sessions")
        .prefix_with("MATERIALIZED")
    )
    matching = sa.select(own.c.id).where(sa.or_(*(regex_match(c, pattern) for c in own.c)))
    return UserSession.id.in_(matching)


def _count(db: Session, *conditions: sa.ColumnElement[bool]) -> int:
    stmt = sa.select(sa.func.count()).select_from(UserSession).where(*conditions)
    return int(db.scalar(stmt) or 0)


def _filtered_total(db: Session, conditions: list[Any], found: _Filter) -> int:
    """|device ∪ other| as |device| + |other ∖ device|: a broad device match (say
    'firefox', a quarter of all rows) is then counted from its index alone."""
    if not found.device or not found.other:
        return _count(db, *conditions, found.condition())
    in_device = sa.or_(*found.device)
    return _count(db, *conditions, in_device) + _count(
        db, *conditions, sa.or_(*found.other), sa.not_(in_device)
    )


def _unfiltered_total(db: Session, now: datetime) -> int:
    """Active sessions of everyone: the hourly counts, plus a count of the current hour."""
    bucket = int(now.timestamp()) // SECONDS_PER_BUCKET
    bucket_end = datetime.fromtimestamp((bucket + 1) * SECONDS_PER_BUCKET, UTC)
    later = sa.select(sa.func.coalesce(sa.func.sum(SessionCount.active), 0)).where(
        SessionCount.bucket > bucket
    )
    this_hour = (
        sa.select(sa.func.count())
        .select_from(UserSession)
        .where(*active_conditions(now), UserSession.expires_at < bucket_end)
    )
    # One statement, one round trip: each part keeps the plan it has on its own.
    row = db.execute(sa.select(later.scalar_subquery(), this_hour.scalar_subquery())).one()
    return int(row[0] or 0) + int(row[1] or 0)


def list_sessions(
    db: Session,
    *,
    now: datetime,
    offset: int,
    count: int,
    sort: Sequence[tuple[str, int]],
    pattern: str | None = None,
    user_id: str | None = None,
) -> Page:
    """Active sessions (optionally one user's), regex-filtered, sorted, then paged.

    Same rows, order and total as joining users and matching every field with the regex;
    shaped so that each case can use an index (migration 0002).
    """
    conditions = active_conditions(now)
    if user_id is not None:
        conditions.append(UserSession.user_id == user_id)
    if pattern and user_id is not None:
        conditions.append(_own_filter(user_id, pattern, now))
        total = _count(db, *conditions)
    elif pattern:
        found = _filter_parts(db, pattern)
        total = _filtered_total(db, conditions, found)
        conditions.append(found.condition())
    elif user_id is not None:
        total = _count(db, *conditions)
    else:
        total = _unfiltered_total(db, now)
    if count == 0 or offset >= total:
        return Page([], total)
    # The page's ids first (index-only where possible), then only those rows in full.
    ids = sa.select(UserSession.id).where(*conditions)
    if any(key in USER_SORT_KEYS for key, _ in sort):
        ids = ids.join(UserSession.user)
    page_ids = ids.order_by(*_order_by(sort)).offset(offset).limit(count).subquery()
    stmt = (
        sa.select(*RECORD_COLUMNS)
        .join(UserSession.user)
        .join(page_ids, page_ids.c.id == UserSession.id)
        .order_by(*_order_by(sort))
    )
    return Page(records(db.execute(stmt)), total)
