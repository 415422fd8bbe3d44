"""Security headers on every answer, HTML or JSON, success or error."""

from __future__ import annotations

from flask import Flask, Response

# For JSON answers nothing may load or frame anything; HTML pages set their own policy.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'"


def _secure(response: Response) -> Response:
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
    # Answers carry tokens and session data: no cache keeps them, unless a view said
    # otherwise (the docs page's static assets).
    if "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response of ``app``."""
    app.after_request(_secure)
