"""Builders every test shares: settings, tokens, request bodies, Lambda events, a clock.

Fixtures live in ``tests/conftest.py``; what a test calls or annotates with lives here, so no
test module imports another's helpers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import httpx
import jwt
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message

from shared.settings import Settings

if TYPE_CHECKING:
    from devtools.websocket_local import LocalWebSocketApi
    from shared.app import Services

JWT_SECRET = "test-sign-in-secret-that-is-long-enough-0123456789"
ANONYMOUS_SECRET = "test-anonymous-secret-that-is-long-enough-012345"


@dataclass(frozen=True)
class Standin:
    """The local Upstash endpoint the tests talk to, and the Redis behind it."""

    url: str
    token: str
    app: Any
    redis_url: str | None


class Live(NamedTuple):
    """The API and the local WebSocket API on one port (the ``live`` fixture), push on."""

    url: str
    """Its base URL: ``/api``, ``/ws`` and ``/@connections`` under it."""
    services: Services
    sockets: LocalWebSocketApi

    def ws_url(self, token: str | None = None) -> str:
        """The socket's URL, with ``?token=`` when given."""
        base = "ws" + self.url.removeprefix("http") + "/ws"
        return base if token is None else f"{base}?token={token}"


def make_settings(standin: Standin, **overrides: Any) -> Settings:
    """Settings for a test app on ``standin``, with a key prefix no other test uses.

    ``overrides`` are field values.
    """
    values: dict[str, Any] = {
        "upstash_redis_rest_url": standin.url,
        "upstash_redis_rest_token": standin.token,
        "auth_jwt_secret": JWT_SECRET,
        "anonymous_token_secret": ANONYMOUS_SECRET,
        "key_prefix": "t" + uuid.uuid4().hex[:12],
        "upstash_retries": 0,
        **overrides,
    }
    return Settings(**values)


def load_every_script(standin: Standin) -> None:
    """SCRIPT LOAD every script the service sends, as a database it has run on has them."""
    from shared import scripts

    commands = [
        ["SCRIPT", "LOAD", script.source]
        for spec in scripts.ALL
        for script in (spec.write, spec.read)
        if script is not None
    ]
    answer = httpx.post(
        f"{standin.url}/pipeline",
        json=commands,
        headers={"Authorization": f"Bearer {standin.token}"},
    )
    answer.raise_for_status()
    assert all("result" in reply for reply in answer.json()), answer.text


# ------------------------------------------------------------------------------ clients


class Clock:
    """A settable clock in ms for the store, starting at the real time (Redis expiry is real)."""

    def __init__(self) -> None:
        self.now = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self.now += int(seconds * 1000)


class ClientFactory(Protocol):
    """The ``make_client`` fixture: a TestClient for an app with every route.

    The store and the Upstash client's circuit breaker read ``clock`` when one is given (the
    real time otherwise); ``address`` is the client's (host, port); keyword arguments override
    settings.
    """

    def __call__(
        self,
        *,
        clock: Clock | None = None,
        address: tuple[str, int] | None = None,
        **overrides: Any,
    ) -> TestClient: ...


# ------------------------------------------------------------------------------ identity


def token_for(user_id: str, **claims: Any) -> str:
    """A sign-in token for ``user_id``, HS256 with the test secret."""
    return jwt.encode({"sub": user_id, **claims}, JWT_SECRET, algorithm="HS256")


def auth(user_id: str = "alice") -> dict[str, str]:
    """The Authorization header of ``user_id``."""
    return {"Authorization": f"Bearer {token_for(user_id)}"}


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token the API issued (``POST /api/auth/anonymous``)."""
    return {"Authorization": f"Bearer {token}"}


def services_of(client: TestClient) -> Services:
    """The services an app built by ``make_client`` runs on (``.upstash.requests`` counts)."""
    found: Services = client.app.state.services  # type: ignore[attr-defined]
    return found


# ------------------------------------------------------------------------------ bodies


def conversation(
    cid: str = "c1",
    *,
    messages: int = 2,
    updated: str = "2025-03-01T10:00:00.000Z",
    **extra: Any,
) -> dict[str, Any]:
    """A conversation as the frontend's JSON.stringify writes it."""
    body: dict[str, Any] = {
        "id": cid,
        "title": f"Title of {cid}",
        "messages": [
            {
                "id": f"m{i}",
                "type": "user" if i % 2 == 0 else "assistant",
                "content": f"message {i}",
                "timestamp": "2025-03-01T09:00:00.000Z",
            }
            for i in range(messages)
        ],
        "createdAt": "2025-03-01T09:00:00.000Z",
        "updatedAt": updated,
        "totalTokens": 0,
    }
    body.update(extra)
    return body


