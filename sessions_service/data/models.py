"""Typed SQLAlchemy models: users, their login sessions, TOTP and permissions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sessions_service.clock import utcnow
from sessions_service.data.base import Base, UTCDateTime
from sessions_service.data.ids import ID_LENGTH

USER_AGENT_MAX = 512
HOST_MAX = 255
USERNAME_MAX = 255  # users.username and users.username_key
EMAIL_MAX = 320  # users.email and users.email_key


@dataclass(frozen=True)
class OperatingSystem:
    """The device's OS as the API shows it."""

    name: str
    version: str


@dataclass(frozen=True)
class Device:
    """What the API shows as ``device``: stored in the ``device_*`` columns of a session."""

    type: str
    name: str
    long_version: str
    os: OperatingSystem
    version: str


class User(Base):
    """A workspace account; ``*_key`` columns hold the case-folded unique forms."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(ID_LENGTH), primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(USERNAME_MAX))
    username_key: Mapped[str] = mapped_column(sa.String(USERNAME_MAX), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(EMAIL_MAX))
    email_key: Mapped[str | None] = mapped_column(sa.String(EMAIL_MAX), unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    roles: Mapped[list[str]] = mapped_column(sa.JSON, default=lambda: ["user"])
    password_hash: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Consecutive wrong two-factor codes (any method) and the lock they lead to.
    twofa_failed_attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    twofa_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    totp: Mapped[Totp | None] = relationship(back_populates="user", lazy="raise")


class UserSession(Base):
    """One login: its token hash, where it came from, and when it ended."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(sa.String(ID_LENGTH), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    ip: Mapped[str] = mapped_column(sa.String(45), default="")
    host: Mapped[str] = mapped_column(sa.String(HOST_MAX), default="")
    # device_type NULL means the login sent no User-Agent (no "device" in the API).
    device_type: Mapped[str | None] = mapped_column(sa.String(32))
    device_name: Mapped[str | None] = mapped_column(sa.String(255))
    device_long_version: Mapped[str | None] = mapped_column(sa.String(255))
    device_os_name: Mapped[str | None] = mapped_column(sa.String(255))
    device_os_version: Mapped[str | None] = mapped_column(sa.String(255))
    device_version: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(USER_AGENT_MAX))
    login_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    logout_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    logout_by: Mapped[str | None] = mapped_column(sa.String(ID_LENGTH))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    bypass_2fa: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    twofa_authorized_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    twofa_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))

    user: Mapped[User] = relationship(lazy="raise")

    @property
    def device(self) -> Device | None:
        """The parsed device, from its columns (None: the login sent no User-Agent)."""
        return device_of(*(getattr(self, column) for column in DEVICE_COLUMNS))

    @device.setter
    def device(self, device: Device | None) -> None:
        values: tuple[str | None, ...] = (None,) * len(DEVICE_COLUMNS)
        if device is not None:
            values = (
                device.type,
                device.name,
                device.long_version,
                device.os.name,
                device.os.version,
                device.version,
            )
        for column, value in zip(DEVICE_COLUMNS, values, strict=True):
            # A part can be as long as the User-Agent (a 300-digit version): each is cut to its
            # column here, the one place rows get a device, as PostgreSQL refuses longer values.
            setattr(self, column, None if value is None else value[: _column_length(column)])


DEVICE_COLUMNS = (
    "device_type",
    "device_name",
    "device_long_version",
    "device_os_name",
    "device_os_version",
    "device_version",
)


def device_of(
    device_type: str | None,
    name: str | None,
    long_version: str | None,
    os_name: str | None,
    os_version: str | None,
    version: str | None,
) -> Device | None:
    """The device the ``DEVICE_COLUMNS`` values describe (None: the login sent no User-Agent)."""
    if device_type is None:
        return None
    return Device(
        device_type,
        name or "",
        long_version or "",
        OperatingSystem(os_name or "", os_version or ""),
        version or "",
    )


def _column_length(column: str) -> int:
    length: int = UserSession.__table__.c[column].type.length  # type: ignore[attr-defined]
    return length


class Totp(Base):
    """A user's TOTP secret (Fernet-encrypted) and the last time step accepted."""

    __tablename__ = "totp"

    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_encrypted: Mapped[str] = mapped_column(sa.String(255))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="totp", lazy="raise")


class BackupCode(Base):
    """A single-use backup code, stored as a keyed hash; ``used_at`` set once used."""

    __tablename__ = "backup_codes"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Permission(Base):
    """Which roles hold a permission (as Rocket.Chat's ``rocketchat_permissions``)."""

    __tablename__ = "permissions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    roles: Mapped[list[str]] = mapped_column(sa.JSON, default=list)


class SessionCount(Base):
    """Sessions not logged out, per hour of expiry; kept exact by database triggers.

    Lets an unfiltered list count its total without scanning ``sessions`` (migration 0002).
    """

    __tablename__ = "session_counts"

    bucket: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    active: Mapped[int] = mapped_column(sa.BigInteger)


class LoginThrottle(Base):
    """Failed logins since the last successful one, per login name or client IP (throttle.py).

    ``key`` is the SHA-256 of the case-folded login name (scope ``user``: what was typed is
    never stored) or the client's address (scope ``ip``; IPv6 by /64). Migration 0003.
    """

    __tablename__ = "login_throttle"

    scope: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
