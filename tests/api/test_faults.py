"""Upstash faults the real thing cannot produce on demand, injected with respx.

Every endpoint answers 503 store_unavailable with Retry-After: never 500, never a claimed
success.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from starlette.testclient import TestClient

from tests.factories import ClientFactory, auth, conversation

FAKE_UPSTASH = "https://fake-upstash.test"

FAULTS: dict[str, Any] = {
    "500 html": httpx.Response(500, text="<html>Internal Server Error</html>"),
    "502 empty": httpx.Response(502),
    "garbage 200": httpx.Response(200, text="not json at all"),
    "json without result": httpx.Response(200, json={"unexpected": True}),
    "connect refused": httpx.ConnectError("connection refused"),
    "read timeout": httpx.ReadTimeout("timed out"),
    "wrong token": httpx.Response(401, json={"error": "WRONGPASS invalid or missing auth token"}),
}

CALLS = [
    ("GET", "/api/conversations", None),
    ("GET", "/api/conversations/c1", None),
    ("PUT", "/api/conversations/c1", conversation()),
    ("DELETE", "/api/conversations/c1", None),
]


@pytest.fixture
def faulty(make_client: ClientFactory) -> Iterator[tuple[TestClient, respx.MockRouter]]:
    with respx.mock(base_url=FAKE_UPSTASH, assert_all_called=False) as router:
        client = make_client(
            upstash_redis_rest_url=FAKE_UPSTASH,
            rate_limit_user_requests=0,
            health_timeout_seconds=0.3,
        )
        yield client, router


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_store_failures_are_503(
    faulty: tuple[TestClient, respx.MockRouter],
    fault: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    client, router = faulty
    router.post(url__regex=".*").mock(side_effect=[FAULTS[fault]] * 4)
    response = client.request(method, path, json=body, headers=auth())
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "store_unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert FAKE_UPSTASH not in response.text


def test_rate_limit_check_failure_is_503(make_client: ClientFactory) -> None:
    with respx.mock(base_url=FAKE_UPSTASH) as router:
        router.post(url__regex=".*").mock(side_effect=httpx.ConnectError("down"))
        client = make_client(upstash_redis_rest_url=FAKE_UPSTASH)
        response = client.get("/api/conversations", headers=auth())
    assert response.status_code == 503
    assert response.json()["code"] == "store_unavailable"


@pytest.mark.parametrize(
    ("user_limit", "commands"),
    [(0, ["EVALSHA_RO", "EVAL_RO"]), (600, ["EVALSHA", "EVAL"])],
    ids=["read-only-without-a-limit", "counting-the-limit"],
)
def test_noscript_falls_back_to_eval(
    make_client: ClientFactory, user_limit: int, commands: list[str]
) -> None:
    # A fresh (or restarted) Upstash has no scripts loaded: EVALSHA fails, EVAL follows. A
    # read that writes nothing (no rate limit to count) goes read-only both times.
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        command = json.loads(request.content)
        sent.append(command[0])
        if command[0].startswith("EVALSHA"):
            return httpx.Response(400, json={"error": "NOSCRIPT No matching script."})
        # (The SDK asks for base64: every string of the answer is base64, "MA==" is "0".)
        quota = -2 if user_limit == 0 else 599
        zero = "MA=="
        return httpx.Response(200, json={"result": [quota, "b2s=", [], [], [zero, zero, zero]]})

    with respx.mock(base_url=FAKE_UPSTASH) as router:
        router.post(url__regex=".*").mock(side_effect=answer)
        client = make_client(
            upstash_redis_rest_url=FAKE_UPSTASH,
            rate_limit_user_requests=user_limit,
        )
        response = client.get("/api/conversations", headers=auth())
    assert response.status_code == 200, response.text
    assert sent == commands


def test_timeouts_are_bounded(make_client: ClientFactory) -> None:
    # The SDK has no timeout of its own; ours must end a hung request.
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json={"result": "PONG"})

    # (A request cancelled mid-flight is not recorded as a call.)
    with respx.mock(base_url=FAKE_UPSTASH, assert_all_called=False) as router:
        router.post(url__regex=".*").mock(side_effect=hang)
        client = make_client(upstash_redis_rest_url=FAKE_UPSTASH, health_timeout_seconds=0.2)
        response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert "0.2 s" in body["error"]
