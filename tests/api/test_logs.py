"""The structured request log: one JSON line per request, with ids that trace and nothing secret.

Real requests against the Upstash stand-in, through a TestClient and through Mangum as Lambda
invokes a function. The lines are read from the ``chat_store`` logger itself (it does not
propagate, and writes to the stdout it saw when it was configured), by a handler added for the
test; anything the service logs elsewhere is read through ``caplog``.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import logging
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

import httpx
import pytest
from mangum import Mangum
from pydantic import SecretStr
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient

from functions import all_routes
from shared import scripts
from shared.app import Services, create_app
from shared.models import Conversation
from shared.settings import Settings
from shared.upstash import Script
from tests.factories import (
    ANONYMOUS_SECRET,
    JWT_SECRET,
    ClientFactory,
    LambdaContext,
    Standin,
    asgi_request,
    auth,
    close_current_loop,
    conversation,
    http_api_v2_event,
    token_for,
)

FIELDS = {
    "timestamp",
    "level",
    "requestId",
    "function",
    "method",
    "route",
    "status",
    "durationMs",
    "upstashRequests",
}
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
USER_HASH = re.compile(r"[0-9a-f]{16}")


class Reply(Protocol):
    """What the tests read of a test client's response (httpx's or httpx2's)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    def json(self, **kwargs: Any) -> Any: ...


class LogCapture(logging.Handler):
    """Every record the ``chat_store`` logger emits while installed."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]

    def json_lines(self) -> list[dict[str, Any]]:
        lines = []
        for message in self.messages():
            try:
                parsed = json.loads(message)
            except ValueError:
                continue  # a traceback's record, say
            assert isinstance(parsed, dict)
            lines.append(parsed)
        return lines

    def only_line(self) -> dict[str, Any]:
        """The one JSON line logged since the last call (there must be exactly one)."""
        lines = self.json_lines()
        assert len(lines) == 1, self.messages()
        assert all("\n" not in m for m in self.messages() if m.startswith("{")), self.messages()
        self.records.clear()
        return lines[0]


@pytest.fixture
def log() -> Iterator[LogCapture]:
    # A function module configures the logger at import, as on a Lambda cold start; adding a
    # handler first would make the service think it was already configured.
    importlib.import_module("functions.health")
    logger = logging.getLogger("chat_store")
    assert logger.propagate is False
    assert logger.getEffectiveLevel() == logging.INFO
    capture = LogCapture()
    logger.addHandler(capture)
    yield capture
    logger.removeHandler(capture)


@pytest.fixture(autouse=True)
def scripts_loaded(standin: Standin) -> None:
    """A database that has seen every script, as one in service has: EVALSHA finds each.

    (The first use of a script on a new database costs one more request, EVALSHA's NOSCRIPT
    and then EVAL; tests/deploy/test_timeouts.py counts that case.)
    """
    for script in vars(scripts).values():
        if isinstance(script, Script):
            answer = httpx.post(
                standin.url,
                json=["SCRIPT", "LOAD", script.source],
                headers={"Authorization": f"Bearer {standin.token}"},
            )
            assert answer.json() == {"result": script.sha}, answer.text


@pytest.fixture
def refused_url() -> Iterator[str]:
    """An http:// URL on a loopback port that is bound but not listening: connections fail."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def logged(log: LogCapture, send: Callable[[], Reply]) -> tuple[Reply, Any]:
    """The response to ``send()`` and the one line it logged."""
    log.records.clear()
    response = send()
    return response, log.only_line()


