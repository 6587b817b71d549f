"""Schemathesis against the local app: every operation of the OpenAPI document, fuzzed.

Requests are generated from ``shared/openapi.py``'s document, valid and invalid (positive and
negative modes), and sent over real HTTP (the ``served`` fixture) through the real chain: the
app with every route, the upstash-redis client, HTTP, the local Upstash stand-in, Redis.
Every check schemathesis has runs on every answer (its ``--checks all``): no 5xx; a status,
content type, headers and body the document declares; valid data accepted and invalid data
refused; no operation served without its token (the check sends the request again without
it); a deleted resource gone, a created one there. Each 4xx must also be problem+json with a
``code`` the document lists for it. Then the stateful phase follows the document's links
(create, list, changes -> get; append -> the message) through sequences of calls.

Authenticated as one test user (each stateful scenario as one of its own); each test starts on
a fresh key prefix. Deterministic:
``derandomize``. ``make fuzz`` runs the same tests with many more examples
(``FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import uuid
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, is_check_class, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response

from functions import openapi_document
from shared.errors import PROBLEM_CONTENT_TYPE
from tests.factories import auth, conversation

USER = "fuzz"
# Examples per operation, and stateful scenarios; `make fuzz` sets FUZZ_EXAMPLES.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
SCENARIOS = max(10, EXAMPLES // 5)
STEPS = 6

# A cursor, like an anonymous token, is opaque: the document cannot say which strings this API
# issued, so one the generator makes up is a valid string the API answers 400 (and a changes
# cursor too old, 410). Those operations may answer so to valid data.
_ISSUED_VALUE_OPERATIONS = [
    "GET /api/conversations",
    "GET /api/conversations/{id}",
    "GET /api/me/export",
    "GET /api/changes",
    "POST /api/me/claim",
]
_ISSUED_VALUE_ANSWERS = {400: {"invalid_request"}, 410: {"changes_reset"}}
# Schemathesis' answers to valid data, and 412: an If-Match or If-None-Match that does not hold
# is the stored state's answer to a valid request, like 404 and 409.
_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
# The numbers of MCP servers' and tools' JSON must read back in JSON.parse as sent at any depth;
# the document's PortableJson can check only the top level (a recursive schema is one client
# generators cannot read), so a deeper unsafe integer is valid data the API answers 422.
_PORTABLE_JSON_OPERATIONS = [
    "PUT /api/conversations/{id}",
    "PATCH /api/conversations/{id}",
    "POST /api/conversations/{id}/messages",
    "PATCH /api/conversations/{id}/messages/{messageId}",
]
_UNSAFE_NUMBERS = {"unsafe_integer", "non_finite_number"}
# A whole conversation's body id must be the path's: a rule between two parts of a request,
# which a schema cannot state. (The stateful phase's links keep them equal.)
_ID_MISMATCH = "PUT /api/conversations/{id}"
schema = schemathesis.openapi.from_dict(
    copy.deepcopy(openapi_document()),  # (its stateful phase adds links to what it is given)
    config=SchemathesisConfig.from_dict(
        {
            "checks": {"positive_data_acceptance": {"expected-statuses": _ACCEPTED}},
            "operations": [
                {
                    "include-name": _PORTABLE_JSON_OPERATIONS,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [
                                *_ACCEPTED,
                                "422",
                                *(["400"] if _ID_MISMATCH in _PORTABLE_JSON_OPERATIONS else []),
                            ]
                        }
                    },
                },
                {
                    "include-name": _ISSUED_VALUE_OPERATIONS,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*_ACCEPTED, *map(str, _ISSUED_VALUE_ANSWERS)]
                        }
                    },
                },
            ],
        }
    ),
)
schema.config.output.sanitization.update(enabled=False)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    deterministic=True,
    # The token is the test's (every request carries the user's): schemathesis neither makes
    # one up nor takes it away (ignored_auth still sends each request again without it).
    with_security_parameters=False,
    # A query parameter the API does not know is ignored, not refused (a cache-buster may
    # ride along): the document cannot say so, so none is made up.
    allow_extra_parameters=False,
)

load_all_checks()
# Every registered check: `schemathesis run --checks all`.
ALL_CHECKS = [check for check in CHECKS.get_all() if not is_check_class(check)]
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    # The server is per test (a fresh key prefix per operation), not per example: examples
    # of one operation share its data, as a frontend's requests do.
    # (filter_too_much: a message patch must not be all null, which hypothesis-jsonschema
    # meets by filtering.)
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture
def seeded(served: str) -> str:
    """The served app's URL, its user holding conversation ``c1`` with messages ``m0``, ``m1``.

    The document's example ids, so that generated requests reach stored data too, not only 404.
    """
    response = httpx.put(
        f"{served}/api/conversations/c1", json=conversation("c1"), headers=auth(USER)
    )
    assert response.status_code == 201, response.text
    return served


def _documented_codes(case: schemathesis.Case[Any], status: int) -> list[str]:
    operations = openapi_document()["paths"][case.operation.path]
    if case.method.lower() not in operations:
        # Negative mode also sends methods the path does not have (TRACE, say): 405.
        return ["method_not_allowed"]
    responses = operations[case.method.lower()]["responses"]
    response = responses.get(str(status)) or responses[f"{str(status)[0]}XX"]
    codes: list[str] = response["content"][PROBLEM_CONTENT_TYPE]["schema"]["allOf"][1][
        "properties"
    ]["code"]["enum"]
    return codes


def _checks_for(case: schemathesis.Case[Any]) -> list[Any]:
    # Every check but those the configuration above turns off for the case's operation.
    config = schema.config.checks_config_for(operation=case.operation)
    checks = [check for check in ALL_CHECKS if config.get_by_name(name=check.__name__).enabled]
    if _header_off_pattern(case):
        # Schemathesis' coverage phase labels some cases positive whose header breaks the
        # header's pattern (If-Match: 0): not valid data, so not held to being accepted.
        checks = [check for check in checks if check.__name__ != "positive_data_acceptance"]
    return checks


def _fresh_idempotency_key(case: schemathesis.Case[Any]) -> None:
    # Examples reuse few values ("0"), and a key sent again with another request is 422
    # idempotency_key_reused, an answer about the earlier request, not this one's data: a
    # valid key becomes one no request used, as a client makes one per request.
    headers: MutableMapping[str, Any] = case.headers or {}
    for name, value in headers.items():
        if name.lower() == "idempotency-key" and re.fullmatch(r"[\x20-\x7e]{1,200}", value):
            headers[name] = f"{uuid.uuid4().hex}{value}"


def _header_off_pattern(case: schemathesis.Case[Any]) -> bool:
    doc = openapi_document()
    operation = doc["paths"][case.operation.path].get(case.method.lower(), {})
    sent = {name.lower(): value for name, value in (case.headers or {}).items()}
    for listed in operation.get("parameters", []):
        name = listed.get("$ref", "").rsplit("/", 1)[-1]
        parameter = doc["components"]["parameters"].get(name, listed)
        pattern = parameter.get("schema", {}).get("pattern")
        value = sent.get(parameter["name"].lower())
        if (
            parameter["in"] == "header"
            and pattern
            and isinstance(value, str)
            and re.search(pattern, value) is None
        ):
            return True
    return False


def _check_problem(case: schemathesis.Case[Any], response: Response) -> None:
    if 400 <= response.status_code < 500:
        assert response.headers["content-type"] == [PROBLEM_CONTENT_TYPE]
        problem = response.json()
        assert problem["code"] in _documented_codes(case, response.status_code)


@schema.parametrize()
@SETTINGS
def test_the_api_answers_as_its_document_says(case: schemathesis.Case[Any], seeded: str) -> None:
    headers = auth(USER)
    _fresh_idempotency_key(case)
    response = case.call(base_url=seeded, headers=headers)
    case.validate_response(
        response,
        checks=_checks_for(case),
        headers=headers,
        transport_kwargs={"base_url": seeded, "headers": headers},
    )
    _check_problem(case, Response.from_any(response))


def test_sequences_that_follow_the_links_answer_as_the_document_says(seeded: str) -> None:
    scenarios = itertools.count()
    headers = auth(USER)

    class Links(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each scenario on a user of its own, seeded alike: a scenario's answers then
            # depend on its own steps only, as hypothesis needs to replay one (with data
            # left by earlier scenarios, the same steps drew different rules).
            nonlocal headers
            headers = auth(f"{USER}-{next(scenarios)}")
            response = httpx.put(
                f"{seeded}/api/conversations/c1", json=conversation("c1"), headers=headers
            )
            assert response.status_code == 201, response.text

        def before_call(self, case: schemathesis.Case[Any]) -> None:
            _fresh_idempotency_key(case)

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"base_url": seeded, "headers": headers}

        def validate_response(
            self,
            response: Response,
            case: schemathesis.Case[Any],
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(
                response,
                checks=_checks_for(case),
                headers=headers,
                transport_kwargs=kwargs,
                recorder=self.recorder,
            )
            _check_problem(case, response)

    Links.run(
        settings=settings(
            SETTINGS,
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
        )
    )
