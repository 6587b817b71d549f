"""The OpenAPI document: current with the code, complete, valid OpenAPI 3.1, and served."""

from __future__ import annotations

from pathlib import Path

from openapi_spec_validator import validate
from starlette.testclient import TestClient

from shared.openapi import OPERATIONS, document, render, route_operations

CHECKED_IN = Path(__file__).resolve().parents[2] / "openapi.json"
REGENERATE = "regenerate it: make openapi (python -m devtools.openapi > openapi.json)"


def test_the_checked_in_document_is_the_generated_one() -> None:
    assert CHECKED_IN.read_text(encoding="utf-8") == render(document()), (
        f"openapi.json differs from what the routes and models give: {REGENERATE}"
    )


def test_every_route_is_documented_and_every_operation_is_a_route() -> None:
    routes = {(method, path) for method, path, _ in route_operations()}
    documented = {
        (method.upper(), path)
        for path, methods in document()["paths"].items()
        for method in methods
    }
    assert routes == documented
    assert routes == set(OPERATIONS)


def test_operation_ids_are_the_handlers_and_unique() -> None:
    ids = [op["operationId"] for methods in document()["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))
    assert "append_message" in ids


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_the_starlette_id_convertor_becomes_a_plain_template() -> None:
    assert "/api/conversations/{id}/messages/{messageId}" in document()["paths"]
    assert not [path for path in document()["paths"] if ":" in path]


def test_every_error_lists_its_codes_and_every_write_takes_an_idempotency_key() -> None:
    for path, methods in document()["paths"].items():
        for method, op in methods.items():
            for status, response in op["responses"].items():
                # (Health's 503 is its own JSON body, for monitors: README, "Errors".)
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
    doc = document()
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
    assert response.json() == document()
