"""Each function's own ``handler``, invoked as Lambda invokes it.

API Gateway HTTP API v2 events, against the real stand-in.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from functions import module_names
from shared.app import Services
from shared.codec import json_or_empty
from shared.payload import encoded_size
from shared.settings import Settings
from tests.factories import (
    LambdaContext,
    auth,
    close_current_loop,
    conversation,
    http_api_v2_event,
    message,
    put,
    token_for,
)


@pytest.fixture
def handlers(settings: Settings) -> Iterator[dict[str, Any]]:
    """Every function module's handler, its app wired to the stand-in."""
    svc = Services.from_settings(settings)
    modules = {name: importlib.import_module(f"functions.{name}") for name in module_names()}
    saved = {name: module.app.state.services for name, module in modules.items()}
    for module in modules.values():
        module.app.state.services = svc
    # Mangum runs every invocation on the thread's current event loop, which on Lambda lives as
    # long as the container. Here each test gets its own, closed (with the Upstash client on
    # it) afterwards, so no loop is left for the garbage collector to complain about.
    close_current_loop()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield {name: module.handler for name, module in modules.items()}
    loop.run_until_complete(svc.upstash.aclose())
    loop.close()
    asyncio.set_event_loop(None)
    for name, module in modules.items():
        module.app.state.services = saved[name]


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


def test_a_405_from_any_function_allows_every_method_of_its_path(
    handlers: dict[str, Any], client: TestClient
) -> None:
    # API Gateway routes by method, and sends a path's OPTIONS to one of the functions serving
    # it: a plain OPTIONS (no CORS preflight) is the 405 a single-route function can answer,
    # and its Allow names every function's methods on that path, as the app with all routes.
    params = {"id": "c1", "messageId": "m1"}
    for name in module_names():
        module = importlib.import_module(f"functions.{name}")
        for route in module.routes:
            template = route.path.replace(":id}", "}")
            path = template.format(**params)
            expected = client.options(path).headers["allow"]
            answer = invoke(
                handlers[name],
                http_api_v2_event(
                    "OPTIONS",
                    path,
                    route_key=f"OPTIONS {template}",
                    path_parameters={k: v for k, v in params.items() if "{" + k in template},
                ),
            )
            assert answer["statusCode"] == 405, (name, answer["body"])
            assert answer["headers"]["allow"] == expected, name
            problem = base64.b64decode(answer["body"]) if answer["isBase64Encoded"] else None
            assert json.loads(problem or answer["body"])["code"] == "method_not_allowed"
    get_me = invoke(
        handlers["get_me"],
        http_api_v2_event("OPTIONS", "/api/me", route_key="OPTIONS /api/me"),
    )
    assert get_me["headers"]["allow"] == "DELETE, GET, HEAD"


# Lambda's limit on the JSON a function returns (and on the event it is invoked with).
LAMBDA_PAYLOAD = 6 * 1024 * 1024
# Content that takes the most room once Lambda returns it: a control character is 6 bytes in
# the body ("\u0001") and 7 in Lambda's response; a quote or backslash 2, then 4.
CONTROL = "\x01" * 200_000
QUOTES = '"\\' * 100_000


def test_export_and_conversation_pages_fit_lambda_with_the_worst_content(
    handlers: dict[str, Any], client: TestClient
) -> None:
    user = "lambda-heavy"
    token = {"authorization": f"Bearer {token_for(user)}"}
    stored: dict[str, list[str]] = {}
    for cid, contents in {
        "q1": [QUOTES] * 6,
        "q2": [QUOTES] * 6,
        "x1": [CONTROL] * 2,
    }.items():
        body = conversation(cid, messages=len(contents))
        for item, content in zip(body["messages"], contents, strict=True):
            item["content"] = content
        assert put(client, body, user=user).status_code == 201
        stored[cid] = contents
    for i in range(6):  # one conversation of more than a page: appended a message at a time
        item = message(f"n{i}", CONTROL)
        assert client.post(
            "/api/conversations/x2/messages", json=item, headers=auth(user)
        ).is_success
    stored["x2"] = [CONTROL] * 6

    exported: dict[str, list[str]] = {}
    cursor = ""
    pages = 0
    while True:
        answer = invoke(
            handlers["export_conversations"],
            http_api_v2_event(
                "GET",
                "/api/me/export",
                route_key="GET /api/me/export",
                query=f"cursor={cursor}" if cursor else "",
                headers=token,
            ),
        )
        assert answer["statusCode"] == 200
        assert len(json.dumps(answer)) <= LAMBDA_PAYLOAD, pages
        page = json.loads(answer["body"])
        pages += 1
        for item in page["conversations"]:
            contents = [m["content"] for m in item["messages"]]
            if "olderMessagesCursor" in item:
                before = item["olderMessagesCursor"]
                contents = _all_messages(handlers, token, item["id"], before) + contents
            exported[item["id"]] = contents
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages > 2
    assert exported == stored  # everything, across pages

    read = _all_messages(handlers, token, "x2", None)
    assert read == [CONTROL] * 6


