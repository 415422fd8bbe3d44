"""The OpenAPI 3 document, generated from the views' Policies and marshmallow schemas."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from sessions_service.core.twofactor import ErrorType
from sessions_service.web.auth import (
    AUTH_TOKEN_HEADER,
    TWO_FACTOR_CODE_HEADER,
    TWO_FACTOR_METHOD_HEADER,
    USER_ID_HEADER,
    Policy,
    policy_of,
)
from sessions_service.web.errors import InvalidParams, InvalidSort, InvalidSortKeys, TooManyRequests
from sessions_service.web.schemas import (
    ErrorSchema,
    LoginErrorSchema,
    NoNulString,
    QueryInt,
    SortField,
    Timestamp,
    UnauthorizedSchema,
)

TITLE = "sessions-service"
VERSION = "1.0.0"

TWO_FACTOR_HEADERS = [
    {
        "in": "header",
        "name": TWO_FACTOR_CODE_HEADER,
        "required": False,
        "description": "TOTP code, 8-character backup code, or (password method) the "
        "lowercase SHA-256 hex digest of the password. Not needed within the remember window.",
        "schema": {"type": "string"},
    },
    {
        "in": "header",
        "name": TWO_FACTOR_METHOD_HEADER,
        "required": False,
        # Not an enum: as in Rocket.Chat, a value that names none of the user's methods is
        # ignored (the user's first method is used), not refused.
        "description": (
            "Selects among the user's own methods (`totp` or `password`); any other value "
            "is ignored and the user's first method is used."
        ),
        "schema": {"type": "string", "example": "totp"},
    },
]


def _error(description: str, schema: Any = "Error") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _responses(policy: Policy, path: str) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "Success",
            "content": {"application/json": {"schema": policy.response}},
        },
        "405": _error("Wrong method"),
        "413": _error("Body too large"),
        "500": _error("Internal server error"),
        "503": _error("Database unavailable"),
    }
    if policy.query or policy.body or policy.two_factor:
        reasons = [InvalidParams.ERROR_TYPE, InvalidSort.ERROR_TYPE, InvalidSortKeys.ERROR_TYPE]
        if policy.two_factor:
            reasons += list(ErrorType)
        responses["400"] = _error("errorType one of: " + ", ".join(reasons))
    if policy.query is not None and "filter" in policy.query().fields:
        responses["429"] = _error(
            f"{TooManyRequests.ERROR_TYPE}: too many filtered requests at once"
        )
    if policy.public:
        responses["401"] = _error("Bad credentials or two-factor code", "LoginError")
    else:
        responses["401"] = _error("Not logged in (one body for every cause)", "Unauthorized")
    if policy.permission:
        responses["403"] = _error(f"Missing permission {policy.permission}")
    if policy.not_found:
        responses["404"] = _error("Session not found")
    return responses


def _operation(view: Any, policy: Policy, path: str) -> dict[str, Any]:
    doc = (view.__doc__ or "").strip()
    operation: dict[str, Any] = {
        "summary": doc.splitlines()[0] if doc else path,
        "operationId": view.__name__,
        "tags": ["sessions" if "/sessions/" in path else "authentication"],
        "responses": _responses(policy, path),
        "parameters": [],
    }
    notes = []
    if policy.permission:
        notes.append(f"Requires permission `{policy.permission}`.")
    if policy.two_factor:
        notes.append("Requires two-factor authentication.")
        operation["parameters"] += TWO_FACTOR_HEADERS
    if notes:
        operation["description"] = " ".join(notes)
    if policy.public:
        operation["security"] = []
    if policy.query is not None:
        operation["parameters"].append({"in": "query", "schema": policy.query})
    if policy.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": policy.body}},
        }
    return operation


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document for every API route of ``app``."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.0.3",
        plugins=[plugin],
        info={
            "description": "Rocket.Chat-compatible device-management Sessions "
            "REST API. Errors use Rocket.Chat's envelope."
        },
    )
    plugin.map_to_openapi_type(QueryInt, "integer", "int32")
    plugin.map_to_openapi_type(NoNulString, "string", None)
    plugin.map_to_openapi_type(SortField, "string", None)
    plugin.map_to_openapi_type(Timestamp, "string", "date-time")
    spec.components.security_scheme(
        "userId", {"type": "apiKey", "in": "header", "name": USER_ID_HEADER}
    )
    spec.components.security_scheme(
        "authToken", {"type": "apiKey", "in": "header", "name": AUTH_TOKEN_HEADER}
    )
    spec.options["security"] = [{"userId": [], "authToken": []}]
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema("Unauthorized", schema=UnauthorizedSchema)
    spec.components.schema("LoginError", schema=LoginErrorSchema)
    operations: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        policy = policy_of(view)
        if policy is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operations.setdefault(rule.rule, {})[method.lower()] = _operation(
                view, policy, rule.rule
            )
    for path, ops in operations.items():
        spec.path(path=path, operations=ops)
    document: dict[str, Any] = spec.to_dict()
    return document
