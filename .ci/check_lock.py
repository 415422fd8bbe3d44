"""CI: requirements.lock agrees with pyproject.toml, and this environment is exactly the lock.

1. ``uv pip compile`` over a copy of the lock keeps every pin that still satisfies
   pyproject.toml (no upgrades), so any difference means pyproject.toml changed without the lock.
2. Every installed distribution (but pip and the project itself) is pinned, at that version.

Run with the project's venv: ``.venv/bin/python .ci/check_lock.py``.
"""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ \\;]+)")
NOT_PINNED = {"pip", "sessions-service"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _body(text: str) -> list[str]:
    """The lock without its header comment (which names the output path)."""
    lines = text.splitlines()
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return lines


def lock_matches_pyproject() -> list[str]:
    """The diff between the lock and a fresh compile that keeps its pins (empty: they agree)."""
    uv = Path(sys.executable).parent / "uv"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "requirements.lock"
        shutil.copyfile(LOCK, out)
        subprocess.run(
            [str(uv), "pip", "compile", "--quiet", "pyproject.toml", "-o", str(out)],
            cwd=ROOT,
            check=True,
        )
        fresh = _body(out.read_text())
    return list(
        difflib.unified_diff(_body(LOCK.read_text()), fresh, "lock", "compiled", lineterm="")
    )


def environment_matches_lock() -> list[str]:
    """What is installed but not pinned, or at another version (empty: it is the lock)."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[_normal(match[1])] = match[2]
    installed = {_normal(d.metadata["Name"]): d.version for d in metadata.distributions()}
    problems = []
    for name, version in sorted(installed.items()):
        if name in NOT_PINNED:
            continue
        if name not in pins:
            problems.append(f"installed but not in the lock: {name}=={version}")
        elif pins[name] != version:
            problems.append(f"{name}: installed {version}, locked {pins[name]}")
    problems += [
        f"locked but not installed: {n}=={v}" for n, v in pins.items() if n not in installed
    ]
    return problems


def main() -> int:
    diff = lock_matches_pyproject()
    if diff:
        print("requirements.lock does not match pyproject.toml; refresh it with:")
        print("  .venv/bin/uv pip compile pyproject.toml -o requirements.lock")
        print("\n".join(diff))
        return 1
    problems = environment_matches_lock()
    if problems:
        print("the environment is not the lock:\n  " + "\n  ".join(problems))
        return 1
    print(f"requirements.lock matches pyproject.toml and the environment ({LOCK.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
