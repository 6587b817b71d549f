"""The container's circuit breaker on the running app: Upstash faults injected with respx.

The breaker reads the test's clock (``make_client(clock=...)``), so open periods pass without
sleeping. Every request the breaker lets through reaches the respx route, so the route's call
count is what Upstash would have seen.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
import respx
from starlette.testclient import TestClient

from shared.errors import StoreUnavailable
from shared.upstash import Upstash
from tests.factories import ClientFactory, Clock, auth, close_current_loop, make_settings

FAKE_UPSTASH = "https://breaker-upstash.test"
PONG = httpx.Response(200, json={"result": "PONG"})
# A list script's answer: no rate limit, "ok", no rows, list version, feed generation and
# sequence "0", nothing to resume.
EMPTY_LIST = httpx.Response(200, json={"result": [-2, "ok", [], [], "0", "0", "0", []]})


class FakeUpstash:
    """A respx side effect: down (refused connections) or up, as the test says."""

    def __init__(self) -> None:
        self.down = True

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused")
        command = json.loads(request.content)
        return PONG if command[0] == "PING" else EMPTY_LIST


@pytest.fixture
def upstash() -> Iterator[tuple[FakeUpstash, respx.Route]]:
    fake = FakeUpstash()
    with respx.mock(base_url=FAKE_UPSTASH) as router:
        route = router.post(url__regex=".*").mock(side_effect=fake)
        yield fake, route


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(make_client: ClientFactory, clock: Clock) -> TestClient:
    return make_client(
        clock=clock,
        upstash_redis_rest_url=FAKE_UPSTASH,
        rate_limit_user_requests=0,
        upstash_breaker_failures=3,
        upstash_breaker_open_seconds=5,
        upstash_breaker_max_open_seconds=20,
    )


def list_conversations(client: TestClient) -> httpx2.Response:
    return client.get("/api/conversations", headers=auth())


def assert_unavailable(response: httpx2.Response, retry_after: int) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "store_unavailable"
    assert response.headers["retry-after"] == str(retry_after)


def health(client: TestClient) -> tuple[httpx2.Response, dict[str, Any]]:
    response = client.get("/api/health")
    body: dict[str, Any] = response.json()
    return response, body


def test_closed_to_open_after_n_failures_then_fast_without_a_request(
    client: TestClient, upstash: tuple[FakeUpstash, respx.Route], clock: Clock
) -> None:
    _, route = upstash
    # Two failures: still closed, each tried, "retry in a second".
    for _ in range(2):
        assert_unavailable(list_conversations(client), retry_after=1)
    assert route.call_count == 2
    # The third opens it: the answer already says when the probe comes.
    assert_unavailable(list_conversations(client), retry_after=5)
    assert route.call_count == 3
    # Open: every call answers at once, no request sent, counting down to the probe.
    assert_unavailable(list_conversations(client), retry_after=5)
    clock.advance(2.5)
    assert_unavailable(client.get("/api/me", headers=auth()), retry_after=3)
    response, body = health(client)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"  # the same count as the functions'
    assert body["status"] == "unhealthy"
    assert body["redis"] == {"breaker": "open", "retryAfter": 3}
    assert route.call_count == 3


def test_probe_success_closes_the_breaker(
    client: TestClient, upstash: tuple[FakeUpstash, respx.Route], clock: Clock
) -> None:
    fake, route = upstash
    for _ in range(3):
        list_conversations(client)
    clock.advance(5)
    fake.down = False
    _, body = health(client)  # health's PING is the probe: it closes the breaker
    assert body["status"] == "healthy"
    assert body["redis"]["breaker"] == "closed"
    assert route.call_count == 4
    assert list_conversations(client).status_code == 200
    assert route.call_count == 5


def test_probe_failure_reopens_for_longer(
    client: TestClient, upstash: tuple[FakeUpstash, respx.Route], clock: Clock
) -> None:
    _, route = upstash
    for _ in range(3):
        list_conversations(client)
    retry_afters = []
    for _ in range(3):
        clock.advance(int(list_conversations(client).headers["retry-after"]))
        calls = route.call_count
        probe = list_conversations(client)  # the one probe: let through, fails
        assert route.call_count == calls + 1
        retry_afters.append(int(probe.headers["retry-after"]))
        assert_unavailable(list_conversations(client), retry_after=retry_afters[-1])
        assert route.call_count == calls + 1
    assert retry_afters == [10, 20, 20]  # doubled, capped at the maximum
    _, body = health(client)
    assert body["redis"] == {"breaker": "open", "retryAfter": 20}


def test_health_reports_a_closed_breaker_after_a_failure_below_the_threshold(
    client: TestClient, upstash: tuple[FakeUpstash, respx.Route]
) -> None:
    response, body = health(client)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"  # the functions' value, not a constant of its own
    assert body["redis"] == {"breaker": "closed"}


def test_half_open_lets_exactly_one_probe_through(standin: Any, clock: Clock) -> None:
    # Two calls at once when the open period is over: one probes, the other fails fast. The
    # probe's request is held until the second call has been answered.
    settings = make_settings(
        standin,
        upstash_redis_rest_url=FAKE_UPSTASH,
        upstash_breaker_failures=1,
        upstash_breaker_open_seconds=5,
    )
    upstash = Upstash(settings, clock_ms=clock)

    async def scenario(router: respx.MockRouter) -> None:
        release, probing = asyncio.Event(), asyncio.Event()
        arrived: list[httpx.Request] = []  # respx records a call only once it is answered

        async def answer(request: httpx.Request) -> httpx.Response:
            arrived.append(request)
            if len(arrived) == 1:
                raise httpx.ConnectError("refused")  # the failure that opens the breaker
            probing.set()
            await release.wait()
            return PONG

        route = router.post(url__regex=".*").mock(side_effect=answer)
        try:
            with pytest.raises(StoreUnavailable):
                await upstash.ping()
            clock.advance(5)
            probe = asyncio.create_task(upstash.ping())
            await probing.wait()  # the probe has taken the half-open slot and sent
            with pytest.raises(StoreUnavailable) as refused:
                await upstash.ping()
            assert refused.value.headers["Retry-After"] == "1"
            assert len(arrived) == 2
            release.set()
            await probe
            assert upstash.breaker.state.value == "closed"
            await upstash.ping()
            assert route.call_count == 3
        finally:
            await upstash.aclose()

    # asyncio.run leaves no loop current: close the one Mangum set at import rather than leak it.
    close_current_loop()
    with respx.mock(base_url=FAKE_UPSTASH) as router:
        asyncio.run(scenario(router))


def test_health_timeouts_count_as_outages(make_client: ClientFactory, clock: Clock) -> None:
    # Health's own deadline cuts a hung PING off; that is an outage like any other timeout.
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return PONG

    with respx.mock(base_url=FAKE_UPSTASH, assert_all_called=False) as router:
        router.post(url__regex=".*").mock(side_effect=hang)
        client = make_client(
            clock=clock,
            upstash_redis_rest_url=FAKE_UPSTASH,
            health_timeout_seconds=0.05,
            upstash_breaker_failures=2,
        )
        first, body = health(client)
        assert first.headers["retry-after"] == "1"
        assert "0.05 s" in body["error"]
        second, body = health(client)
    assert second.headers["retry-after"] == "5"
    assert body["redis"] == {"breaker": "open", "retryAfter": 5}
