"""One identity per name: the rules every username and email passes before it is stored or
looked up (the CLI, the demo, the importer and login all come through here).

- Usernames are NFKC-normalised (full-width ``ａｄｍｉｎ`` is ``admin``) and must then match
  ``SESSIONS_USERNAME_PATTERN`` whole (default Rocket.Chat's ``[0-9a-zA-Z-_.]+``).
- Emails: one ``@`` with text on both sides, no whitespace.
- Control, format (zero-width, bidi) and other invisible characters are refused in both.
- Usernames and emails share one namespace of case-folded keys (``fold``): a username may not
  equal someone's email and the reverse (``accounts.create_user`` enforces it).

Flask-free and database-free (only the column lengths come from the models), so every entry
point can use the same rules.
"""

from __future__ import annotations

import unicodedata

from sessions_service.config import USERNAME_PATTERN, compile_username_pattern
from sessions_service.data.models import EMAIL_MAX, USERNAME_MAX

# Letters and symbols that render as nothing (NFKC keeps them): Hangul fillers, the Mongolian
# vowel separator, the Braille blank. Categories Cc/Cf/Co/Cs/Cn/Zl/Zp are refused by category.
_INVISIBLE = frozenset("\u115f\u1160\u180e\u2800\u3164\uffa0")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
_SHOWN = 64  # characters of a refused value echoed in an error


class IdentityError(ValueError):
    """A username or email breaks the identity rules; the message says which rule."""


def _shown(value: str) -> str:
    """The value as a quoted, escaped, one-line literal (control characters made visible)."""
    text = repr(value[:_SHOWN])
    return text + "…" if len(value) > _SHOWN else text


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value)


def fold(value: str) -> str:
    """The case-insensitive key of a username or email (NFKC case folding)."""
    return _nfkc(_nfkc(value.strip()).casefold())


def invisible_character(value: str) -> str | None:
    """The first control or invisible character in ``value`` as ``U+XXXX`` (None: none)."""
    for char in value:
        if char in _INVISIBLE or unicodedata.category(char) in _REFUSED_CATEGORIES:
            return f"U+{ord(char):04X}"
    return None


def _check_visible(value: str, field: str) -> None:
    found = invisible_character(value)
    if found is not None:
        raise IdentityError(
            f"{field} {_shown(value)} contains an invisible or control character ({found})"
        )


def normalize_username(
    raw: str, pattern: str = USERNAME_PATTERN, *, field: str = "username"
) -> str:
    """The username to store (NFKC, trimmed); raises IdentityError when a rule refuses it."""
    _check_visible(raw, field)
    username = _nfkc(raw).strip()
    if not username:
        raise IdentityError(f"{field} must not be empty")
    _check_visible(username, field)  # NFKC can turn visible text into invisible text
    if len(username) > USERNAME_MAX or len(fold(username)) > USERNAME_MAX:
        raise IdentityError(f"{field} is longer than {USERNAME_MAX} characters")
    if compile_username_pattern(pattern).fullmatch(username) is None:
        raise IdentityError(
            f"{field} {_shown(username)} is not allowed: it must match {pattern} "
            "(SESSIONS_USERNAME_PATTERN)"
        )
    return username


def normalize_email(raw: str, *, field: str = "email") -> str:
    """The email to store (NFKC, trimmed); raises IdentityError unless it looks like one."""
    _check_visible(raw, field)
    email = _nfkc(raw).strip()
    _check_visible(email, field)
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain or any(c.isspace() for c in email):
        raise IdentityError(
            f"{field} {_shown(email)} is not an email address "
            "(one @ with text on both sides, no spaces)"
        )
    if len(email) > EMAIL_MAX or len(fold(email)) > EMAIL_MAX:
        raise IdentityError(f"{field} is longer than {EMAIL_MAX} characters")
    return email


def login_key(submitted: str) -> str | None:
    """The key a login name is looked up by (None: it can name nobody — it is invisible-laden)."""
    if invisible_character(submitted) is not None:
        return None
    key = fold(submitted)
    return key if key and invisible_character(key) is None else None
