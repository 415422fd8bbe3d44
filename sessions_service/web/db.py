"""The request's database session: created on first use, closed on teardown."""

from __future__ import annotations

from flask import Flask, g
from sqlalchemy.orm import Session

from sessions_service.state import new_session


def init_app(app: Flask) -> None:
    """Close the request's session when its app context ends."""
    app.teardown_appcontext(close_db)


def get_db() -> Session:
    """The request's ORM session, created on first use and closed on teardown."""
    if "db" not in g:
        g.db = new_session()
    db: Session = g.db
    return db


def close_db(_exc: BaseException | None = None) -> None:
    """Close (and so roll back anything uncommitted in) the request's session."""
    db = g.pop("db", None)
    if db is not None:
        db.close()
