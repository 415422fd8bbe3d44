"""Every error the API answers, and the handlers that turn exceptions into JSON.

The envelope is Rocket.Chat's: ``{"success": false, "error", "errorType"?, "details"?}``.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from sessions_service.core import throttle
from sessions_service.core.twofactor import ErrorType
from sessions_service.data.dialect import is_invalid_regex_error
from sessions_service.data.errors import is_missing_schema_error

log = logging.getLogger(__name__)

LOGGED_OUT_MESSAGE = "You must be logged in to do this."


def envelope(
    error: str, error_type: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Rocket.Chat's API error body: ``success``, ``error``, then ``errorType``/``details``."""
    body: dict[str, Any] = {"success": False, "error": error}
    if error_type is not None:
        body["errorType"] = error_type
    if details is not None:
        body["details"] = details
    return body


def _tagged(message: str, error_type: str) -> str:
    """Rocket.Chat's ``error`` text of a typed error: the message, then its type in brackets."""
    return f"{message} [{error_type}]"


def two_factor_details(method: str, available: list[str]) -> dict[str, Any]:
    """The ``details`` of every two-factor refusal, API call or login alike."""
    return {"method": method, "codeGenerated": False, "availableMethods": available}


TWO_FACTOR_MESSAGES = {
    ErrorType.REQUIRED: "TOTP Required",
    ErrorType.INVALID: "TOTP Invalid",
    ErrorType.MAX_ATTEMPTS: "TOTP Maximun Failed Attempts Reached",
}


class ApiError(Exception):
    """An error answered as JSON with a fixed status and body."""

    status = 400

    def __init__(self, body: dict[str, Any], status: int | None = None) -> None:
        super().__init__(body.get("error") or body.get("message"))
        self.body = body
        if status is not None:
            self.status = status


class Unauthorized(ApiError):
    """401: one body for every authentication failure."""

    status = 401

    def __init__(self) -> None:
        super().__init__(
            {
                "success": False,
                "status": "error",
                "message": LOGGED_OUT_MESSAGE,
                "error": LOGGED_OUT_MESSAGE,
            }
        )


class InvalidParams(ApiError):
    """400 invalid-params with a short description of what is wrong."""

    ERROR_TYPE = "invalid-params"

    def __init__(self, what: str) -> None:
        super().__init__(envelope(_tagged(what, self.ERROR_TYPE), self.ERROR_TYPE))


class InvalidSort(ApiError):
    """400 error-invalid-sort (sort is not a JSON object of 1/-1 values)."""

    ERROR_TYPE = "error-invalid-sort"

    def __init__(self, raw: str) -> None:
        super().__init__(
            envelope(
                _tagged(f'Invalid sort parameter provided: "{raw}"', self.ERROR_TYPE),
                self.ERROR_TYPE,
                {"helperMethod": "parseJsonQuery"},
            )
        )


class InvalidSortKeys(ApiError):
    """400 error-invalid-sort-keys (a key outside the allowed list)."""

    ERROR_TYPE = "error-invalid-sort-keys"

    def __init__(self) -> None:
        super().__init__(envelope(self.ERROR_TYPE, self.ERROR_TYPE))


class Forbidden(ApiError):
    """403: the caller lacks the permission."""

    status = 403

    def __init__(self) -> None:
        # The tag is in the text only: this body has no errorType.
        super().__init__(
            envelope(
                _tagged(
                    "User does not have the permissions required for this action",
                    "error-unauthorized",
                )
            )
        )


class NotFound(ApiError):
    """404 with Rocket.Chat's message."""

    status = 404

    def __init__(self, message: str = "Session not found") -> None:
        super().__init__(envelope(message))


class TwoFactorError(ApiError):
    """400 totp-required / totp-invalid / totp-max-attempts for API calls."""

    def __init__(self, error_type: ErrorType, method: str, available: list[str]) -> None:
        self.error_type = error_type
        super().__init__(
            envelope(
                _tagged(TWO_FACTOR_MESSAGES[error_type], error_type),
                error_type,
                two_factor_details(method, available),
            )
        )


class SecretKeyWrong(ApiError):
    """500 error-secret-key: a stored TOTP secret decrypts with none of the configured keys."""

    status = 500
    ERROR_TYPE = "error-secret-key"

    def __init__(self) -> None:
        super().__init__(
            envelope(
                _tagged(
                    "Two-factor secret cannot be read; the server's SESSIONS_SECRET_KEY is wrong",
                    self.ERROR_TYPE,
                ),
                self.ERROR_TYPE,
            )
        )


LOGIN_BLOCKED = {
    throttle.USER: ("error-login-blocked-for-user", "Login has been temporarily blocked For User"),
    throttle.IP: ("error-login-blocked-for-ip", "Login has been temporarily blocked For IP"),
}


class LoginFailed(ApiError):
    """401 from POST /login, in Rocket.Chat's login envelope."""

    status = 401

    def __init__(
        self,
        error: str = "Unauthorized",
        message: str = "Unauthorized",
        details: dict[str, Any] | None = None,
    ) -> None:
        body: dict[str, Any] = {"status": "error", "error": error, "message": message}
        if details is not None:
            body["details"] = details
        super().__init__(body)

    @classmethod
    def blocked(cls, scope: str) -> LoginFailed:
        """The refusal of a login whose name or IP (``scope``, throttle.USER/IP) is blocked."""
        return cls(*LOGIN_BLOCKED[scope])

    @classmethod
    def two_factor(cls, error_type: ErrorType) -> LoginFailed:
        """A login's refused TOTP code (a login code is always checked as TOTP)."""
        details = two_factor_details("totp", ["totp"])
        return cls(error_type, TWO_FACTOR_MESSAGES[error_type], details)


class TooManyRequests(ApiError):
    """429 error-too-many-requests (Rocket.Chat's rate-limit errorType): the caller already
    runs SESSIONS_FILTER_MAX_CONCURRENT filtered queries."""

    status = 429
    ERROR_TYPE = "error-too-many-requests"

    def __init__(self) -> None:
        super().__init__(
            envelope(
                _tagged("Too many filtered requests at once", self.ERROR_TYPE), self.ERROR_TYPE
            )
        )


class ServiceUnavailable(ApiError):
    """503 when the database cannot be reached in time."""

    status = 503

    def __init__(self) -> None:
        super().__init__(envelope("Service unavailable"))


_HTTP_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
    413: "Request entity too large",
}


def _json(body: dict[str, Any], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _handle_api_error(exc: ApiError) -> Response:
    return _json(exc.body, exc.status)


def _handle_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    message = _HTTP_MESSAGES.get(status, exc.name)
    response = _json(envelope(message), status)
    if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return response


def _handle_db_error(exc: sa.exc.SQLAlchemyError) -> Response:
    if isinstance(exc, sa.exc.DataError) and is_invalid_regex_error(exc):
        return _handle_api_error(InvalidParams("filter is not a valid regular expression"))
    if is_missing_schema_error(exc):
        log.error("the database schema is missing or behind; run: sessions-service db upgrade")
        return _handle_api_error(ServiceUnavailable())
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
        log.warning("database unavailable: %s", type(exc.orig if hasattr(exc, "orig") else exc))
        return _handle_api_error(ServiceUnavailable())
    return _handle_unexpected(exc)


def _handle_unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _handle_http(exc)
    log.exception("unhandled error")
    return _json(envelope("Internal server error"), 500)


def register_error_handlers(app: Flask) -> None:
    """Route every exception to one JSON shape."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(sa.exc.SQLAlchemyError, _handle_db_error)
    app.register_error_handler(Exception, _handle_unexpected)
