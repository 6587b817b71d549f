"""Concurrency and streaming through the real chain.

Concurrent writers lose nothing; readers of a streamed reply only ever see a prefix of it;
paging back covers any history exactly once; a streamed reply fits the default rate limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from functions import all_routes
from shared.app import Services, create_app
from shared.settings import Settings
from tests.factories import auth, conversation, message

HEADERS = auth("concurrent-user")


@asynccontextmanager
async def device(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """One frontend device: its own app (its own Lambda container) and HTTP client."""
    svc = Services.from_settings(settings.model_copy(update=overrides))
    app = create_app(all_routes(), services=svc)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", headers=HEADERS
    ) as client:
        yield client
    await svc.upstash.aclose()


def test_two_devices_appending_concurrently_lose_nothing(settings: Settings) -> None:
    per_device = 500

    async def run() -> dict[str, Any]:
        async with (
            device(settings, rate_limit_user_requests=0) as a,
            device(settings, rate_limit_user_requests=0) as b,
        ):

            async def append_all(client: httpx.AsyncClient, name: str) -> None:
                for i in range(per_device):
                    response = await client.post(
                        "/api/conversations/shared/messages",
                        json=message(
                            f"{name}-{i}",
                            f"{name} says {i}",
                            tokens={"input": 1, "output": 0, "total": 1},
                        ),
                    )
                    assert response.status_code == 201, response.text

            await asyncio.gather(append_all(a, "a"), append_all(b, "b"))
            view = (await a.get("/api/conversations/shared?limit=500")).json()
            older = (
                await a.get(f"/api/conversations/shared?limit=500&before={view['nextCursor']}")
            ).json()
            me = (await b.get("/api/me")).json()
            return {"pages": [older, view], "me": me}

    result = asyncio.run(run())
    newest = result["pages"][1]
    assert newest["messageCount"] == 2 * per_device
    assert newest["totalTokens"] == 2 * per_device
    assert result["me"]["messageCount"] == 2 * per_device
    ids = [m["id"] for page in result["pages"] for m in page["messages"]]
    assert len(ids) == len(set(ids)) == 2 * per_device
    # Each device's messages appear in the order that device sent them.
    for name in ("a", "b"):
        mine = [int(i.split("-")[1]) for i in ids if i.startswith(f"{name}-")]
        assert mine == list(range(per_device))


def test_readers_of_a_streamed_reply_see_only_prefixes(settings: Settings) -> None:
    deltas = [f"token{i} " for i in range(300)]

    async def run() -> tuple[list[str], str]:
        async with device(settings) as writer, device(settings) as reader:
            await writer.post(
                "/api/conversations/s/messages", json=message("r", "", "assistant", streaming=True)
            )
            seen: list[str] = []
            done = asyncio.Event()

            async def stream() -> None:
                for i, delta in enumerate(deltas, start=1):
                    response = await writer.patch(
                        "/api/conversations/s/messages/r",
                        json={"appendContent": delta, "sequence": i},
                        headers={"Prefer": "return=minimal"},
                    )
                    assert response.status_code == 204, response.text
                await writer.patch("/api/conversations/s/messages/r", json={"streaming": False})
                done.set()

            async def poll() -> None:
                while not done.is_set():
                    view = (await reader.get("/api/conversations/s")).json()
                    seen.append(view["messages"][0]["content"])
                    await asyncio.sleep(0)

            await asyncio.gather(stream(), poll())
            final = (await reader.get("/api/conversations/s")).json()["messages"][0]
            assert final["streaming"] is False
            return seen, final["content"]

    seen, final = asyncio.run(run())
    assert final == "".join(deltas)
    assert len(seen) > 10
    assert all(final.startswith(text) for text in seen)
    assert len(set(seen)) > 2  # the reader really watched it grow


def test_paging_back_through_ten_thousand_messages(settings: Settings) -> None:
    async def run() -> list[str]:
        async with device(settings) as client:
            body = conversation("long", messages=10_000)
            assert (await client.put("/api/conversations/long", json=body)).status_code == 201
            ids: list[str] = []
            before = None
            while True:
                params: dict[str, Any] = {"limit": 500}
                if before:
                    params["before"] = before
                page = (await client.get("/api/conversations/long", params=params)).json()
                assert page["messageCount"] == 10_000
                ids = [m["id"] for m in page["messages"]] + ids
                before = page["nextCursor"]
                if before is None:
                    return ids

    ids = asyncio.run(run())
    assert ids == [f"m{i}" for i in range(10_000)]


def test_a_streamed_reply_fits_the_default_limits_and_a_flood_does_not(
    settings: Settings,
) -> None:
    # 20 deltas a second for a minute, sent as fast as possible: well inside one window.
    reply = 20 * 60
    defaults = Settings(
        upstash_redis_rest_url=settings.upstash_redis_rest_url,
        upstash_redis_rest_token=settings.upstash_redis_rest_token,
        auth_jwt_secret=settings.auth_jwt_secret,
        key_prefix=settings.key_prefix,
    )

    async def run() -> tuple[list[int], int, int]:
        async with device(defaults) as client:
            await client.post(
                "/api/conversations/f/messages", json=message("r", "", "assistant", streaming=True)
            )
            statuses = []
            for _ in range(reply):
                response = await client.patch(
                    "/api/conversations/f/messages/r",
                    json={"appendContent": "x"},
                    headers={"Prefer": "return=minimal"},
                )
                statuses.append(response.status_code)
            flood = 0
            while True:
                response = await client.patch(
                    "/api/conversations/f/messages/r",
                    json={"appendContent": "x"},
                    headers={"Prefer": "return=minimal"},
                )
                if response.status_code == 429:
                    assert response.json()["code"] == "rate_limited"
                    break
                flood += 1
                assert flood < reply, "a flood of deltas was never stopped"
            other = await client.get("/api/conversations")
            return statuses, flood, other.status_code

    statuses, flood, other = asyncio.run(run())
    assert set(statuses) == {204}
    # A sliding window counts part of the previous window, so a burst that straddles a window
    # boundary gets somewhat more than the limit through; never twice the limit.
    limit = defaults.rate_limit_stream_requests
    assert limit <= reply + flood < 2 * limit
    # The streamed reply did not spend the budget for everything else.
    assert other == 200
