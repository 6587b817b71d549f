"""Schemathesis against the local app: every operation of the OpenAPI document, fuzzed.

Requests are generated from ``shared/openapi.py``'s document, valid and invalid (positive and
negative modes), and sent through the real chain: the app with every route (``make_client``),
the upstash-redis client, HTTP, the local Upstash stand-in, Redis. Every answer must be no
5xx, a status, content type, headers and body the document declares for the operation, and
every 4xx problem+json with a ``code`` the document lists for it. Authenticated as one test
user; each operation starts on a fresh key prefix. Deterministic: ``derandomize``.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from shared.errors import PROBLEM_CONTENT_TYPE
from shared.openapi import document
from tests.factories import auth, conversation, put

USER = "fuzz"


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    """The client, its user holding conversation ``c1`` with messages ``m0`` and ``m1``.

    The document's example ids, so that generated requests reach stored data too, not only 404.
    """
    assert put(client, conversation("c1"), user=USER).status_code == 201
    return client


schema = schemathesis.openapi.from_dict(document())
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    deterministic=True,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _documented_codes(case: schemathesis.Case[Any], status: int) -> list[str]:
    operations = document()["paths"][case.operation.path]
    if case.method.lower() not in operations:
        # Negative mode also sends methods the path does not have (TRACE, say): 405.
        return ["method_not_allowed"]
    responses = operations[case.method.lower()]["responses"]
    body = responses[str(status)]["content"][PROBLEM_CONTENT_TYPE]["schema"]
    codes: list[str] = body["allOf"][1]["properties"]["code"]["enum"]
    return codes


@schema.parametrize()
@settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    # The client is per test (a fresh key prefix per operation), not per example: examples
    # of one operation share its data, as a frontend's requests do.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_answers_as_its_document_says(
    case: schemathesis.Case[Any], seeded: TestClient
) -> None:
    kwargs: dict[str, Any] = case.as_transport_kwargs(
        base_url="http://testserver", headers=auth(USER)
    )
    if not kwargs.get("cookies"):
        # (httpx warns about per-request cookies, and warnings are errors here.)
        kwargs.pop("cookies", None)
    # Header values are whatever bytes HTTP/1.1 carries (latin-1 as requests sends them);
    # httpx would refuse to encode non-ASCII ones itself.
    kwargs["headers"] = {
        name: value.encode("latin-1") if isinstance(value, str) else value
        for name, value in kwargs["headers"].items()
    }
    if isinstance(kwargs.get("data"), bytes | str):
        # requests' name for a raw body is httpx's content.
        kwargs["content"] = kwargs.pop("data")
    response = seeded.request(**kwargs)
    case.validate_response(response, checks=CHECKS)
    if 400 <= response.status_code < 500:
        assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
        assert response.json()["code"] in _documented_codes(case, response.status_code)
