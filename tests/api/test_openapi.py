"""The OpenAPI document: current with the code, complete, valid OpenAPI 3.1, and served."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.testclient import TestClient

from functions import all_routes, openapi_document
from shared.models import parse_timestamp
from shared.openapi import render
from shared.operation import OperationRoute

CHECKED_IN = Path(__file__).resolve().parents[2] / "openapi.json"
REGENERATE = "regenerate it: make openapi (python -m devtools.openapi > openapi.json)"


def test_the_checked_in_document_is_the_generated_one() -> None:
    assert CHECKED_IN.read_text(encoding="utf-8") == render(openapi_document()), (
        f"openapi.json differs from what the routes and models give: {REGENERATE}"
    )


def test_every_route_is_a_declared_operation_and_documented() -> None:
    routes = all_routes()
    assert all(isinstance(route, OperationRoute) for route in routes)
    served = {
        (method, route.operation.template)
        for route in routes
        for method in route.methods or ()
        if method != "HEAD"  # Starlette's implicit HEAD of a GET
    }
    documented = {
        (method.upper(), path)
        for path, methods in openapi_document()["paths"].items()
        for method in methods
    }
    assert served == documented
    assert len(served) == len(routes)


def test_operation_ids_are_the_handlers_and_unique() -> None:
    ids = [
        op["operationId"]
        for methods in openapi_document()["paths"].values()
        for op in methods.values()
    ]
    assert len(ids) == len(set(ids))
    assert "append_message" in ids


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = openapi_document()
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_the_starlette_id_convertor_becomes_a_plain_template() -> None:
    assert "/api/conversations/{id}/messages/{messageId}" in openapi_document()["paths"]
    assert not [path for path in openapi_document()["paths"] if ":" in path]


def test_every_error_lists_its_codes_and_every_write_takes_an_idempotency_key() -> None:
    for path, methods in openapi_document()["paths"].items():
        for method, op in methods.items():
            for status, response in op["responses"].items():
                # (Health's 503 is its own JSON body, for monitors: docs/api.md, "Errors".)
                # (A range, "4XX", counts as its statuses do.)
                if status[0] in "45" and (path, status) != ("/api/health", "503"):
                    schema = response["content"]["application/problem+json"]["schema"]
                    assert schema["allOf"][1]["properties"]["code"]["enum"], (method, path)
            headers = {p.get("$ref", "").rsplit("/", 1)[-1] for p in op["parameters"]}
            if method in {"post", "put", "patch", "delete"}:
                assert "IdempotencyKey" in headers, (method, path)
                codes = op["responses"]["422"]["content"]["application/problem+json"]
                assert (
                    "idempotency_key_reused"
                    in codes["schema"]["allOf"][1]["properties"]["code"]["enum"]
                )
            else:
                assert "IdempotencyKey" not in headers, (method, path)


def test_public_operations_need_no_token_and_the_others_a_bearer_jwt() -> None:
    doc = openapi_document()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        **doc["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    public = {
        (method, path)
        for path, methods in doc["paths"].items()
        for method, op in methods.items()
        if op.get("security") == []
    }
    assert public == {
        ("get", "/api/health"),
        ("get", "/api/limits"),
        ("post", "/api/auth/anonymous"),
        ("get", "/api/openapi.json"),
    }


def test_the_document_is_served_without_a_token_and_cacheable(client: TestClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.json() == openapi_document()


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, methods in openapi_document()["paths"].items()
        for method, op in methods.items()
    ]


def test_every_operation_has_a_tag_a_description_and_a_client_error() -> None:
    doc = openapi_document()
    assert doc["servers"]
    tags = {tag["name"] for tag in doc["tags"]}
    for method, path, op in _operations():
        assert op["description"], (method, path)
        assert len(op["tags"]) == 1, (method, path)
        assert op["tags"][0] in tags, (method, path)
        assert any(status.startswith("4") for status in op["responses"]), (method, path)
        # No "default": a generator would type an answer it cannot place as an error.
        assert "default" not in op["responses"], (method, path)


def test_a_304_is_an_answer_without_a_body_not_an_error() -> None:
    conditional = [(m, p, op) for m, p, op in _operations() if "304" in op["responses"]]
    assert {(m, p) for m, p, _ in conditional} == {
        ("get", "/api/conversations"),
        ("get", "/api/conversations/{id}"),
        ("get", "/api/conversations/{id}/messages/{messageId}"),
        ("get", "/api/me"),
    }
    for _, _, op in conditional:
        not_modified = op["responses"]["304"]
        assert "content" not in not_modified
        assert not_modified["headers"]["ETag"]["required"] is True


def test_request_and_response_schemas_have_titles_of_their_own() -> None:
    schemas = openapi_document()["components"]["schemas"]
    titles = [schema.get("title", name) for name, schema in schemas.items()]
    assert len(titles) == len(set(titles)), sorted(titles)
    assert schemas["ConversationMessage-Input"]["title"] == "ConversationMessageInput"
    assert schemas["ConversationMessage-Output"]["title"] == "ConversationMessageOutput"


def test_links_name_operations_and_their_parameters() -> None:
    by_id = {op["operationId"]: op for _, _, op in _operations()}
    parameters = openapi_document()["components"]["parameters"]
    found = set()
    for _, _, op in _operations():
        for response in op["responses"].values():
            for link in response.get("links", {}).values():
                target = by_id[link["operationId"]]
                names = {
                    parameters[p["$ref"].rsplit("/", 1)[1]]["name"] if "$ref" in p else p["name"]
                    for p in target["parameters"]
                }
                assert set(link["parameters"]) <= names, link
                found.add((op["operationId"], link["operationId"]))
    assert {
        ("put_conversation", "get_conversation"),
        ("list_conversations", "get_conversation"),
        ("list_changes", "get_conversation"),
        ("append_message", "get_message"),
    } <= found


def test_the_patch_schemas_refuse_what_the_server_refuses() -> None:
    schemas = openapi_document()["components"]["schemas"]
    conversation_patch = schemas["ConversationPatch"]
    assert conversation_patch["minProperties"] == 1
    assert conversation_patch["properties"]["title"]["type"] == "string"
    assert "default" not in conversation_patch["properties"]["title"]
    message_patch = schemas["MessagePatch"]
    assert message_patch["minProperties"] == 1
    # The document takes what the server takes and refuses a patch that changes nothing.
    document = openapi_document()
    registry = Registry().with_resource("urn:api", Resource.from_contents(document, DRAFT202012))
    validator = Draft202012Validator(
        {"$ref": "urn:api#/components/schemas/MessagePatch"}, registry=registry
    )
    for nothing in (
        {},
        {"content": None},
        {"sequence": 1},
        {"interrupted": False},
        {"sequence": 2, "interrupted": None, "parts": None},
    ):
        assert not validator.is_valid(nothing), nothing
    for change in (
        {"content": "x"},
        {"appendContent": "", "sequence": 1},
        {"interrupted": True},
        {"interrupted": False, "streaming": False},
        {"streaming": False, "sequence": 4},
    ):
        assert validator.is_valid(change), change


@pytest.mark.parametrize(
    ("timestamp", "taken"),
    [
        ("2025-03-01T09:00:00.000Z", True),
        ("2025-03-01T09:00Z", True),
        ("2025-03-01T09:00:00+05:30", True),
        ("2024-02-29T00:00:00Z", True),
        ("2000-02-29T00:00:00Z", True),
        ("1900-02-29T00:00:00Z", False),
        ("2023-02-29T00:00:00Z", False),
        ("2025-04-31T00:00:00Z", False),
        ("0000-01-01T00:00:00Z", False),
        ("2025-03-01T09:00:00", False),
        ("2025-03-01 09:00:00Z", False),
        ("2025-03-01T24:00:00Z", False),
        ("yesterday", False),
    ],
)
def test_the_timestamp_pattern_is_what_the_server_takes(timestamp: str, taken: bool) -> None:
    schema = openapi_document()["components"]["schemas"]["Conversation"]["properties"]["createdAt"]
    assert (re.fullmatch(schema["pattern"], timestamp) is not None) is taken
    try:
        parse_timestamp(timestamp)
    except ValueError:
        assert not taken
    else:
        assert taken


def test_response_schemas_name_their_properties_in_camel_case() -> None:
    # The response models' attributes are snake_case with camelCase aliases: the document
    # (and the wire it describes) must carry the aliases only.
    schemas = openapi_document()["components"]["schemas"]
    snake = {
        (name, prop)
        for name, schema in schemas.items()
        for prop in schema.get("properties", {})
        if "_" in prop
    }
    assert not snake
    assert "nextCursor" in schemas["ConversationListPage"]["properties"]
    assert "latencyMs" in schemas["HealthyRedis"]["properties"]
