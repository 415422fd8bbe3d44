"""One identity per name (issue 9, finding 6).

The rules themselves (identity.py, pure), then the other ways an identifier enters: the
importer and login lookup. The CLI's one-line errors for each hostile name are in test_cli.py.
"""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sessions_service.core.identity import IdentityError, fold, normalize_email, normalize_username

from .bodies import LOGIN_FAILED
from .conftest import LOGIN, Helpers
from .importing import run_import


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("funke.olasupo", "funke.olasupo"),
        ("user-0", "user-0"),
        ("rocket.agent", "rocket.agent"),
        ("Boss_2", "Boss_2"),
        (" alice ", "alice"),
        ("ａｄｍｉｎ", "admin"),
    ],
    ids=["dotted", "dashed", "rocket-agent", "mixed-case", "padded", "full-width"],
)
def test_usernames_accepted(raw: str, stored: str) -> None:
    assert normalize_username(raw) == stored


@pytest.mark.parametrize(
    "raw",
    ["ADMİN", "admin\u200b", "аdmin", "a\nb", "\x01", "ceo@corp.com", "", "x" * 256, "\ufeffa"],
    ids=["dotted-i", "zwsp", "cyrillic", "newline", "x01", "email", "empty", "too-long", "bom"],
)
def test_usernames_refused(raw: str) -> None:
    with pytest.raises(IdentityError):
        normalize_username(raw)


def test_the_pattern_is_the_operators() -> None:
    assert normalize_username("ceo@corp.com", "[a-z.@]+") == "ceo@corp.com"
    with pytest.raises(IdentityError) as caught:
        normalize_username("Ceo", "[a-z]+")
    assert str(caught.value) == (
        "username 'Ceo' is not allowed: it must match [a-z]+ (SESSIONS_USERNAME_PATTERN)"
    )
    # Invisible characters are refused whatever the pattern allows.
    with pytest.raises(IdentityError):
        normalize_username("a\u200bb", ".+")


def test_emails_and_usernames_fold_to_one_key() -> None:
    assert fold("ＡＤＭＩＮ") == fold("admin") == "admin"
    assert fold(normalize_email(" CEO@Corp.COM ")) == "ceo@corp.com"
    assert fold("Straße") == fold("STRASSE")


# --- the importer ----------------------------------------------------------------------------


def _doc(session_id: str, user_id: str, username: str) -> str:
    return json.dumps(
        {
            "sessionId": session_id,
            "userId": user_id,
            "loginAt": "2026-01-01T00:00:00Z",
            "_user": {"username": username},
        }
    )


def test_the_importer_creates_users_under_the_same_rules(app: Flask, helpers: Helpers) -> None:
    helpers.user("ceo", email="ceo@corp.com")
    lines = [
        _doc("s1", "u1AAAAAAAAAAAAAAA", "funke.olasupo"),
        _doc("s2", "u2AAAAAAAAAAAAAAA", "a\u200bdmin"),
        _doc("s3", "u3AAAAAAAAAAAAAAA", "аdmin"),
        _doc("s4", "u4AAAAAAAAAAAAAAA", "ＲＯＯＴ"),
        _doc("s5", "u5AAAAAAAAAAAAAAA", "CEO@corp.com"),
    ]
    summary = run_import(app, lines)
    assert [(r.line, r.reason) for r in summary.rejections] == [
        (2, "_user.username 'a\\u200bdmin' contains an invisible or control character (U+200B)"),
        (
            3,
            "_user.username 'аdmin' is not allowed: it must match [0-9a-zA-Z-_.]+ "
            "(SESSIONS_USERNAME_PATTERN)",
        ),
        (
            5,
            "_user.username 'CEO@corp.com' is not allowed: it must match [0-9a-zA-Z-_.]+ "
            "(SESSIONS_USERNAME_PATTERN)",
        ),
    ]
    rows = helpers.sql("SELECT username, username_key FROM users ORDER BY username_key")
    assert [tuple(r) for r in rows] == [
        ("ceo", "ceo"),
        ("funke.olasupo", "funke.olasupo"),
        ("ROOT", "root"),
    ]


def test_an_imported_username_may_not_be_someones_email(app: Flask, helpers: Helpers) -> None:
    helpers.user("ceo", email="boss@corp.com")
    summary = run_import(
        app,
        [_doc("s1", "u1AAAAAAAAAAAAAAA", "BOSS@corp.com")],
        username_pattern="[0-9a-zA-Z-_.@]+",
    )
    assert [(r.line, r.reason) for r in summary.rejections] == [
        (1, "_user.username 'BOSS@corp.com' belongs to another user")
    ]


# --- login lookup ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("submitted", "status"),
    [
        ("ＡＤＭＩＮ", 200),
        ("ａｄｍｉｎ＠ｃｏｒｐ．ｃｏｍ", 200),
        ("admin\u200b", 401),
        ("\u200badmin", 401),
        ("admin\x01", 401),
    ],
    ids=["full-width", "full-width-email", "zero-width-space", "leading-zwsp", "control"],
)
def test_login_names_are_normalised_the_same_way(
    client: FlaskClient, helpers: Helpers, submitted: str, status: int
) -> None:
    account = helpers.user("admin", email="admin@corp.com")
    response = client.post(LOGIN, json={"user": submitted, "password": account.password})
    assert response.status_code == status, response.get_json()
    if status == 401:
        assert response.get_json() == LOGIN_FAILED
