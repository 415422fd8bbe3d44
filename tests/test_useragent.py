"""Device details from a User-Agent header (SPEC §5), table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from sessions_service.core.useragent import parse_user_agent

CHROME_113_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/113.0.0.0 Safari/537.36"
)
FIREFOX_112_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/112.0"
)
DESKTOP_APP_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Rocket.Chat/3.9.4 Chrome/112.0.5615.165 Electron/24.4.0 Safari/537.36"
)
DESKTOP_APP_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Rocket.Chat/4.1.2 Chrome/120.0.6099.291 Electron/28.2.3 Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.5 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/113.0.5672.76 Mobile Safari/537.36"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.5 Safari/605.1.15"
)


def device(
    kind: str, name: str, long_version: str, os_name: str, os_version: str, version: str
) -> dict[str, Any]:
    """A device in the API's shape."""
    return {
        "type": kind,
        "name": name,
        "longVersion": long_version,
        "os": {"name": os_name, "version": os_version},
        "version": version,
    }


def as_api(parsed: Any) -> dict[str, Any]:
    """The parser's result in the API's shape, so the table reads like the seed page."""
    return device(
        parsed.type,
        parsed.name,
        parsed.long_version,
        parsed.os.name,
        parsed.os.version,
        parsed.version,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            CHROME_113_WINDOWS,
            device("browser", "Chrome", "113.0.0.0", "Windows", "10", "113.0.0"),
        ),
        (FIREFOX_112_WINDOWS, device("browser", "Firefox", "112.0", "Windows", "10", "112.0")),
        (
            "RC Mobile; iOS 16.5; v4.39.0 (1234)",
            device("mobile-app", "RC Mobile", "4.39.0 1234", "iOS", "16.5", "4.39.0"),
        ),
        (
            "RC Mobile; Android 13; v4.39.0 (52045)",
            device("mobile-app", "RC Mobile", "4.39.0 52045", "Android", "13", "4.39.0"),
        ),
        (
            DESKTOP_APP_WINDOWS,
            device("desktop-app", "Rocket.Chat", "3.9.4", "Windows", "10", "3.9.4"),
        ),
        (
            DESKTOP_APP_MAC,
            device("desktop-app", "Rocket.Chat", "4.1.2", "Mac OS X", "10.15.7", "4.1.2"),
        ),
        (IPHONE_SAFARI, device("mobile", "Mobile Safari", "16.5", "iOS", "16.5", "16.5")),
        (
            ANDROID_CHROME,
            device("mobile", "Chrome Mobile", "113.0.5672.76", "Android", "13", "113.0.5672"),
        ),
        (MAC_SAFARI, device("browser", "Safari", "16.5", "Mac OS X", "10.15.7", "16.5")),
        ("garbage", device("other", "", "", "", "", "")),
        ("xyz123 %%% ???", device("other", "", "", "", "", "")),
    ],
    ids=[
        "seed-chrome-113-windows-10",
        "seed-firefox-112-windows-10",
        "rc-mobile-ios",
        "rc-mobile-android",
        "desktop-app-windows",
        "desktop-app-mac",
        "iphone-mobile-safari",
        "android-chrome",
        "mac-safari",
        "garbage-word",
        "garbage-symbols",
    ],
)
def test_parse_user_agent(raw: str, expected: dict[str, Any]) -> None:
    parsed = parse_user_agent(raw)
    assert parsed is not None
    assert as_api(parsed) == expected


@pytest.mark.parametrize("raw", ["", None], ids=["empty", "none"])
def test_no_user_agent_means_no_device(raw: str | None) -> None:
    assert parse_user_agent(raw) is None


@pytest.mark.parametrize(
    ("raw", "family", "long_version_prefix"),
    [
        ("python-requests/2.31.0", "Python Requests", "2.31"),
        ("curl/8.1.2", "curl", "8.1.2"),
    ],
    ids=["python-requests", "curl"],
)
def test_known_non_browser_families_are_browsers(
    raw: str, family: str, long_version_prefix: str
) -> None:
    parsed = parse_user_agent(raw)
    assert parsed is not None
    assert parsed.type == "browser"
    assert parsed.name == family
    assert parsed.long_version.startswith(long_version_prefix)
    assert parsed.version == parsed.long_version[: len(parsed.version)]
    assert (parsed.os.name, parsed.os.version) == ("", "")


@pytest.mark.parametrize(
    ("raw", "long_version", "version"),
    [
        ("RC Mobile; iOS 17.0.1; v4.44.2 (999)", "4.44.2 999", "4.44.2"),
        ("RC Mobile; Android 14; v4.40.0.1 (7)", "4.40.0.1 7", "4.40.0"),
    ],
    ids=["three-part", "four-part-version-shortened"],
)
def test_mobile_app_version_is_first_three_parts(raw: str, long_version: str, version: str) -> None:
    parsed = parse_user_agent(raw)
    assert parsed is not None
    assert (parsed.type, parsed.long_version, parsed.version) == (
        "mobile-app",
        long_version,
        version,
    )
