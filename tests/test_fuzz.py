"""Fuzzing the published contract: schemathesis against /api/v1/openapi.json, in-process (WSGI).

Every operation of the document gets a bounded, reproducible run (``derandomize``) of valid
(positive) and invalid (negative) requests, sent without a login, as a plain user and as an admin
whose session bypasses two-factor. Checks: never a 5xx, and every answer is documented — status
code listed, JSON content type, body valid against its schema. Negative requests must be refused
with a 4xx.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import Helpers

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25
OPERATIONS = [
    "POST /api/v1/login",
    "POST /api/v1/logout",
    "GET /api/v1/sessions/info",
    "GET /api/v1/sessions/info.admin",
    "GET /api/v1/sessions/list",
    "GET /api/v1/sessions/list.all",
    "POST /api/v1/sessions/logout",
    "POST /api/v1/sessions/logout.me",
]
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Not used: positive_data_acceptance (a schema-valid request with made-up credentials or session
# ids is rightly a 401/404 — SPEC §2, §4), and the stateful/auth checks (ignored_auth,
# use_after_free, ...), which need links the document does not declare.
MODES = {
    "positive": (GenerationMode.POSITIVE, CONFORMANCE),
    "negative": (GenerationMode.NEGATIVE, [*CONFORMANCE, negative_data_rejection]),
}
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _fuzz(
    operation: Any,
    mode: str,
    headers_for_case: Callable[[], dict[str, str] | None],
    statuses: Counter[int],
    failures: list[str],
) -> None:
    """Run one bounded hypothesis search; count statuses and collect every failing case."""
    generation, checks = MODES[mode]

    @SETTINGS
    @given(case=operation.as_strategy(generation_mode=generation))
    def run(case: Any) -> None:
        headers = headers_for_case()
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except Exception as exc:  # collected: every failing case is reported, not the first
            failures.append(f"[{mode}] {exc}")

    run()


@pytest.fixture(autouse=True, scope="module")
def hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep hypothesis' caches out of the checkout (it writes .hypothesis/ in the cwd)."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    try:
        yield
    finally:
        set_hypothesis_home_dir(None)


@pytest.fixture
def schema(app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def test_every_published_operation_is_fuzzed(schema: Any) -> None:
    labels = sorted(result.ok().label for result in schema.get_all_operations())
    assert labels == sorted(OPERATIONS)


@pytest.mark.parametrize("who", ["anonymous", "user", "admin"])
@pytest.mark.parametrize("label", OPERATIONS, ids=[op.split()[1][8:] for op in OPERATIONS])
def test_no_5xx_and_every_answer_is_documented(
    schema: Any, helpers: Helpers, label: str, who: str, request: pytest.FixtureRequest
) -> None:
    method, path = label.split()
    operation = schema[path][method]
    account = None
    if who == "admin":
        account = helpers.admin("fuzz-admin", totp=True)
    elif who == "user":
        account = helpers.user("fuzz-user")
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    def headers_for_case() -> dict[str, str] | None:
        if account is None:
            return None
        # A fresh session per case: logout would otherwise end the one being used.
        login = helpers.session_for(account, bypass_2fa=True)
        return {"X-User-Id": login.user_id, "X-Auth-Token": login.token}

    for mode in MODES:
        _fuzz(operation, mode, headers_for_case, statuses, failures)

    cases = sum(statuses.values())
    print(
        f"fuzz {request.node.callspec.id}: {cases} cases, statuses {dict(sorted(statuses.items()))}"
    )
    assert not [s for s in statuses if s >= 500], statuses
    assert not failures, "\n".join(failures[:5]) + f"\n({len(failures)} failing cases)"
    assert sum(statuses.values()) >= MAX_EXAMPLES  # both modes ran cases