def check_common(line: dict[str, Any], response: Reply, started: datetime) -> None:
    """The fields every line has, and what they must look like."""
    assert set(line) >= FIELDS, line
    stamp = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == timedelta(0)
    # Written to the millisecond (truncated), after the request began.
    assert started.replace(microsecond=started.microsecond // 1000 * 1000) <= stamp
    assert stamp <= datetime.now(UTC)
    assert line["level"] == ("ERROR" if response.status_code >= 500 else "INFO")
    assert line["status"] == response.status_code
    assert line["requestId"] == response.headers["x-request-id"]
    assert isinstance(line["durationMs"], int | float)
    assert not isinstance(line["durationMs"], bool)
    assert line["durationMs"] >= 0
    assert isinstance(line["upstashRequests"], int)
    assert not isinstance(line["upstashRequests"], bool)
    if response.headers.get("content-type") == "application/problem+json":
        assert line["errorCode"] == response.json()["code"]
    elif response.status_code >= 400:
        assert isinstance(line["errorCode"], str)
    else:
        assert "errorCode" not in line


def test_one_line_per_request_with_every_field(client: TestClient, log: LogCapture) -> None:
    user = "user-fields-1"
    started = datetime.now(UTC)
    health, line = logged(log, lambda: client.get("/api/health"))
    assert health.status_code == 200
    check_common(line, health, started)
    assert line["method"] == "GET"
    assert line["route"] == "/api/health"
    assert line["upstashRequests"] == 1  # one PING
    assert "userHash" not in line  # no token, no user

    started = datetime.now(UTC)
    created, line = logged(
        log,
        lambda: client.put("/api/conversations/c1", json=conversation(), headers=auth(user)),
    )
    assert created.status_code == 201
    check_common(line, created, started)
    assert line["method"] == "PUT"
    assert line["route"] == "/api/conversations/{id}"
    assert "c1" not in line["route"]
    # One script does the rate-limit check and the write (EVALSHA, script loaded).
    assert line["upstashRequests"] == 1
    assert USER_HASH.fullmatch(line["userHash"])

    started = datetime.now(UTC)
    appended, line = logged(
        log,
        lambda: client.post(
            "/api/conversations/c1/messages",
            json={"id": "m9", "type": "user", "content": "hi", "timestamp": "2025-03-01T09:00Z"},
            headers=auth(user),
        ),
    )
    assert appended.status_code == 201, appended.text
    check_common(line, appended, started)
    assert (line["method"], line["route"]) == ("POST", "/api/conversations/{id}/messages")
    assert line["upstashRequests"] == 1

    started = datetime.now(UTC)
    got, line = logged(log, lambda: client.get("/api/conversations/c1", headers=auth(user)))
    assert got.status_code == 200
    check_common(line, got, started)
    assert line["route"] == "/api/conversations/{id}"
    # A read counts its rate limit in its own script too: one request.
    assert line["upstashRequests"] == 1


def test_error_lines_carry_the_problem_code(client: TestClient, log: LogCapture) -> None:
    user = "user-errors-1"
    started = datetime.now(UTC)
    missing, line = logged(log, lambda: client.get("/api/conversations/nope", headers=auth(user)))
    assert missing.status_code == 404
    check_common(line, missing, started)
    assert line["errorCode"] == "not_found"
    assert line["level"] == "INFO"
    assert line["route"] == "/api/conversations/{id}"
    assert USER_HASH.fullmatch(line["userHash"])
    assert line["upstashRequests"] == 1

    # No token at all: refused before any Upstash request, and no user to hash.
    started = datetime.now(UTC)
    anonymous, line = logged(log, lambda: client.get("/api/conversations"))
    assert anonymous.status_code == 401
    check_common(line, anonymous, started)
    assert line["errorCode"] == "unauthorized"
    assert line["upstashRequests"] == 0
    assert "userHash" not in line

    # A forged token is as unauthorized, and as anonymous in the log.
    forged = token_for(user)[:-4] + "AAAA"
    bad, line = logged(
        log,
        lambda: client.get("/api/conversations", headers={"Authorization": f"Bearer {forged}"}),
    )
    assert bad.status_code == 401
    assert line["errorCode"] == "unauthorized"
    assert "userHash" not in line

    mismatch, line = logged(
        log,
        lambda: client.put("/api/conversations/c2", json=conversation("c3"), headers=auth(user)),
    )
    assert mismatch.status_code == 400
    assert line["errorCode"] == "id_mismatch"
    assert USER_HASH.fullmatch(line["userHash"])

    wrong_method, line = logged(log, lambda: client.post("/api/health"))
    assert wrong_method.status_code == 405
    assert line["errorCode"] == "method_not_allowed"


def test_store_unavailable_is_an_error_line(
    make_client: ClientFactory, log: LogCapture, refused_url: str
) -> None:
    client = make_client(upstash_redis_rest_url=refused_url)

    started = datetime.now(UTC)
    health, line = logged(log, lambda: client.get("/api/health"))
    assert health.status_code == 503
    check_common(line, health, started)
    assert line["level"] == "ERROR"
    assert line["errorCode"] == "store_unavailable"
    assert line["upstashRequests"] == 1  # one attempt (UPSTASH_RETRIES=0 in the tests)

    started = datetime.now(UTC)
    put, line = logged(
        log, lambda: client.put("/api/conversations/c1", json=conversation(), headers=auth())
    )
    assert put.status_code == 503
    check_common(line, put, started)
    assert line["level"] == "ERROR"
    assert line["errorCode"] == "store_unavailable"
    assert USER_HASH.fullmatch(line["userHash"])
    assert line["upstashRequests"] == 1  # the one script failed; nothing was written


def test_a_bug_is_a_500_with_one_line_and_a_traceback(settings: Settings, log: LogCapture) -> None:
    async def broken(request: Request) -> Any:
        raise RuntimeError("a bug")

    svc = Services.from_settings(settings)
    app = create_app([Route("/api/broken/{id}", broken, methods=["GET"])], services=svc)
    with TestClient(app, raise_server_exceptions=False) as client:
        log.records.clear()
        response = client.get("/api/broken/x1")
        client.portal.call(svc.upstash.aclose)  # type: ignore[union-attr]
    # The traceback is a record of its own, under the same request id; the JSON line is one.
    tracebacks = [record for record in log.records if record.exc_info]
    assert len(tracebacks) == 1
    assert response.headers["x-request-id"] in tracebacks[0].getMessage()
    line = log.only_line()
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert line["level"] == "ERROR"
    assert line["errorCode"] == "internal_error"
    assert line["route"] == "/api/broken/{id}"
    assert line["requestId"] == response.headers["x-request-id"]


def test_a_stored_nan_is_a_logged_500_never_invalid_json(
    settings: Settings, log: LogCapture
) -> None:
    # The models refuse NaN now; one stored before they did, or written around the API, must
    # not reach the frontend as a bare NaN that JSON.parse refuses.
    svc = Services.from_settings(settings)
    app = create_app(all_routes(), services=svc)
    stored = Conversation.model_validate(conversation("nan1")).model_copy(
        update={"mcp_servers": {"s": {"timeout": float("nan")}}}
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        client.portal.call(svc.store.put_conversation, svc.rate_limits.caller("alice"), stored)  # type: ignore[union-attr]
        log.records.clear()
        responses = [
            client.get("/api/conversations/nan1", headers=auth()),
            client.get("/api/conversations", headers=auth()),
        ]
        client.portal.call(svc.upstash.aclose)  # type: ignore[union-attr]
    for response in responses:
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert "NaN" not in response.text
        assert response.json()["code"] == "internal_error"
    assert len([record for record in log.records if record.exc_info]) == 2
    assert [line["level"] for line in log.json_lines()] == ["ERROR", "ERROR"]


@pytest.mark.parametrize(
    "request_line",
    [
        "PUT /api/conversations/c1",
        "POST /api/conversations/c1/messages",
        "PATCH /api/conversations/c1/messages/m1",
        "POST /api/import",
    ],
)
@pytest.mark.parametrize("chunks", [[], [b'{"id": "c1", "ti'], [b'{"id":', b' "c1"']])
def test_a_client_hanging_up_mid_body_is_its_doing_not_a_500(
    settings: Settings,
    log: LogCapture,
    caplog: pytest.LogCaptureFixture,
    request_line: str,
    chunks: list[bytes],
) -> None:
    # receive() answers http.disconnect before the body is complete, as when a tab closes.
    method, path = request_line.split(" ")
    svc = Services.from_settings(settings)
    app = create_app(all_routes(), services=svc)
    log.records.clear()
    exchange = asgi_request(
        app,
        method,
        path,
        headers=[
            (b"authorization", auth()["Authorization"].encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"4000"),
        ],
        chunks=chunks,
        disconnect=True,
    )
    assert exchange.status == 499
    assert json.loads(exchange.body)["code"] == "client_disconnected"
    assert not [record for record in log.records if record.exc_info]
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    line = log.only_line()
    assert line["status"] == 499
    assert line["level"] == "INFO"
    assert line["errorCode"] == "client_disconnected"
    assert line["upstashRequests"] == 0


def test_function_name_comes_from_lambda_environment(
    make_client: ClientFactory, log: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "chat-store-test-health")
    named = make_client()
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    local = make_client()
    assert logged(log, lambda: named.get("/api/health"))[1]["function"] == (
        "chat-store-test-health"
    )
    assert logged(log, lambda: local.get("/api/health"))[1]["function"] == "local"


def test_request_id_from_the_client_is_echoed_and_logged(
    client: TestClient, log: LogCapture
) -> None:
    supplied = "trace-1234-abcd"
    response, line = logged(
        log, lambda: client.get("/api/health", headers={"X-Request-Id": supplied})
    )
    assert response.headers["x-request-id"] == supplied
    assert line["requestId"] == supplied

    longest = "r" * 128
    response, line = logged(
        log, lambda: client.get("/api/health", headers={"X-Request-Id": longest})
    )
    assert response.headers["x-request-id"] == line["requestId"] == longest


def test_request_id_is_generated_when_absent(client: TestClient, log: LogCapture) -> None:
    first, line = logged(log, lambda: client.get("/api/health"))
    assert GENERATED_ID.fullmatch(first.headers["x-request-id"])
    assert line["requestId"] == first.headers["x-request-id"]
    second, line = logged(log, lambda: client.get("/api/health"))
    assert line["requestId"] == second.headers["x-request-id"] != first.headers["x-request-id"]


@pytest.mark.parametrize(
    "supplied",
    [
        pytest.param("r" * 129, id="too-long"),
        pytest.param("", id="empty"),
        pytest.param("a\tb", id="tab"),
        pytest.param("a\x7fb", id="delete"),
        pytest.param("a\x85b", id="latin-1-control"),
    ],
)
def test_unusable_request_id_is_replaced(
    client: TestClient, log: LogCapture, supplied: str
) -> None:
    # Raw header bytes, as a client can send them (httpx would refuse some as text).
    headers = [(b"x-request-id", supplied.encode("latin-1"))]
    response, line = logged(log, lambda: client.get("/api/health", headers=headers))
    assert response.status_code == 200
    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])
    assert line["requestId"] == response.headers["x-request-id"]


