"""The client's IP address behind a known number of trusted proxies (SPEC §6)."""

from __future__ import annotations

import ipaddress
from typing import Protocol


def valid_ip(value: str | None) -> str | None:
    """``value`` as an IP address in its normal form (an IPv6 zone id dropped); None if it is
    not one."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        # A zone id (fe80::1%eth0) names an interface of the sender's host: meaningless here,
        # any text at all to ipaddress, and it would make the value longer than the column.
        address = ipaddress.IPv6Address(address.packed)
    return str(address)


class HeaderSource(Protocol):
    """Request headers by name: a dict, or a web framework's headers object."""

    def get(self, key: str, default: str, /) -> str:
        """The header's value, or ``default`` when it was not sent."""
        ...


def client_ip(headers: HeaderSource, remote_addr: str | None, forwarded_count: int) -> str:
    """The N-th X-Forwarded-For address from the right, else X-Real-IP, else the socket.

    Returns "" when the chosen value is not an IP address: such a value is never stored.
    """
    if forwarded_count > 0:
        forwarded = [p.strip() for p in headers.get("X-Forwarded-For", "").split(",") if p.strip()]
        if len(forwarded) >= forwarded_count:
            return valid_ip(forwarded[-forwarded_count]) or ""
        real_ip = headers.get("X-Real-IP", "")
        if real_ip:
            return valid_ip(real_ip) or ""
    return valid_ip(remote_addr) or ""
