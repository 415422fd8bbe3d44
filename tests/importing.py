"""Feeding the importer from tests: lines as the import command reads them, committed as it
commits (after each batch and at the end)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from flask import Flask

from sessions_service.ops import importer
from sessions_service.state import get_engine, settings_of


def as_lines(items: Iterable[Any]) -> Iterator[Any]:
    """Dicts as JSON, anything else (str, bytes) as it is; lazily, so streaming stays."""
    return (json.dumps(item) if isinstance(item, dict) else item for item in items)


def write_lines(path: Path, lines: list[Any]) -> Path:
    """One line per item (``as_lines``)."""
    path.write_text("\n".join(as_lines(lines)) + "\n", encoding="utf-8")
    return path


def run_import(app: Flask, lines: Iterable[Any], **kwargs: Any) -> importer.ImportSummary:
    """Import ``lines`` (``as_lines``) in the app's database, committing as the CLI does."""
    with get_engine(app).connect() as conn:
        summary = importer.import_sessions(
            conn,
            as_lines(lines),
            expiration_days=settings_of(app).login_expiration_days,
            after_batch=lambda _batch: conn.commit(),
            **kwargs,
        )
        conn.commit()
    return summary


def import_file(app: Flask, path: Path, **kwargs: Any) -> importer.ImportSummary:
    """Import a file as the import command does: its raw lines, in batches."""
    with path.open("rb") as fh:
        return run_import(app, fh, **kwargs)
