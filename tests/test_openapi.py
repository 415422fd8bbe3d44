"""The published OpenAPI document is valid, complete, and agrees with real responses."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec

from .conftest import FIREFOX_112

API_ROUTES = {
    ("/api/v1/login", "post"),
    ("/api/v1/logout", "post"),
    ("/api/v1/sessions/list.all", "get"),
    ("/api/v1/sessions/list", "get"),
    ("/api/v1/sessions/info", "get"),
    ("/api/v1/sessions/logout.me", "post"),
    ("/api/v1/sessions/info.admin", "get"),
    ("/api/v1/sessions/logout", "post"),
}


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _resolve(node: Any, components: dict[str, Any]) -> Any:
    """Inline every $ref (our schemas have no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return _resolve(components[name], components)
        return {key: _resolve(value, components) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, components) for item in node]
    return node


def assert_conforms(document: dict[str, Any], path: str, method: str, response) -> None:
    """The response's status is documented for the route and its body matches the schema."""
    if response.status_code == 405:  # a method the path does not have: the common error
        schema = document["components"]["schemas"]["Error"]
        OAS30Validator(schema).validate(response.get_json())
        return
    operation = document["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {path} answered undocumented {status}"
    media = operation["responses"][status]["content"]["application/json"]
    schema = _resolve(media["schema"], document["components"]["schemas"])
    OAS30Validator(schema).validate(response.get_json())


def test_document_is_valid_openapi(document):
    validate_spec(document)
    assert document["openapi"].startswith("3.")


def test_document_covers_every_route_and_header(app, document):
    documented = {(p, m) for p, ops in document["paths"].items() for m in ops}
    assert documented == API_ROUTES
    real = {
        (rule.rule, method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert real == API_ROUTES
    schemes = document["components"]["securitySchemes"]
    assert {s["name"] for s in schemes.values()} == {"X-User-Id", "X-Auth-Token"}
    for path, method in API_ROUTES:
        operation = document["paths"][path][method]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        two_factor = path.endswith(("list.all", "info.admin", "sessions/logout"))
        assert ({"x-2fa-code", "x-2fa-method"} <= headers) is two_factor, path
        assert ("security" in operation) is (path == "/api/v1/login"), path
    list_all = document["paths"]["/api/v1/sessions/list.all"]["get"]
    query = {p["name"] for p in list_all["parameters"] if p["in"] == "query"}
    assert query == {"filter", "offset", "count", "sort"}
    assert set(list_all["responses"]) >= {"200", "400", "401", "403", "405", "500", "503"}


def test_real_responses_match_the_document(client, helpers, document):
    """Every endpoint's success and error answers validate against what is published."""
    admin = helpers.admin(totp=True, name="Root")
    member = helpers.user("member", name=None)
    admin_login = helpers.login(admin, code=admin.code())
    member_login = helpers.login(member)
    other = helpers.session_for(member, user_agent=None, ip="", host="")
    helpers.login(member, user_agent=FIREFOX_112)

    def check(method: str, path: str, **kwargs: Any):
        response = getattr(client, method)(path, **kwargs)
        assert_conforms(document, path.split("?", 1)[0], method, response)
        return response

    ah, mh = admin_login.headers(), member_login.headers()
    # login: success, bad credentials, totp-required, invalid params
    check("post", "/api/v1/login", json={"user": "member", "password": member.password})
    check("post", "/api/v1/login", json={"user": "member", "password": "wrong"})
    assert (
        check(
            "post", "/api/v1/login", json={"user": admin.username, "password": admin.password}
        ).status_code
        == 401
    )
    check("post", "/api/v1/login", data="not json", content_type="application/json")
    # list.all: success with every kind of row, errors
    page = check("get", "/api/v1/sessions/list.all", headers=ah).get_json()
    assert page["total"] == 5
    check("get", "/api/v1/sessions/list.all?sort=nope", headers=ah)
    check("get", '/api/v1/sessions/list.all?sort={"x":1}', headers=ah)
    check("get", "/api/v1/sessions/list.all?count=-1", headers=ah)
    check("get", "/api/v1/sessions/list.all", headers=mh)
    check("get", "/api/v1/sessions/list.all")
    check("post", "/api/v1/sessions/list.all", headers=ah)
    # own list/info/logout.me
    check("get", "/api/v1/sessions/list", headers=mh)
    check("get", f"/api/v1/sessions/info?sessionId={member_login.session_id}", headers=mh)
    check("get", f"/api/v1/sessions/info?sessionId={admin_login.session_id}", headers=mh)
    check("get", "/api/v1/sessions/info", headers=mh)
    check("post", "/api/v1/sessions/logout.me", json={"sessionId": other.session_id}, headers=mh)
    check("post", "/api/v1/sessions/logout.me", json={"sessionId": "nope"}, headers=mh)
    # admin info/logout, then an ended session's info (with logoutAt)
    check("get", f"/api/v1/sessions/info.admin?sessionId={other.session_id}", headers=ah)
    check("get", "/api/v1/sessions/info.admin?sessionId=nope", headers=ah)
    check("get", f"/api/v1/sessions/info.admin?sessionId={other.session_id}", headers=mh)
    check(
        "post", "/api/v1/sessions/logout", json={"sessionId": member_login.session_id}, headers=ah
    )
    check(
        "post", "/api/v1/sessions/logout", json={"sessionId": member_login.session_id}, headers=ah
    )
    check("post", "/api/v1/sessions/logout", json={}, headers=ah)
    # two-factor errors
    fresh = helpers.session_for(admin, user_agent="curl/8.0")
    check("get", "/api/v1/sessions/list.all", headers=fresh.headers())
    check("get", "/api/v1/sessions/list.all", headers=fresh.headers(**{"x-2fa-code": "000000"}))
    # logout
    check("post", "/api/v1/logout", headers=ah)
    check("post", "/api/v1/logout", headers=ah)


def test_docs_page_is_served_offline(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "swagger-ui-bundle.js" in html and "docs-init.js" in html
    with client.get("/api/v1/docs/assets/docs-init.js") as init:
        assert 'url: "openapi.json"' in init.get_data(as_text=True)
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        with client.get(f"/api/v1/docs/assets/{asset}") as response:
            assert response.status_code == 200
            assert len(response.data) > 10_000
    assert client.get("/api/v1/docs/assets/../../etc/passwd").status_code == 404


def test_docs_page_runs_no_inline_script_under_a_strict_policy(client):
    page = client.get("/api/v1/docs")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    html = page.get_data(as_text=True)
    assert "<script>" not in html  # every script is a file of our own origin
    with client.get("/api/v1/docs/assets/docs-init.js") as init:
        assert init.status_code == 200
        assert "validatorUrl: null" in init.get_data(as_text=True)


@pytest.mark.parametrize(
    "asset", ["index.html", "oauth2-redirect.html", "swagger-ui.js", "VERSION", "LICENSE"]
)
def test_docs_serves_only_the_files_the_page_needs(client, asset):
    response = client.get(f"/api/v1/docs/assets/{asset}")
    assert response.status_code == 404
    assert response.get_json() == {"success": False, "error": "Not found"}