def message(
    mid: str = "m1", content: str = "Hello there", kind: str = "user", **extra: Any
) -> dict[str, Any]:
    """A message as the frontend sends it."""
    return {
        "id": mid,
        "type": kind,
        "content": content,
        "timestamp": "2025-03-01T09:00:00.000Z",
        **extra,
    }


# ------------------------------------------------------------------------------ requests


def put(client: TestClient, body: dict[str, Any], user: str = "alice", **headers: str) -> Any:
    """``PUT`` the conversation ``body`` as ``user``; the response."""
    return client.put(
        f"/api/conversations/{body['id']}", json=body, headers={**auth(user), **headers}
    )


def post(client: TestClient, body: dict[str, Any], cid: str = "c1", user: str = "alice") -> Any:
    """Append the message ``body`` to conversation ``cid`` as ``user``; the response."""
    return client.post(f"/api/conversations/{cid}/messages", json=body, headers=auth(user))


def me(client: TestClient, user: str = "alice") -> dict[str, Any]:
    """``GET /api/me`` as ``user``: the JSON body."""
    body: dict[str, Any] = client.get("/api/me", headers=auth(user)).json()
    return body


@dataclass
class AsgiExchange:
    """What an app sent back to :func:`asgi_request`: every message, and the response read."""

    messages: list[Message] = field(default_factory=list)

    @property
    def status(self) -> int | None:
        """The response's status, or None if the app sent none."""
        for sent in self.messages:
            if sent["type"] == "http.response.start":
                status: int = sent["status"]
                return status
        return None

    @property
    def headers(self) -> dict[str, str]:
        """The response's headers, names lower-cased (empty if the app sent none)."""
        for sent in self.messages:
            if sent["type"] == "http.response.start":
                return {bytes(k).decode(): bytes(v).decode() for k, v in sent["headers"]}
        return {}

    @property
    def body(self) -> bytes:
        """The response body."""
        return b"".join(
            m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"
        )


def asgi_request(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    chunks: Sequence[bytes] = (),
    disconnect: bool = False,
) -> AsgiExchange:
    """Send ``app`` one HTTP request at the ASGI level, where a test client cannot reach.

    The body arrives as ``chunks``; with ``disconnect``, the client hangs up after them instead of
    finishing the body (``receive()`` answers ``http.disconnect``), as a closed tab or a dropped
    connection does. Header values are raw bytes, so a test can send what no HTTP client would.
    """
    pending: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    if not disconnect:
        pending.append({"type": "http.request", "body": b"", "more_body": False})
    exchange = AsgiExchange()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> Message:
        # Once the body (or the hang-up) is delivered, the connection is gone.
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        exchange.messages.append(message)

    async def exchange_once() -> None:
        await app(scope, receive, send)

    # asyncio.run leaves no loop current afterwards: close the one Mangum made at import first.
    close_current_loop()
    asyncio.run(exchange_once())
    return exchange


# ------------------------------------------------------------------------------ Lambda


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


def websocket_event(
    route: str,
    connection_id: str,
    *,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway WebSocket API event for the Lambda proxy integration, as AWS documents it.

    ``$connect`` carries the upgrade's headers and query, ``$default`` the frame's ``body``,
    ``$disconnect`` the close's status; each names its ``connectionId``.
    """
    kind = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    now = int(time.time() * 1000)
    context: dict[str, Any] = {
        "routeKey": route,
        "eventType": kind,
        "extendedRequestId": uuid.uuid4().hex[:16],
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
        "messageDirection": "IN",
        "stage": "test",
        "connectedAt": now,
        "requestTimeEpoch": now,
        "identity": {"sourceIp": "192.0.2.1"},
        "requestId": uuid.uuid4().hex[:16],
        "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
        "connectionId": connection_id,
        "apiId": "abc123",
    }
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if kind == "MESSAGE":
        context["messageId"] = uuid.uuid4().hex[:16]
        event["body"] = body
    else:
        sent = {"Host": context["domainName"], "Sec-WebSocket-Version": "13", **(headers or {})}
        event["headers"] = sent
        event["multiValueHeaders"] = {k: [v] for k, v in sent.items()}
    if kind == "CONNECT":
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = (
            {k: [v] for k, v in query.items()} if query else None
        )
    if kind == "DISCONNECT":
        context.update(disconnectStatusCode=1001, disconnectReason="Going away")
    return event


class LambdaContext:
    """The parts of Lambda's context object a handler reads."""

    function_name = "test"
    aws_request_id = "lambda-request"


def close_current_loop() -> None:
    """Close the loop Mangum made current when the function modules were imported, if still set.

    A test that invokes handlers sets its own loop; the old one would otherwise be left for the
    garbage collector, which warns about it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            return
    if not loop.is_running():
        loop.close()