@pytest.fixture
def lambda_function(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, dict[str, Any]], dict[str, Any]]]:
    """Invoke a function module's app through Mangum, as Lambda does, named as on AWS.

    Each app is built exactly as its module builds it (``handler = Mangum(create_app(routes))``)
    but on the stand-in's services, so the request log counts that app's Upstash requests.
    """
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "chat-store-test-fn")
    svc = Services.from_settings(settings)
    close_current_loop()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handlers: dict[str, Any] = {}

    def invoke(name: str, event: dict[str, Any]) -> dict[str, Any]:
        if name not in handlers:
            module = importlib.import_module(f"functions.{name}")
            handlers[name] = Mangum(create_app(module.routes, services=svc), lifespan="off")
        result: dict[str, Any] = handlers[name](event, LambdaContext())
        return result

    yield invoke
    loop.run_until_complete(svc.upstash.aclose())
    loop.close()
    asyncio.set_event_loop(None)


def test_api_gateway_request_id_wins_through_mangum(
    lambda_function: Callable[[str, dict[str, Any]], dict[str, Any]], log: LogCapture
) -> None:
    user = "user-lambda-7"
    event = http_api_v2_event(
        "PUT",
        "/api/conversations/c1",
        route_key="PUT /api/conversations/{id}",
        body=conversation(),
        headers={"authorization": f"Bearer {token_for(user)}", "x-request-id": "from-client"},
        path_parameters={"id": "c1"},
    )
    event["requestContext"]["requestId"] = "Ab1cDEfGhIjKl="
    log.records.clear()
    response = lambda_function("put_conversation", event)
    line = log.only_line()
    assert response["statusCode"] == 201, response["body"]
    assert response["headers"]["x-request-id"] == "Ab1cDEfGhIjKl="
    assert line["requestId"] == "Ab1cDEfGhIjKl="
    assert line["function"] == "chat-store-test-fn"
    assert (line["method"], line["route"], line["status"]) == (
        "PUT",
        "/api/conversations/{id}",
        201,
    )
    assert line["level"] == "INFO"
    assert line["upstashRequests"] == 1
    assert USER_HASH.fullmatch(line["userHash"])
    assert "errorCode" not in line

    missing = http_api_v2_event(
        "GET",
        "/api/conversations/gone",
        route_key="GET /api/conversations/{id}",
        headers={"authorization": f"Bearer {token_for(user)}"},
        path_parameters={"id": "gone"},
    )
    missing["requestContext"]["requestId"] = "Zz9yXWvUtSrQp="
    response = lambda_function("get_conversation", missing)
    line = log.only_line()
    assert response["statusCode"] == 404
    assert response["headers"]["x-request-id"] == line["requestId"] == "Zz9yXWvUtSrQp="
    assert line["errorCode"] == "not_found"


