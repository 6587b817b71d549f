"""Upstash faults the real thing cannot produce on demand, injected with respx.

An outage (no answer, a 5xx, an answer that is not Upstash's JSON) or a refusal such as a wrong
token: every endpoint answers 503 store_unavailable with Retry-After, never 500, never a claimed
success. A Redis error reply to a script is a bug, not an outage: 500 internal_error.
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
        quota = -2 if user_limit == 0 else 599
        return httpx.Response(200, json={"result": [quota, "ok", [], [], "0", "0", "0", []]})

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


# A Redis error reply to a script is a bug (the script, or the keys it was given), not an
# outage: 500, never 503, and the breaker does not count it. Upstash sends it as HTTP 400.
SCRIPT_BUGS = {
    "lua error": "ERR user_script:12: attempt to compare nil with number script: 1a2b, on "
    "@user_script:12.",
    "wrong type": "WRONGTYPE Operation against a key holding the wrong kind of value",
}


@pytest.mark.parametrize("reply", list(SCRIPT_BUGS))
def test_a_redis_error_reply_is_a_500_naming_the_script(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture, reply: str
) -> None:
    with respx.mock(base_url=FAKE_UPSTASH) as router:
        route = router.post(url__regex=".*").mock(
            return_value=httpx.Response(400, json={"error": SCRIPT_BUGS[reply]})
        )
        client = make_client(
            upstash_redis_rest_url=FAKE_UPSTASH,
            rate_limit_user_requests=0,
            upstash_breaker_failures=2,
        )
        with caplog.at_level("ERROR", logger="shared.upstash"):
            responses = [client.get("/api/conversations", headers=auth()) for _ in range(4)]
    for response in responses:
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "internal_error"
        assert "retry-after" not in response.headers
        assert SCRIPT_BUGS[reply] not in response.text
    assert route.call_count == 4  # twice the breaker's threshold, and it never opened
    logged = [r.getMessage() for r in caplog.records if r.name == "shared.upstash"]
    assert len(logged) == 4
    assert all("list_conversations" in line and SCRIPT_BUGS[reply] in line for line in logged)


# The outage class: no answer, or an answer from a failing Upstash. 503, counted by the breaker.
OUTAGES: dict[str, Any] = {
    "connect refused": httpx.ConnectError("connection refused"),
    "read timeout": httpx.ReadTimeout("timed out"),
    "500 with an error body": httpx.Response(500, json={"error": "internal error"}),
    "502 empty": httpx.Response(502),
}


@pytest.mark.parametrize("fault", list(OUTAGES))
def test_an_outage_is_a_503_that_the_breaker_counts(make_client: ClientFactory, fault: str) -> None:
    with respx.mock(base_url=FAKE_UPSTASH) as router:
        route = router.post(url__regex=".*").mock(side_effect=[OUTAGES[fault]] * 2)
        client = make_client(
            upstash_redis_rest_url=FAKE_UPSTASH,
            rate_limit_user_requests=0,
            upstash_breaker_failures=2,
        )
        responses = [client.get("/api/conversations", headers=auth()) for _ in range(3)]
    assert [r.status_code for r in responses] == [503, 503, 503]
    assert all(r.json()["code"] == "store_unavailable" for r in responses)
    assert route.call_count == 2  # the breaker opened: the third call sent nothing
    assert responses[0].headers["retry-after"] == "1"
    assert responses[2].headers["retry-after"] == "5"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(401, json={"error": "WRONGPASS invalid or missing auth token"}),
        httpx.Response(400, json={"error": "ERR max daily request limit exceeded"}),
        httpx.Response(400, json={"error": "BUSY Redis is busy running a script."}),
    ],
    ids=["wrong-token", "plan-limit", "busy"],
)
def test_a_refusal_that_is_not_a_bug_is_a_503_the_breaker_does_not_count(
    make_client: ClientFactory, answer: httpx.Response
) -> None:
    with respx.mock(base_url=FAKE_UPSTASH) as router:
        route = router.post(url__regex=".*").mock(return_value=answer)
        client = make_client(
            upstash_redis_rest_url=FAKE_UPSTASH,
            rate_limit_user_requests=0,
            upstash_breaker_failures=2,
        )
        responses = [client.get("/api/conversations", headers=auth()) for _ in range(3)]
    assert [r.status_code for r in responses] == [503, 503, 503]
    assert all(r.json()["code"] == "store_unavailable" for r in responses)
    assert route.call_count == 3  # Upstash answered every time: nothing to open for
