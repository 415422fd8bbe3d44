"""Web: the HTTP surface (API blueprints, auth hooks, errors, events, OpenAPI, response schemas)."""