def test_user_hash_identifies_a_user_without_naming_it(
    client: TestClient, make_client: ClientFactory, log: LogCapture, refused_url: str
) -> None:
    carol, dave = "user-carol-9931", "user-dave-4410"
    hashes = []
    for user in (carol, carol, dave):
        response, line = logged(log, partial(client.get, "/api/conversations", headers=auth(user)))
        assert response.status_code == 200
        hashes.append(line["userHash"])
    assert hashes[0] == hashes[1]
    assert hashes[0] != hashes[2]
    assert all(USER_HASH.fullmatch(h) for h in hashes)
    # Keyed: not a plain hash of the id, which anyone could compute from a guessed id...
    for algorithm in ("blake2b", "sha256", "sha1", "md5"):
        assert hashes[0] not in hashlib.new(algorithm, carol.encode()).hexdigest()
    assert hashes[0] != hashlib.blake2b(carol.encode(), digest_size=8).hexdigest()
    # ...and the key is the deployment's (derived from its Upstash token).
    other = make_client(upstash_redis_rest_url=refused_url, upstash_redis_rest_token=SecretStr("x"))
    response, line = logged(log, lambda: other.get("/api/conversations", headers=auth(carol)))
    assert response.status_code == 503
    assert USER_HASH.fullmatch(line["userHash"])
    assert line["userHash"] != hashes[0]


