"""The adapter over upstash-redis's internals fails here, loudly, when the SDK changes.

``shared/upstash_sdk.py`` reaches for three things the SDK does not offer publicly: the HTTP
client it posts through, its read-your-writes token, and (in httpx) the transport a URL goes
to. These tests pin the SDK release the adapter was read against and prove each reach on a
real round trip through the stand-in.
"""

from __future__ import annotations

import asyncio
import inspect
from importlib.metadata import version

import httpx
import upstash_redis.http

from shared import upstash_sdk
from tests.factories import Standin


def test_the_installed_sdk_is_the_release_the_adapter_was_read_against() -> None:
    installed = version("upstash-redis")
    assert installed == upstash_sdk.CHECKED_VERSION, (
        f"upstash-redis is {installed}, shared/upstash_sdk.py was checked against "
        f"{upstash_sdk.CHECKED_VERSION}: re-read the SDK's Redis.__init__, "
        "AsyncHttpClient.execute and its sync token, adjust the adapter, then CHECKED_VERSION"
    )


def test_the_sdk_still_posts_through_the_client_the_adapter_replaces() -> None:
    source = inspect.getsource(upstash_redis.http.AsyncHttpClient.execute)
    assert "self._client.post(" in source
    assert "json=command" in source
    assert hasattr(httpx.AsyncClient, "_transport_for_url")


def test_a_round_trip_goes_through_the_adapter_with_the_device_token(standin: Standin) -> None:
    sent: list[httpx.Request] = []

    async def note(request: httpx.Request) -> None:
        sent.append(request)

    async def main() -> tuple[object, str | None]:
        http = httpx.AsyncClient(
            timeout=5, transport=upstash_sdk.Deadline(5), event_hooks={"request": [note]}
        )
        client = upstash_sdk.connect(
            standin.url, standin.token, retries=0, retry_interval=0, http=http
        )
        try:
            await client.execute(["SET", "sdk-adapter-test", "1", "EX", 60])
            written = upstash_sdk.sync_token(client)
            upstash_sdk.set_sync_token(client, "device-token")
            pong = await client.execute(["PING"])
        finally:
            await upstash_sdk.aclose(client)
        assert http.is_closed
        return pong, written

    pong, written = asyncio.run(main())
    assert pong == "PONG"
    assert written  # Upstash's token after a write was read
    assert len(sent) == 2  # both commands went through the adapter's client
    assert sent[1].headers["upstash-sync-token"] == "device-token"
