"""The published contract: /api/v1/openapi.json and a reference page at /api/v1/docs.

Public (no login). The page's assets come from the installed swagger-ui-bundle package,
so it works offline.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from ..openapi import build_spec

docs_bp = Blueprint("docs", __name__, url_prefix="/api/v1")

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>sessions-service API</title>
  <link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui"});
  </script>
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
    return Response(PAGE, mimetype="text/html")


@docs_bp.get("/docs/assets/<path:filename>")
def docs_asset(filename: str) -> Response:
    """Swagger UI's own files, shipped in the swagger-ui-bundle package."""
    return send_from_directory(swagger_ui_path, filename, max_age=3600)
