"""The current request's client IP (SPEC §6; the parsing is core.clientip's)."""

from __future__ import annotations

from flask import request

from sessions_service.core.clientip import client_ip
from sessions_service.state import settings_of


def request_ip() -> str:
    """The current request's client IP by SPEC §6 ("" when unknown)."""
    return client_ip(request.headers, request.remote_addr, settings_of().forwarded_count)
