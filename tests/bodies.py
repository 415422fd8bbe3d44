"""Expected bodies of the SPEC, written out once for every test module that checks them.

Plain constants, and small functions where a body varies with one value (the two-factor
method, the rejected sort). Tests compare with ``==`` and never change these objects.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# --- formats --------------------------------------------------------------------------

ID_RE = re.compile(r"^[23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz]{17}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LIST_ENVELOPE = ["sessions", "total", "count", "offset", "success"]
SESSION_KEYS = {"sessionId", "userId", "device", "host", "ip", "loginAt", "_user", "_id"}


def iso(value: datetime) -> str:
    """The API's timestamp format, written out independently of the service."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S") + f".{value.microsecond // 1000:03d}Z"


# --- authentication, permission, lookup (SPEC §2, §4) ---------------------------------

LOGGED_OUT = {
    "success": False,
    "status": "error",
    "message": "You must be logged in to do this.",
    "error": "You must be logged in to do this.",
}
FORBIDDEN = {
    "success": False,
    "error": "User does not have the permissions required for this action [error-unauthorized]",
}
NOT_FOUND = {"success": False, "error": "Session not found"}
UNAVAILABLE = {"success": False, "error": "Service unavailable"}
SECRET_KEY_WRONG = {
    "success": False,
    "error": "Two-factor secret cannot be read; "
    "the server's SESSIONS_SECRET_KEY is wrong [error-secret-key]",
    "errorType": "error-secret-key",
}
TOO_LARGE = {"success": False, "error": "Request entity too large"}

# --- login and logout -----------------------------------------------------------------

LOGIN_FAILED = {"status": "error", "error": "Unauthorized", "message": "Unauthorized"}
LOGOUT_DONE = {"status": "success", "data": {"message": "You've been logged out!"}}
LOGIN_BLOCKED_FOR_USER = {
    "status": "error",
    "error": "error-login-blocked-for-user",
    "message": "Login has been temporarily blocked For User",
}
LOGIN_BLOCKED_FOR_IP = {
    "status": "error",
    "error": "error-login-blocked-for-ip",
    "message": "Login has been temporarily blocked For IP",
}

# --- two-factor (SPEC §3) -------------------------------------------------------------


def two_factor_details(method: str = "totp") -> dict[str, Any]:
    return {"method": method, "codeGenerated": False, "availableMethods": [method]}


def totp_required(method: str = "totp") -> dict[str, Any]:
    """The 400 of an endpoint when no code was sent."""
    return {
        "success": False,
        "error": "TOTP Required [totp-required]",
        "errorType": "totp-required",
        "details": two_factor_details(method),
    }


def totp_invalid(method: str = "totp") -> dict[str, Any]:
    """The 400 of an endpoint when the code is wrong or already used."""
    return {
        "success": False,
        "error": "TOTP Invalid [totp-invalid]",
        "errorType": "totp-invalid",
        "details": two_factor_details(method),
    }


TOTP_REQUIRED = totp_required()
TOTP_INVALID = totp_invalid()
TOTP_MAX_ATTEMPTS_ERROR = "TOTP Maximun Failed Attempts Reached [totp-max-attempts]"
TOTP_MAX = {
    "success": False,
    "error": TOTP_MAX_ATTEMPTS_ERROR,
    "errorType": "totp-max-attempts",
    "details": two_factor_details(),
}
LOGIN_TOTP_REQUIRED = {
    "status": "error",
    "error": "totp-required",
    "message": "TOTP Required",
    "details": two_factor_details(),
}
LOGIN_TOTP_INVALID = {
    "status": "error",
    "error": "totp-invalid",
    "message": "TOTP Invalid",
    "details": two_factor_details(),
}
LOGIN_TOTP_MAX = {
    "status": "error",
    "error": "totp-max-attempts",
    "message": "TOTP Maximun Failed Attempts Reached",
    "details": two_factor_details(),
}

# --- list parameters ------------------------------------------------------------------


def invalid_sort(raw: str) -> dict[str, Any]:
    """The 400 for a sort parameter that is not a JSON object of 1/-1 values."""
    return {
        "success": False,
        "error": f'Invalid sort parameter provided: "{raw}" [error-invalid-sort]',
        "errorType": "error-invalid-sort",
        "details": {"helperMethod": "parseJsonQuery"},
    }


INVALID_SORT_KEYS = {
    "success": False,
    "error": "error-invalid-sort-keys",
    "errorType": "error-invalid-sort-keys",
}

# --- devices (User-Agents of conftest) ------------------------------------------------

CHROME_113_DEVICE = {
    "type": "browser",
    "name": "Chrome",
    "longVersion": "113.0.0.0",
    "os": {"name": "Windows", "version": "10"},
    "version": "113.0.0",
}
FIREFOX_112_DEVICE = {
    "type": "browser",
    "name": "Firefox",
    "longVersion": "112.0",
    "os": {"name": "Windows", "version": "10"},
    "version": "112.0",
}
