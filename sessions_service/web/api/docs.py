"""The published contract: /api/v1/openapi.json and a reference page at /api/v1/docs.

Public (no login). The page runs Swagger UI from the files the maintained flask-swagger-ui
package ships (no CDN, works offline); only the files the page needs are served, under a
strict Content-Security-Policy (no inline script, nothing from another origin).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_swagger_ui
from flask import Blueprint, Response, abort, current_app, send_from_directory

from sessions_service.web.api import API_PREFIX
from sessions_service.web.openapi import build_spec

docs_bp = Blueprint("docs", __name__, url_prefix=API_PREFIX)

SWAGGER_DIST = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
OWN_STATIC = Path(__file__).resolve().parent.parent / "static"
# What the page loads, and nothing else of the vendor's folder (no demo index.html that
# points at petstore, no oauth2-redirect page).
ASSETS = {
    "swagger-ui.css": SWAGGER_DIST,
    "swagger-ui-bundle.js": SWAGGER_DIST,
    "favicon-32x32.png": SWAGGER_DIST,
    "docs-init.js": OWN_STATIC,
}
# Swagger UI sets element styles from script, hence 'unsafe-inline' for styles only; its
# schema icons are data: URIs.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>sessions-service API</title>
  <link rel="stylesheet" href="docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/assets/swagger-ui-bundle.js"></script>
  <script src="docs/assets/docs-init.js"></script>
</body>
</html>
"""


@docs_bp.get("/openapi.json")
def openapi_json() -> dict[str, Any]:
    """The OpenAPI 3 document (built once per app)."""
    spec: dict[str, Any] | None = current_app.extensions.get("sessions_openapi")
    if spec is None:
        spec = current_app.extensions["sessions_openapi"] = build_spec(current_app)
    return spec


@docs_bp.get("/docs")
def docs_page() -> Response:
    """A human-readable reference rendered by Swagger UI."""
    response = Response(PAGE, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@docs_bp.get("/docs/assets/<path:filename>")
def docs_asset(filename: str) -> Response:
    """One of the few files the docs page loads."""
    folder = ASSETS.get(filename)
    if folder is None:
        abort(404)
    return send_from_directory(folder, filename, max_age=3600)
