"""How much work a ``filter`` pattern may ask of the regex engines, decided before it runs.

RE2 is linear in the input, but PostgreSQL's engine expands counted repetitions into copies
of their operand, so nesting them multiplies its work: ``(((.*){0,9}){0,9}){0,9}x`` takes
seconds per thousand rows there. Two static limits stop such patterns with a 400:

- the compiled RE2 program (case-insensitive, as it runs) is at most ``MAX_PROGRAM_SIZE``
  instructions (a 256-character literal is about 260);
- a counted repetition ``{m,n}`` (bound ≥ 2) never sits inside an unbounded one (``*``, ``+``,
  ``{m,}``), and where repetitions nest inside a counted one, the product of the counted
  bounds along the nesting is at most ``MAX_NESTED_PRODUCT`` (``(\\d{1,3}\\.){3}`` is 9).

``?``, ``{0,1}`` and ``{1}`` are no repetition here. Unbounded repetitions nested in each other
(``(a+)+``) are allowed: both engines handle them without blowing up. Whatever passes, the
runtime budget (``db.bounded_filter``) still bounds the work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PROGRAM_SIZE = 1000
MAX_NESTED_PRODUCT = 10

_COUNTED = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")
_QUANTIFIERS = {"*": (0, None), "+": (1, None), "?": (0, 1)}


class PatternTooComplex(ValueError):
    """The pattern would ask too much of a regex engine; the message says why."""


@dataclass(frozen=True)
class _Reps:
    """The repetitions inside one piece of a pattern."""

    any: bool = False  # some repetition at all
    counted: bool = False  # some counted repetition with a bound of 2 or more
    product: int = 1  # the largest product of counted bounds along one nesting

    def __or__(self, other: _Reps) -> _Reps:
        return _Reps(
            self.any or other.any, self.counted or other.counted, max(self.product, other.product)
        )


_NONE = _Reps()


def _repeat(inner: _Reps, low: int, high: int | None) -> _Reps:
    """``inner`` repeated ``low`` to ``high`` (None: unbounded) times."""
    if high is not None and high <= 1:
        return inner
    bound = high if high is not None else low
    counted = bound >= 2
    if high is None and inner.counted:
        raise PatternTooComplex("nested repetition")
    product = inner.product * (bound if counted else 1)
    if counted and inner.any and product > MAX_NESTED_PRODUCT:
        raise PatternTooComplex("nested repetition")
    return _Reps(True, inner.counted or counted, product)


def _skip_escape(pattern: str, i: int) -> int:
    """The index after the escape at ``i`` (``\\Q...\\E`` included)."""
    kind = pattern[i + 1 : i + 2]
    if kind == "Q":
        end = pattern.find("\\E", i + 2)
        return len(pattern) if end < 0 else end + 2
    if kind in ("p", "P", "x") and pattern[i + 2 : i + 3] == "{":
        end = pattern.find("}", i + 3)
        return len(pattern) if end < 0 else end + 1
    if kind in ("p", "P"):
        return i + 3
    if kind == "x":
        return i + 4
    return i + 2


def _skip_class(pattern: str, i: int) -> int:
    """The index after the character class that opens at ``i``."""
    i += 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":  # a leading ] is a literal
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i = _skip_escape(pattern, i)
        elif pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            i = len(pattern) if end < 0 else end + 2
        elif pattern[i] == "]":
            return i + 1
        else:
            i += 1
    return i


def _check_nesting(pattern: str) -> None:
    """Raise PatternTooComplex for nested counted repetition (see the module doc)."""
    # One frame per open group: [repetitions of its finished pieces, its last piece].
    stack: list[list[_Reps | None]] = [[_NONE, None]]

    def piece(reps: _Reps) -> None:
        frame = stack[-1]
        frame[0] = _merge(frame[0], frame[1])
        frame[1] = reps

    i = 0
    while i < len(pattern):
        char = pattern[i]
        low: int
        high: int | None
        if char == "\\":
            i = _skip_escape(pattern, i)
            piece(_NONE)
            continue
        if char == "[":
            i = _skip_class(pattern, i)
            piece(_NONE)
            continue
        if char == "(":
            i += 1
            if pattern.startswith("?", i):
                if pattern.startswith(("?P<", "?<"), i):
                    i = pattern.find(">", i) + 1 or len(pattern)
                else:
                    while i < len(pattern) and pattern[i] not in ":)":
                        i += 1
                    if pattern[i : i + 1] == ")":  # (?i): a flag, not a group
                        i += 1
                        continue
                    i += 1
            stack.append([_NONE, None])
            continue
        if char == ")":
            i += 1
            if len(stack) > 1:
                done, last = stack.pop()
                piece(_merge(done, last))
            continue
        if char == "|":
            frame = stack[-1]
            frame[0], frame[1] = _merge(frame[0], frame[1]), None
            i += 1
            continue
        counted = _COUNTED.match(pattern, i) if char == "{" else None
        if char in _QUANTIFIERS:
            low, high = _QUANTIFIERS[char]
            i += 1
        elif counted is not None:
            low = int(counted[1])
            high = low if counted[2] is None else (int(counted[3]) if counted[3] else None)
            i = counted.end()
        else:
            piece(_NONE)
            i += 1
            continue
        frame = stack[-1]
        if frame[1] is not None:
            frame[1] = _repeat(frame[1], low, high)
        if pattern.startswith("?", i):  # a lazy quantifier, not another repetition
            i += 1


def _merge(done: _Reps | None, last: _Reps | None) -> _Reps:
    return (done or _NONE) | (last or _NONE)


def check_complexity(pattern: str, program_size: int) -> None:
    """Raise PatternTooComplex when the pattern (RE2-valid, compiled to ``program_size``
    instructions) would ask too much of a regex engine."""
    _check_nesting(pattern)
    if program_size > MAX_PROGRAM_SIZE:
        raise PatternTooComplex(f"compiled size over {MAX_PROGRAM_SIZE}")
