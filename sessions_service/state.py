"""What an app carries: its settings and its database (one accessor for each)."""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from sessions_service.config import Settings
from sessions_service.data.engine import create_db_engine


def settings_of(app: Flask | None = None) -> Settings:
    """The app's settings (the current app's when none is given)."""
    settings: Settings = (app or current_app).config["SETTINGS"]
    return settings


def init_app(app: Flask, settings: Settings) -> None:
    """Attach the settings, the engine and a session factory to the app."""
    app.config["SETTINGS"] = settings
    engine = create_db_engine(settings)
    app.extensions["sessions_db"] = {
        "engine": engine,
        "sessionmaker": sessionmaker(bind=engine, expire_on_commit=False),
    }


def get_engine(app: Flask | None = None) -> Engine:
    """The app's engine."""
    target = app or current_app
    engine: Engine = target.extensions["sessions_db"]["engine"]
    return engine


def new_session(app: Flask | None = None) -> Session:
    """A new ORM session bound to the app's engine (caller closes it)."""
    target = app or current_app
    factory: sessionmaker[Session] = target.extensions["sessions_db"]["sessionmaker"]
    return factory()
