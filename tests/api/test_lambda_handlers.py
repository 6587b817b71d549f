"""Each function's own ``handler``, invoked as Lambda invokes it.

API Gateway HTTP API v2 events, against the real stand-in.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from functions import MODULES
from shared.app import Services
from shared.settings import Settings
from tests.api.test_conversations import conversation
from tests.conftest import token_for


def http_api_v2_event(
    method: str,
    path: str,
    *,
    route_key: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as Lambda receives it."""
    raw = b"" if body is None else json.dumps(body).encode()
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "content-type": "application/json",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "test",
            },
            "requestId": f"req-{method}-{path}",
            "routeKey": route_key,
            "stage": "$default",
            "time": "01/Mar/2025:10:00:00 +0000",
            "timeEpoch": 1740823200000,
        },
        "pathParameters": path_parameters or {},
        "body": base64.b64encode(raw).decode() if raw else None,
        "isBase64Encoded": bool(raw),
    }


class LambdaContext:
    function_name = "test"
    aws_request_id = "lambda-request"


@pytest.fixture
def handlers(settings: Settings) -> Iterator[dict[str, Any]]:
    """Every function module's handler, its app wired to the stand-in."""
    svc = Services.from_settings(settings)
    modules = {name: importlib.import_module(f"functions.{name}") for name in MODULES}
    saved = {name: module.app.state.services for name, module in modules.items()}
    for module in modules.values():
        module.app.state.services = svc
    # Mangum runs every invocation on the thread's current event loop, which on Lambda lives as
    # long as the container. Here each test gets its own, closed (with the Upstash client on
    # it) afterwards, so no loop is left for the garbage collector to complain about.
    _close_current_loop()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield {name: module.handler for name, module in modules.items()}
    loop.run_until_complete(svc.upstash.aclose())
    loop.close()
    asyncio.set_event_loop(None)
    for name, module in modules.items():
        module.app.state.services = saved[name]


def _close_current_loop() -> None:
    # The loop Mangum made current when the function modules were imported, if it is still set.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            return
    if not loop.is_running():
        loop.close()


def invoke(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler(event, LambdaContext())
    return result


def test_every_function_through_mangum(handlers: dict[str, Any]) -> None:
    token = {"authorization": f"Bearer {token_for('lambda-user')}"}

    health = invoke(
        handlers["health"], http_api_v2_event("GET", "/api/health", route_key="GET /api/health")
    )
    assert health["statusCode"] == 200
    assert json.loads(health["body"])["status"] == "healthy"
    assert health["headers"]["x-request-id"] == "req-GET-/api/health"

    anonymous = invoke(
        handlers["issue_anonymous_token"],
        http_api_v2_event("POST", "/api/auth/anonymous", route_key="POST /api/auth/anonymous"),
    )
    assert anonymous["statusCode"] == 201
    assert json.loads(anonymous["body"])["userId"].startswith("anon_")

    item = "/api/conversations/c1"
    put = invoke(
        handlers["put_conversation"],
        http_api_v2_event(
            "PUT",
            item,
            route_key="PUT /api/conversations/{id}",
            body=conversation(),
            headers=token,
            path_parameters={"id": "c1"},
        ),
    )
    assert put["statusCode"] == 201, put["body"]
    assert put["headers"]["etag"]

    listed = invoke(
        handlers["list_conversations"],
        http_api_v2_event(
            "GET",
            "/api/conversations",
            route_key="GET /api/conversations",
            query="limit=5",
            headers=token,
        ),
    )
    assert listed["statusCode"] == 200
    assert [c["id"] for c in json.loads(listed["body"])["conversations"]] == ["c1"]

    got = invoke(
        handlers["get_conversation"],
        http_api_v2_event(
            "GET",
            item,
            route_key="GET /api/conversations/{id}",
            headers=token,
            path_parameters={"id": "c1"},
        ),
    )
    assert got["statusCode"] == 200
    assert json.loads(got["body"])["messageCount"] == 2

    deleted = invoke(
        handlers["delete_conversation"],
        http_api_v2_event(
            "DELETE",
            item,
            route_key="DELETE /api/conversations/{id}",
            headers=token,
            path_parameters={"id": "c1"},
        ),
    )
    assert deleted["statusCode"] == 204

    missing = invoke(
        handlers["get_conversation"],
        http_api_v2_event(
            "GET",
            item,
            route_key="GET /api/conversations/{id}",
            headers=token,
            path_parameters={"id": "c1"},
        ),
    )
    assert missing["statusCode"] == 404
    assert missing["headers"]["content-type"] == "application/problem+json"


def test_unauthorized_through_mangum(handlers: dict[str, Any]) -> None:
    response = invoke(
        handlers["list_conversations"],
        http_api_v2_event("GET", "/api/conversations", route_key="GET /api/conversations"),
    )
    assert response["statusCode"] == 401
    assert response["headers"]["www-authenticate"].startswith("Bearer")


def test_message_and_account_functions_through_mangum(handlers: dict[str, Any]) -> None:
    token = {"authorization": f"Bearer {token_for('lambda-user-2')}"}
    ids = {"id": "c9"}
    message = {"id": "m1", "type": "user", "content": "Hi", "timestamp": "2025-01-01T00:00:00Z"}
    calls: list[tuple[str, str, str, str, Any, dict[str, str], int]] = [
        (
            "append_message",
            "POST",
            "/api/conversations/c9/messages",
            "POST /api/conversations/{id}/messages",
            message,
            ids,
            201,
        ),
        (
            "update_message",
            "PATCH",
            "/api/conversations/c9/messages/m1",
            "PATCH /api/conversations/{id}/messages/{messageId}",
            {"appendContent": "!"},
            {**ids, "messageId": "m1"},
            200,
        ),
        (
            "update_conversation",
            "PATCH",
            "/api/conversations/c9",
            "PATCH /api/conversations/{id}",
            {"title": "Renamed"},
            ids,
            200,
        ),
        (
            "set_current_conversation",
            "PUT",
            "/api/me/current-conversation",
            "PUT /api/me/current-conversation",
            {"conversationId": "c9"},
            {},
            204,
        ),
        ("get_me", "GET", "/api/me", "GET /api/me", None, {}, 200),
        ("export_conversations", "GET", "/api/me/export", "GET /api/me/export", None, {}, 200),
        (
            "import_conversations",
            "POST",
            "/api/import",
            "POST /api/import",
            {"conversations": [conversation("c8")]},
            {},
            200,
        ),
        (
            "delete_message",
            "DELETE",
            "/api/conversations/c9/messages/m1",
            "DELETE /api/conversations/{id}/messages/{messageId}",
            None,
            {**ids, "messageId": "m1"},
            204,
        ),
        ("erase_user", "DELETE", "/api/me", "DELETE /api/me", None, {}, 204),
    ]
    for name, method, path, route, body, params, status in calls:
        response = invoke(
            handlers[name],
            http_api_v2_event(
                method, path, route_key=route, body=body, headers=token, path_parameters=params
            ),
        )
        assert response["statusCode"] == status, (name, response["body"])
        if name == "export_conversations":
            exported = json.loads(response["body"])
            assert exported["currentConversationId"] == "c9"
            assert exported["conversations"][0]["messages"][0]["content"] == "Hi!"
