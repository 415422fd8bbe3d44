"""marshmallow schemas: request parameters in, Rocket.Chat's shapes out. No DB, no ``g``."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_dump, validate

from sessions_service.clock import format_timestamp
from sessions_service.core import safejson
from sessions_service.data.queries import DEFAULT_SORT, SORT_KEYS
from sessions_service.web.errors import InvalidSort, InvalidSortKeys

INT32_MAX = 2**31 - 1
FILTER_MAX = 256
_DIGITS = re.compile(r"[0-9]{1,10}")


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
            parsed = safejson.loads(raw)  # TooDeep is a ValueError too
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
    code = NoNulString(validate=validate.Length(max=64))  # "" = no code: totp-required


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


class Timestamp(fields.Field):
    """A UTC datetime as ``2023-05-24T00:25:54.234Z``."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_timestamp(value)


class _DropNone(Schema):
    """Omit keys whose value is None (absent in Rocket.Chat's documents)."""

    @post_dump
    def _drop_none(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {k: v for k, v in data.items() if v is not None}


class _Record(Schema):
    """Dumps an object read by attribute: a data.queries record, a dataclass, an ORM object.

    marshmallow's default getter tries ``obj[key]`` first and splits dotted names; none of
    these needs either, and this runs once per field of every row of a page.
    """

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        return getattr(obj, attr, default)


class OsSchema(_Record):
    name = fields.String(required=True)
    version = fields.String(required=True)


class DeviceSchema(_Record):
    type = fields.String(required=True, metadata={"example": "browser"})
    name = fields.String(required=True, metadata={"example": "Chrome"})
    longVersion = fields.String(
        attribute="long_version", required=True, metadata={"example": "113.0.0.0"}
    )
    os = fields.Nested(OsSchema, required=True)
    version = fields.String(required=True, metadata={"example": "113.0.0"})


class UserRefSchema(_DropNone, _Record):
    username = fields.String(required=True)
    name = fields.String(metadata={"description": "Omitted when the user has no name."})


class OwnSessionSchema(_DropNone, _Record):
    """One session as sessions/list shows it."""

    sessionId = fields.String(attribute="id", required=True)
    userId = fields.String(attribute="user_id", required=True)
    device = fields.Nested(DeviceSchema, metadata={"description": "Omitted without User-Agent."})
    host = fields.String(required=True)
    ip = fields.String(required=True)
    loginAt = Timestamp(attribute="login_at", required=True)
    id_ = fields.Function(
        lambda s: s.id, data_key="_id", required=True, metadata={"type": "string"}
    )


class SessionSchema(OwnSessionSchema):
    """One session as sessions/list.all shows it, with its user."""

    user_ref = fields.Nested(UserRefSchema, attribute="user", data_key="_user", required=True)

    class Meta:
        fields = ("sessionId", "userId", "device", "host", "ip", "loginAt", "user_ref", "id_")


class _InfoFields(Schema):
    lastActivityAt = Timestamp(attribute="last_activity_at", required=True)
    logoutAt = Timestamp(attribute="logout_at", metadata={"description": "Present once ended."})
    success = fields.Constant(True, required=True, metadata={"type": "boolean", "enum": [True]})


class OwnSessionInfoSchema(OwnSessionSchema, _InfoFields):
    """sessions/info: one of the caller's sessions."""

    class Meta:
        fields = (
            "sessionId",
            "userId",
            "device",
            "host",
            "ip",
            "loginAt",
            "id_",
            "lastActivityAt",
            "logoutAt",
            "success",
        )


class SessionInfoSchema(SessionSchema, _InfoFields):
    """sessions/info.admin: any user's session."""

    class Meta:
        fields = (*SessionSchema.Meta.fields, "lastActivityAt", "logoutAt", "success")


class OwnSessionPageSchema(Schema):
    """The sessions/list envelope."""

    sessions = fields.Nested(OwnSessionSchema, many=True, required=True)
    total = fields.Integer(required=True)
    count = fields.Integer(required=True, metadata={"description": "The effective page size."})
    offset = fields.Integer(required=True)
    success = fields.Constant(True, required=True, metadata={"type": "boolean", "enum": [True]})


class SessionPageSchema(OwnSessionPageSchema):
    """The sessions/list.all envelope."""

    sessions = fields.Nested(SessionSchema, many=True, required=True)


class SessionIdSchema(Schema):
    """``{"sessionId"}`` as a query parameter or JSON body."""

    class Meta:
        unknown = RAISE

    sessionId = NoNulString(required=True, validate=validate.Length(min=1, max=64))


class SessionIdResultSchema(Schema):
    sessionId = fields.String(required=True)
    success = fields.Constant(True, required=True, metadata={"type": "boolean", "enum": [True]})


class MeSchema(Schema):
    id_ = fields.String(attribute="id", data_key="_id", required=True)
    username = fields.String(required=True)
    name = fields.String(allow_none=True, required=True)
    roles = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)


class LoginDataSchema(Schema):
    userId = fields.String(required=True)
    authToken = fields.String(required=True)
    me = fields.Nested(MeSchema, required=True)


class LoginResultSchema(Schema):
    status = fields.Constant(
        "success", required=True, metadata={"type": "string", "enum": ["success"]}
    )
    data = fields.Nested(LoginDataSchema, required=True)


class LogoutDataSchema(Schema):
    message = fields.String(required=True)


class LogoutResultSchema(Schema):
    status = fields.Constant(
        "success", required=True, metadata={"type": "string", "enum": ["success"]}
    )
    data = fields.Nested(LogoutDataSchema, required=True)


class TwoFactorDetailsSchema(Schema):
    method = fields.String(required=True, metadata={"enum": ["totp", "password"]})
    codeGenerated = fields.Boolean(required=True)
    availableMethods = fields.List(fields.String(), required=True)


class ErrorSchema(_DropNone):
    """Rocket.Chat's error envelope."""

    success = fields.Constant(False, required=True, metadata={"type": "boolean", "enum": [False]})
    error = fields.String(required=True)
    errorType = fields.String()
    details = fields.Dict()


class UnauthorizedSchema(Schema):
    """The one 401 body of every authentication failure."""

    success = fields.Constant(False, required=True, metadata={"type": "boolean", "enum": [False]})
    status = fields.Constant("error", required=True, metadata={"type": "string", "enum": ["error"]})
    message = fields.String(required=True)
    error = fields.String(required=True)


class LoginErrorSchema(_DropNone):
    """POST /login failures."""

    status = fields.Constant("error", required=True, metadata={"type": "string", "enum": ["error"]})
    error = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Nested(TwoFactorDetailsSchema)
