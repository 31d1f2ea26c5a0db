"""Fuzz every operation of the OpenAPI spec in-process (schemathesis over ASGI): never a 5xx.

Valid (positive) and invalid (negative) requests are generated. Examples are bounded (20 per
operation and mode, no shrinking database) so the test stays quick; the
app runs on a temporary SQLite database with the bootstrap admin token, so the token-protected routes
are fuzzed behind their authentication too (with and without the token).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from clauseguard.guards.server.app import create_app
from clauseguard.guards.server.settings import ServerSettings
from tests.server.conftest import ADMIN_TOKEN, GUARDS


def _app(tmp: Path):
    return create_app(guards_path=GUARDS, db_url=f"sqlite:///{tmp / 'fuzz.db'}",
                      settings=ServerSettings(admin_token=ADMIN_TOKEN))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    return _app(tmp_path_factory.mktemp("fuzz"))


def _operations(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def _no_server_error(case: schemathesis.Case) -> None:
    for headers in ({}, {"Authorization": f"Bearer {ADMIN_TOKEN}"}):
        response = case.call(headers=headers)
        assert response.status_code < 500, (f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                            f"{response.text[:300]}")


def _has_body(operation) -> bool:
    return bool(len(operation.body))


def test_no_server_errors(app) -> None:
    operations = _operations(app)
    assert len(operations) >= 12
    for operation, mode in itertools.product(operations, GenerationMode):
        if mode is GenerationMode.NEGATIVE and not _has_body(operation):
            continue  # invalid data is generated for bodies (a free-form path string cannot be invalid)
        run = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                       phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))(
            given(case=operation.as_strategy(mode))(_no_server_error))
        run()


def test_spec_lists_every_route(app) -> None:
    paths = set(app.openapi()["paths"])
    assert {"/v1/check/text", "/v1/check/image", "/beta/litellm_basic_guardrail_api", "/v1/notices",
            "/v1/notices/{reference}", "/v1/moderation/queue", "/v1/moderation/notices/{reference}/decision",
            "/v1/counter-notices", "/v1/admin/tokens", "/healthz", "/metrics"} <= paths
    check = app.openapi()["paths"]["/v1/check/text"]["post"]
    assert check["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CheckResponse"}
