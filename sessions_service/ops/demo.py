"""Demo data: the users of Rocket.Chat's documented example, logged in from a few devices."""

from __future__ import annotations

import random
import secrets
import sys
from datetime import timedelta

import click
import sqlalchemy as sa
from flask import Flask

from sessions_service.clock import utcnow
from sessions_service.config import Settings
from sessions_service.core import accounts, logins, twofactor
from sessions_service.data import queries
from sessions_service.data.models import User
from sessions_service.state import new_session, settings_of

ADMIN_USERNAME = "admin"

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/113.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/112.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/113.0.0.0 Mobile Safari/537.36",
    "RC Mobile; iOS 16.5; v4.39.0 (1234)",
    "RC Mobile; Android 13; v4.39.0 (1234)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Rocket.Chat/3.9.4 Chrome/112.0.5615.204 Electron/24.4.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/113.0",
]

# (username, display name) as in the documented list.all example.
DEMO_USERS = [
    ("testroxie", "Test"),
    ("funke.olasupo", "Funke Olasupo"),
    ("funke.test", "Funke"),
    ("rocket.agent", "Rocket Agent"),
    ("rodriq", "Rodriq"),
    ("user-0", None),
    ("guester", "Guester"),
    ("user-00", "User 00"),
]
IPS = ["172.20.0.2", "172.18.0.4", "10.1.4.27", "10.1.9.3", "192.168.1.20", "2001:db8::7"]


def seed_if_empty(app: Flask) -> bool:
    """Create the admin (with TOTP), demo users and their sessions unless users exist."""
    settings: Settings = settings_of(app)
    rng = random.Random(20230524)  # noqa: S311 - demo data, not secrets
    with new_session(app) as db:
        if db.scalar(sa.select(sa.func.count()).select_from(User)):
            return False
        password = secrets.token_urlsafe(12)
        admin = accounts.create_user(
            db,
            ADMIN_USERNAME,
            password,
            name="Workspace Admin",
            roles=("admin", "user"),
            bcrypt_rounds=settings.bcrypt_rounds,
        )
        enrolment = twofactor.enable_totp(db, admin, settings)
        now = utcnow()
        for username, name in DEMO_USERS:
            user = accounts.create_user(
                db,
                username,
                secrets.token_urlsafe(12),
                name=name,
                bcrypt_rounds=4,  # demo users never log in with these random passwords
            )
            for _ in range(rng.randint(1, 3)):
                login_at = now - timedelta(
                    minutes=rng.randint(5, 60 * 24 * 20), milliseconds=rng.randint(0, 999)
                )
                session, _token = logins.create_session(
                    db,
                    user,
                    user_agent=rng.choice(USER_AGENTS),
                    ip=rng.choice(IPS),
                    host="localhost:3000",
                    now=login_at,
                    expiration_days=settings.login_expiration_days,
                )
                if rng.random() < 0.2:
                    queries.logout_session(db, session.id, user.id, login_at + timedelta(hours=1))
        db.commit()
    click.echo("Seeded demo data.")
    click.echo(f"  admin username: {ADMIN_USERNAME}")
    click.echo(f"  admin password: {password}   (shown once)")
    click.echo(f"  admin backup codes: {' '.join(enrolment.backup_codes)}   (shown once)")
    return True


def print_instructions(app: Flask, host: str, port: int) -> None:
    """Print a fresh admin token, the TOTP secret and a curl line that works as pasted."""
    settings: Settings = settings_of(app)
    with new_session(app) as db:
        twofactor.check_secret_keys(db, settings)  # the demo refuses a wrong key as serve does
        admin = accounts.get_user_by_username(db, ADMIN_USERNAME)
        if admin is None:
            click.echo(
                f"No '{ADMIN_USERNAME}' user in this database; create one with "
                "sessions-service users create."
            )
            return
        totp = twofactor.load_totp(db, admin.id)
        session, token = logins.create_session(
            db,
            admin,
            user_agent=None,
            ip="",
            host="",
            now=utcnow(),
            expiration_days=settings.login_expiration_days,
        )
        db.commit()
        secret = twofactor.current_secret(totp, settings) if totp else None
    code = (
        f"$({sys.executable} -c \"import pyotp; print(pyotp.TOTP('{secret}').now())\")"
        if secret
        else "<your 2FA code>"
    )
    click.echo(f"  admin userId: {admin.id}")
    click.echo(f"  admin authToken (new demo login {session.id}): {token}")
    if secret:
        click.echo(f"  admin TOTP secret: {secret}")
    click.echo("Try it:")
    click.echo(
        f"  curl -s 'http://{host}:{port}/api/v1/sessions/list.all?filter=funke' \\\n"
        f"    -H 'X-User-Id: {admin.id}' \\\n"
        f"    -H 'X-Auth-Token: {token}' \\\n"
        f'    -H "x-2fa-code: {code}"'
    )
