"""marshmallow schemas: request parameters in, Rocket.Chat's shapes out. No DB, no ``g``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_dump, validate

from .errors import InvalidSort, InvalidSortKeys

INT32_MAX = 2**31 - 1
FILTER_MAX = 256
SORT_KEYS = (
    "loginAt",
    "device.name",
    "device.os.name",
    "device.os.version",
    "_user.name",
    "_user.username",
)
DEFAULT_SORT: list[tuple[str, int]] = [("loginAt", -1)]
_DIGITS = re.compile(r"[0-9]{1,10}")


def format_timestamp(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and Z, as Rocket.Chat (``2023-05-24T00:25:54.234Z``)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class QueryInt(fields.Field):
    """A non-negative 32-bit integer written in plain ASCII digits."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not _DIGITS.fullmatch(value) or int(value) > INT32_MAX:
            raise ValidationError(f"must be an integer from 0 to {INT32_MAX}")
        return int(value)


class NoNulString(fields.String):
    """A string without NUL characters."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("must not contain NUL characters")
        return text


class SortField(fields.Field):
    """``sort``: a JSON object of allowed keys to 1 or -1, as Rocket.Chat's parseJsonQuery."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> list[tuple[str, int]]:
        raw = str(value)
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise InvalidSort(raw) from None
        if not isinstance(parsed, dict):
            raise InvalidSort(raw)
        for direction in parsed.values():
            if isinstance(direction, bool) or direction not in (1, -1):
                raise InvalidSort(raw)
        if any(key not in SORT_KEYS for key in parsed):
            raise InvalidSortKeys()
        return [(key, int(direction)) for key, direction in parsed.items()] or DEFAULT_SORT


class ListArgs(Schema):
    """Query parameters of sessions/list and sessions/list.all."""

    class Meta:
        unknown = RAISE

    filter = NoNulString(validate=validate.Length(max=FILTER_MAX))
    offset = QueryInt(load_default=0)
    count = QueryInt()
    sort = SortField(load_default=lambda: DEFAULT_SORT)


class LoginBody(Schema):
    """POST /login: ``user`` or ``username``, ``password``, optional TOTP ``code``."""

    class Meta:
        unknown = RAISE

    user = NoNulString(validate=validate.Length(min=1, max=320))
    username = NoNulString(validate=validate.Length(min=1, max=320))
    password = NoNulString(required=True, validate=validate.Length(min=1, max=1024))
    code = NoNulString(validate=validate.Length(min=1, max=64))


def validation_message(errors: dict[str, Any]) -> str:
    """One line describing marshmallow errors, e.g. ``count: must be an integer ...``."""
    parts = []
    for field, messages in sorted(errors.items()):
        text = messages[0] if isinstance(messages, list) and messages else str(messages)
        if text == "Unknown field.":
            parts.append(f"unknown parameter '{field}'")
        else:
            parts.append(f"{field}: {text}")
    return "; ".join(parts)


class OsSchema(Schema):
    name = fields.String(attribute="device_os_name")
    version = fields.String(attribute="device_os_version")


class DeviceSchema(Schema):
    type = fields.String(attribute="device_type")
    name = fields.String(attribute="device_name")
    longVersion = fields.String(attribute="device_long_version")
    os = fields.Function(lambda s: OsSchema().dump(s))
    version = fields.String(attribute="device_version")

    @post_dump
    def _empty_strings(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {k: ("" if v is None else v) for k, v in data.items()}


class UserRefSchema(Schema):
    username = fields.String()
    name = fields.String()

    @post_dump
    def _drop_missing_name(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("name") is None:
            data.pop("name", None)
        return data


class SessionSchema(Schema):
    """One session as list/list.all show it (``_user`` only where the user is loaded)."""

    sessionId = fields.String(attribute="id")
    userId = fields.String(attribute="user_id")
    device = fields.Function(lambda s: DeviceSchema().dump(s) if s.device_type else None)
    host = fields.String()
    ip = fields.String()
    loginAt = fields.Function(lambda s: format_timestamp(s.login_at))
    user_ref = fields.Function(lambda s: UserRefSchema().dump(s.user), data_key="_user")
    id_ = fields.Function(lambda s: s.id, data_key="_id")

    @post_dump
    def _shape(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("device") is None:
            data.pop("device", None)
        data["host"] = data.get("host") or ""
        data["ip"] = data.get("ip") or ""
        return data


class SessionPageSchema(Schema):
    """The list envelope: sessions, total, count, offset, success."""

    sessions = fields.List(fields.Raw())
    total = fields.Integer()
    count = fields.Integer()
    offset = fields.Integer()
    success = fields.Constant(True)
