"""Security headers on every answer: JSON success and error, the login that carries a token,
unknown paths and the docs page."""

from __future__ import annotations

import pytest

from .conftest import LIST_ALL, login_body

STRICT = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _assert_strict(response, *, cache: str | None = "no-store") -> None:
    for name, value in STRICT.items():
        assert response.headers.get(name) == value, name
    assert response.headers.get("Content-Security-Policy")
    if cache is not None:
        assert response.headers.get("Cache-Control") == cache


def test_the_login_answer_that_carries_a_token_is_never_cached(client, helpers):
    account = helpers.user("carol")
    response = client.post("/api/v1/login", json=login_body(account))
    assert response.status_code == 200
    assert response.get_json()["data"]["authToken"]
    _assert_strict(response)
    assert (
        response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    )


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", LIST_ALL, 401),
        ("post", "/api/v1/login", 400),
        ("get", "/api/v1/no-such-thing", 404),
        ("get", "/nowhere", 404),
        ("delete", "/api/v1/login", 405),
        ("get", "/api/v1/openapi.json", 200),
    ],
    ids=["unauthenticated", "bad-login-body", "unknown-api-path", "unknown-path", "405", "spec"],
)
def test_every_json_answer_carries_the_headers(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.is_json
    _assert_strict(response)


def test_list_answers_are_not_cached(client, helpers):
    account = helpers.user("dave")
    login = helpers.login(account)
    response = client.get("/api/v1/sessions/list", headers=login.headers())
    assert response.status_code == 200
    _assert_strict(response)


def test_the_docs_page_and_its_assets(client):
    _assert_strict(client.get("/api/v1/docs"))
    with client.get("/api/v1/docs/assets/swagger-ui.css") as asset:
        _assert_strict(asset, cache=None)
        assert "max-age=3600" in asset.headers["Cache-Control"]
