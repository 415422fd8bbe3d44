"""The lean read path (issue 11): list/list.all and info/info.admin read rows, not ORM objects,
in as few statements as the rules allow, and answer exactly what the ORM objects dumped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import contains_eager

from sessions_service.clock import utcnow
from sessions_service.data import queries
from sessions_service.data.models import UserSession
from sessions_service.state import get_engine, new_session
from sessions_service.web.schemas import SessionInfoSchema, SessionPageSchema

from .conftest import FIREFOX_112

API = "/api/v1/sessions"


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    """The SQL statements sent while the block runs."""
    sent: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    engine = get_engine(app)
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _population(helpers: Any) -> tuple[Any, Any]:
    admin = helpers.admin(name="Root Admin")
    caller = helpers.session_for(admin, bypass_2fa=True)
    nameless = helpers.user("nameless")
    named = helpers.user("named", name="Named Person")
    helpers.session_for(nameless, user_agent=None, ip="10.0.0.2")
    helpers.session_for(named, user_agent=FIREFOX_112, host="example.org")
    helpers.session_for(named, ip="2001:db8::1")
    return admin, caller


def test_list_all_needs_three_statements_auth_total_and_page(app, client, helpers):
    _, caller = _population(helpers)
    client.get(f"{API}/list.all", headers=caller.headers())  # the activity write, once a minute
    with statements(app) as sent:
        response = client.get(f"{API}/list.all", headers=caller.headers())
    assert response.status_code == 200
    assert len(sent) == 3, sent
    assert "permissions" in sent[0] and "users" in sent[0]  # token, user, permission at once


def test_info_admin_needs_two_statements(app, client, helpers):
    _, caller = _population(helpers)
    client.get(f"{API}/list.all", headers=caller.headers())
    with statements(app) as sent:
        response = client.get(
            f"{API}/info.admin",
            query_string={"sessionId": caller.session_id},
            headers=caller.headers(),
        )
    assert response.status_code == 200
    assert len(sent) == 2, sent


def test_pages_are_records_not_orm_objects(app, helpers):
    _population(helpers)
    with new_session(app) as db:
        page = queries.list_sessions(db, now=utcnow(), offset=0, count=50, sort=[("loginAt", -1)])
        assert page.sessions and all(isinstance(s, queries.SessionRecord) for s in page.sessions)
        assert not db.identity_map  # nothing was loaded as an ORM object


def _orm_sessions(app: Any, ids: list[str]) -> list[UserSession]:
    """The same sessions as ORM objects with their users, as the read path loaded them before."""
    with new_session(app) as db:
        found = db.scalars(
            sa.select(UserSession)
            .join(UserSession.user)
            .options(contains_eager(UserSession.user))
            .where(UserSession.id.in_(ids))
        ).all()
        by_id = {s.id: s for s in found}
        db.expunge_all()
    return [by_id[i] for i in ids]


def test_bodies_are_what_the_orm_objects_dumped(app, client, helpers):
    """Same keys, same order, same values: the records dump exactly as UserSession did."""
    _, caller = _population(helpers)
    response = client.get(f"{API}/list.all", headers=caller.headers())
    body = response.get_json()
    ids = [s["sessionId"] for s in body["sessions"]]
    assert len(ids) == 4
    envelope = {"sessions": _orm_sessions(app, ids), "total": 4, "count": 50, "offset": 0}
    expected = SessionPageSchema().dump(envelope)
    assert json.dumps(body) == json.dumps(expected)  # key order included
    for session_id, orm in zip(ids, envelope["sessions"], strict=True):
        info = client.get(
            f"{API}/info.admin", query_string={"sessionId": session_id}, headers=caller.headers()
        ).get_json()
        assert json.dumps(info) == json.dumps(SessionInfoSchema().dump(orm))


def test_a_permission_change_applies_to_the_next_request(app, client, helpers):
    """The permission's roles are read on every request (no cache, no staleness window)."""
    _, caller = _population(helpers)
    assert client.get(f"{API}/list.all", headers=caller.headers()).status_code == 200
    helpers.sql("UPDATE permissions SET roles = '[]' WHERE id = 'view-device-management'")
    assert client.get(f"{API}/list.all", headers=caller.headers()).status_code == 403
    helpers.sql("UPDATE permissions SET roles = '[\"admin\"]' WHERE id = 'view-device-management'")
    assert client.get(f"{API}/list.all", headers=caller.headers()).status_code == 200