def test_nothing_secret_is_logged(
    settings: Settings,
    client: TestClient,
    log: LogCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every other logger too, at its most talkative
    user = "user-carol-9931"
    token = token_for(user)
    bearer = {"Authorization": f"Bearer {token}"}
    body = conversation("c1")
    body["messages"][0]["content"] = "secret-body-7f3a in a conversation"
    body["title"] = "secret-title-51c2"

    responses = [
        client.put("/api/conversations/c1", json=body, headers=bearer),
        client.post(
            "/api/conversations/c1/messages",
            json={
                "id": "m7",
                "type": "user",
                "content": "secret-body-7f3a appended",
                "timestamp": "2025-03-01T09:00:00.000Z",
            },
            headers=bearer,
        ),
        client.patch(
            "/api/conversations/c1/messages/m7",
            json={"appendContent": " secret-delta-0b9e"},
            headers=bearer,
        ),
        client.get("/api/conversations/c1", headers=bearer),
        client.get("/api/me/export", headers=bearer),
        # Refused ones: a conflicting body, a body that fails validation, a forged token.
        client.post(
            "/api/conversations/c1/messages",
            json={
                "id": "m7",
                "type": "user",
                "content": "secret-body-7f3a conflicting",
                "timestamp": "2025-03-01T09:00:00.000Z",
            },
            headers=bearer,
        ),
        client.put(
            "/api/conversations/c1",
            json={**body, "messages": [{"content": "secret-body-7f3a invalid"}]},
            headers=bearer,
        ),
        client.get("/api/conversations", headers={"Authorization": f"Bearer {token}x"}),
    ]
    assert [r.status_code for r in responses] == [201, 201, 200, 200, 200, 409, 422, 401]

    lines = log.json_lines()
    assert len(lines) == len(responses)
    assert {line.get("userHash") for line in lines[:-1]} == {lines[0]["userHash"]}
    assert "userHash" not in lines[-1]

    text = "\n".join(log.messages() + [record.getMessage() for record in caplog.records])
    secrets = {
        "the bearer token": token,
        "the message content": "secret-body-7f3a",
        "a streamed delta": "secret-delta-0b9e",
        "the title": "secret-title-51c2",
        "the raw user id": user,
        "the Upstash token": settings.upstash_redis_rest_token.get_secret_value(),
        "the sign-in secret": JWT_SECRET,
        "the anonymous-token secret": ANONYMOUS_SECRET,
    }
    for segment in token.split("."):
        secrets[f"a token segment {segment[:6]}"] = segment
    signature = token.split(".")[2]
    for start in range(0, len(signature) - 12, 6):
        secrets[f"part of the signature at {start}"] = signature[start : start + 12]
    leaked = [what for what, value in secrets.items() if value in text]
    assert leaked == [], text