def test_a_list_page_fits_lambda_with_the_largest_summaries(
    handlers: dict[str, Any], client: TestClient, settings: Settings
) -> None:
    # A page of 100 summaries, each with the longest title and the most mcpServers JSON the
    # limits let in, all of it control characters (7 bytes each in Lambda's response).
    user = "lambda-list"
    most = settings.max_mcp_servers_bytes
    servers = {"k": CONTROL[: (most - len('"{\\"k\\":\\"\\"}"')) // 7]}
    assert encoded_size(json_or_empty(servers)) <= most
    for i in range(100):
        body = conversation(f"c{i}", messages=0, title="\x01" * settings.max_title_chars)
        body["mcpServers"] = servers
        assert put(client, body, user=user).status_code == 201
    servers["k"] += "\x01"
    too_much = conversation("c100", messages=0, mcpServers=servers)
    assert put(client, too_much, user=user).status_code == 413
    answer = invoke(
        handlers["list_conversations"],
        http_api_v2_event(
            "GET",
            "/api/conversations",
            route_key="GET /api/conversations",
            query="limit=100",
            headers={"authorization": f"Bearer {token_for(user)}"},
        ),
    )
    assert answer["statusCode"] == 200
    assert len(json.loads(answer["body"])["conversations"]) == 100
    assert len(json.dumps(answer)) <= LAMBDA_PAYLOAD
    # And at the largest limit the setting takes, every page still fits.
    widest = Settings.model_fields["max_mcp_servers_bytes"].metadata
    largest = next(m.le for m in widest if getattr(m, "le", None) is not None)
    title = encoded_size("\x01" * settings.max_title_chars)
    assert 100 * (largest + title + 1024) <= LAMBDA_PAYLOAD - 16 * 1024


def _all_messages(
    handlers: dict[str, Any], token: dict[str, str], cid: str, before: str | None
) -> list[str]:
    # Every message of `cid` older than `before`, page by page, each answer within the limit.
    contents: list[str] = []
    while True:
        answer = invoke(
            handlers["get_conversation"],
            http_api_v2_event(
                "GET",
                f"/api/conversations/{cid}",
                route_key="GET /api/conversations/{id}",
                query=f"limit=100&before={before}" if before else "limit=100",
                headers=token,
                path_parameters={"id": cid},
            ),
        )
        assert answer["statusCode"] == 200
        assert len(json.dumps(answer)) <= LAMBDA_PAYLOAD
        page = json.loads(answer["body"])
        contents = [m["content"] for m in page["messages"]] + contents
        before = page["nextCursor"]
        if before is None:
            return contents


def test_the_largest_body_fits_the_event_however_it_is_escaped(
    handlers: dict[str, Any], client: TestClient
) -> None:
    limit = client.get("/api/limits").json()["maxBodyBytes"]
    token = {"authorization": f"Bearer {token_for('lambda-big-body')}"}
    # A body of nothing but escapes: every byte of it doubles in an event that carries it as
    # text; base64 adds a third.
    body = json.dumps(message("m1", '"' * 10)).encode()
    head, tail = body.decode().split('"content": "', 1)
    filler = '\\"' * ((limit - len(body)) // 2)
    text = f'{head}"content": "{filler}{tail}'
    assert len(text.encode()) <= limit
    event = http_api_v2_event(
        "POST",
        "/api/conversations/c1/messages",
        route_key="POST /api/conversations/{id}/messages",
        headers=token,
        path_parameters={"id": "c1"},
    )
    event["body"], event["isBase64Encoded"] = text, False
    assert len(json.dumps(event)) <= LAMBDA_PAYLOAD
    answer = invoke(handlers["append_message"], event)
    # Read and judged (the content is over MAX_MESSAGE_CHARS), not refused for its size.
    assert answer["statusCode"] == 413
    assert "MAX_MESSAGE_CHARS" in base64.b64decode(answer["body"]).decode()
    event["body"] = base64.b64encode(text.encode()).decode()
    event["isBase64Encoded"] = True
    assert len(json.dumps(event)) <= LAMBDA_PAYLOAD


def test_pages_of_messages_with_parts_and_metadata_fit_lambda(
    handlers: dict[str, Any], client: TestClient
) -> None:
    # A message's parts carry its text again beside its content, and its metadata: a page
    # counts all three as Lambda returns them, so the heaviest messages still page.
    user = "lambda-parts"
    token = {"authorization": f"Bearer {token_for(user)}"}
    for i in range(8):
        item = {
            "id": f"p{i}",
            "type": "assistant",
            "timestamp": "2025-03-01T09:00:00.000Z",
            "parts": [
                {"type": "reasoning", "text": QUOTES[:40_000]},
                {"type": "text", "text": QUOTES},
            ],
            "metadata": {"note": "\x01" * 2_000},
        }
        written = client.post("/api/conversations/p1/messages", json=item, headers=auth(user))
        assert written.status_code == 201, written.text
    assert _all_messages(handlers, token, "p1", None) == [QUOTES] * 8
    answer = invoke(
        handlers["export_conversations"],
        http_api_v2_event("GET", "/api/me/export", route_key="GET /api/me/export", headers=token),
    )
    assert answer["statusCode"] == 200
    assert len(json.dumps(answer)) <= LAMBDA_PAYLOAD
