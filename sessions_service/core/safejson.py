"""JSON from untrusted input: nesting bounded before parsing, lone surrogates found.

``json.loads`` recurses once per nesting level, so a few KB of ``[`` raise RecursionError
(a 500, or an aborted import). The depth is counted first, in one linear pass without
recursion. A JSON escape like ``"\\ud800"`` decodes to a lone surrogate, a ``str`` that
cannot be encoded (to UTF-8, a database or a hash) — ``lone_surrogate_at`` says where one is.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32

# A JSON string (escapes included); what is left outside strings holds the structure.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class TooDeep(ValueError):
    """The JSON text nests arrays/objects deeper than allowed (refused before parsing)."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"nested deeper than {max_depth} levels")


def exceeds_depth(raw: str | bytes, max_depth: int) -> bool:
    """True when ``raw`` opens more than ``max_depth`` arrays/objects inside one another."""
    # Quotes, backslashes and brackets are ASCII, so latin-1 (which decodes any bytes) keeps
    # the structure of bytes that are not UTF-8 too; json.loads judges the encoding later.
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    if text.count("[") + text.count("{") <= max_depth:
        return False  # the usual case, without a pass in Python
    depth = 0
    for match in _BRACKETS.finditer(_STRING.sub("", text)):
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        if depth > max_depth:
            return True
    return False


def loads(raw: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, raising TooDeep (a ValueError) first when nesting exceeds max_depth."""
    if exceeds_depth(raw, max_depth):
        raise TooDeep(max_depth)
    return json.loads(raw)


def _has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _shown(key: str) -> str:
    # A key that holds the surrogate is named with it escaped, so the message is valid text.
    return key.encode("ascii", "backslashreplace").decode() if _has_lone_surrogate(key) else key


def lone_surrogate_at(value: Any) -> str | None:
    """The path (``user``, ``device.os.name``, ``ids[2]``) of the first string or key holding
    a lone surrogate in a parsed JSON value; None when there is none."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _has_lone_surrogate(item):
                return path or "value"
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                child_path = f"{path}.{_shown(key)}" if path else _shown(key)
                if _has_lone_surrogate(key):
                    return child_path
                children.append((child_path, child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(f"{path}[{i}]", child) for i, child in enumerate(item)]))
    return None
