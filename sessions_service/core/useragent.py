"""Device details from a User-Agent header, as Rocket.Chat derives them (SPEC §5)."""

from __future__ import annotations

import re
from typing import Any

import ua_parser

from sessions_service.data.models import Device, OperatingSystem

_VERSION = re.compile(r"\d+(?:\.\d+){0,2}")
_DESKTOP_APP = re.compile(r"Rocket\.Chat/(\d+(?:\.\d+)+)")
MOBILE_APP_NAME = "RC Mobile"


def _join(*parts: str | None) -> str:
    """Version parts joined with dots, stopping at the first missing one."""
    out: list[str] = []
    for part in parts:
        if part is None:
            break
        out.append(part)
    return ".".join(out)


def _short_version(long_version: str) -> str:
    match = _VERSION.search(long_version)
    return match.group(0) if match else ""


def _digits_and_dots(value: str) -> str:
    return re.sub(r"[^0-9.]", "", value)


def _mobile_app(raw: str) -> Device:
    """``RC Mobile; <os> <osVersion>; v<version> (<build>)``, split as Rocket.Chat does."""
    parts = [p.strip() for p in raw.split(";")]
    os_name = os_version = long_version = ""
    if len(parts) > 1 and parts[1]:
        os_bits = parts[1].split(" ")
        os_name = os_bits[0]
        os_version = os_bits[1] if len(os_bits) > 1 else ""
    if len(parts) > 2 and parts[2]:
        app_bits = parts[2].split(" ")
        long_version = _digits_and_dots(app_bits[0])
        if len(app_bits) > 1 and _digits_and_dots(app_bits[1]):
            long_version += " " + _digits_and_dots(app_bits[1])
    os = OperatingSystem(os_name, os_version)
    return Device("mobile-app", MOBILE_APP_NAME, long_version, os, _short_version(long_version))


def parse_user_agent(raw: str | None) -> Device | None:
    """Parse a User-Agent; None when there is none."""
    if not raw:
        return None
    if raw.split(";", 1)[0].strip() == MOBILE_APP_NAME:
        return _mobile_app(raw)
    result = ua_parser.parse(raw)
    os = OperatingSystem("", "")
    if result.os is not None:
        parts = (result.os.major, result.os.minor, result.os.patch, result.os.patch_minor)
        os = OperatingSystem(result.os.family, _join(*parts))
    if " Electron/" in raw:
        app = _DESKTOP_APP.search(raw)
        name, long_version = ("Rocket.Chat", app.group(1)) if app else ("", "")
        return Device("desktop-app", name, long_version, os, _short_version(long_version))
    agent = result.user_agent
    if agent is None or agent.family == "Other":
        return Device("other", "", "", os, "")
    long_version = _join(agent.major, agent.minor, agent.patch, agent.patch_minor)
    kind = "mobile" if os.name in ("iOS", "Android") else "browser"
    return Device(kind, agent.family, long_version, os, _short_version(long_version))


def device_document(device: Device) -> dict[str, Any]:
    """The device as Rocket.Chat's session documents (and the API) show it."""
    return {
        "type": device.type,
        "name": device.name,
        "longVersion": device.long_version,
        "os": {"name": device.os.name, "version": device.os.version},
        "version": device.version,
    }
