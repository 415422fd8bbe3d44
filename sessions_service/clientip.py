"""The client's IP address behind a known number of trusted proxies (SPEC §6)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from flask import current_app, request
from werkzeug.datastructures import Headers


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(
    headers: Mapping[str, str] | Headers, remote_addr: str | None, forwarded_count: int
) -> str:
    """The N-th X-Forwarded-For address from the right, else X-Real-IP, else the socket.

    Returns "" when the chosen value is not an IP address: such a value is never stored.
    """
    if forwarded_count > 0:
        forwarded = [p.strip() for p in headers.get("X-Forwarded-For", "").split(",") if p.strip()]
        if len(forwarded) >= forwarded_count:
            return _valid_ip(forwarded[-forwarded_count]) or ""
        real_ip = headers.get("X-Real-IP")
        if real_ip:
            return _valid_ip(real_ip) or ""
    return _valid_ip(remote_addr) or ""


def request_ip() -> str:
    """The current request's client IP by SPEC §6 ("" when unknown)."""
    count: int = current_app.config["SETTINGS"].forwarded_count
    return client_ip(request.headers, request.remote_addr, count)
