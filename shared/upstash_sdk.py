"""The one place that reaches past the public interface of upstash-redis (and of httpx).

upstash-redis 1.8 lacks three things the service needs, and each gap is closed here, nowhere
else:

- **A bounded, lean HTTP client.** The SDK builds its own ``httpx.AsyncClient`` with no timeout
  and offers no way to pass one. ``connect`` puts a ``Poster`` in its place: the SDK only ever
  calls ``post(url, headers=..., json=...)`` on it.
- **A read-your-writes token per request.** The SDK keeps one token per client and sends it
  with every request; a container serves many devices, so ``set_sync_token`` gives this
  request the device's token and ``sync_token`` reads the one Upstash answered.
- **Closing** the HTTP client it holds (``aclose``).

``tests/shared/test_upstash_sdk.py`` fails loudly when the installed SDK is not the version
this module was checked against, or when an attribute it reaches for has moved. The artifact
installs the SDK from the lock, so production runs the version the tests ran.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
from upstash_redis.asyncio import Redis

__all__ = [
    "CHECKED_VERSION",
    "Deadline",
    "Poster",
    "aclose",
    "connect",
    "set_sync_token",
    "sync_token",
]

CHECKED_VERSION = "1.8.0"
"""The upstash-redis release whose internals this module was read against."""


def connect(
    url: str,
    token: str,
    *,
    retries: int,
    retry_interval: float,
    http: httpx.AsyncClient,
    on_failure: Callable[[httpx.RequestError], None] | None = None,
) -> Redis:
    """An SDK client that sends every command through ``http`` (its timeout, transport, hooks).

    ``on_failure`` hears of every attempt that ended without an answer.
    """
    client = Redis(
        url,
        token,
        rest_retries=retries,
        rest_retry_interval=retry_interval,
        allow_telemetry=False,
        # Every value the scripts answer is UTF-8 text (what the client sent, or digits):
        # base64 would only cost bytes and a decode per value (about 1 ms of a list page).
        rest_encoding=None,
    )
    client._http._client = Poster(http, on_failure)  # type: ignore[assignment]
    return client


def sync_token(client: Redis) -> str | None:
    """The read-your-writes token Upstash answered the client's last request with."""
    token: str | None = client._sync_token
    return token


def set_sync_token(client: Redis, token: str) -> None:
    """Send ``token`` with the client's next request (nothing may await in between)."""
    client._sync_token = token


async def aclose(client: Redis) -> None:
    """Close the HTTP client ``connect`` gave the SDK."""
    await client._http._client.aclose()


class Poster:
    """What the SDK posts each command through: the httpx client's request, sent leaner.

    The SDK calls only ``post(url, headers=..., json=...)``. Through ``httpx.AsyncClient`` that
    request is built with the client's headers, timeout and transport, then sent by machinery
    Upstash needs none of: cookie jars (``http.cookiejar`` on every request and answer; Upstash
    sets no cookies), auth flows and redirect handling. That cost more than a tenth of a
    millisecond per call. Here the same request (the client's default headers, then the SDK's,
    the JSON body, the client's timeout) goes to the transport the client would pick (its
    proxy mounts included), through the client's event hooks, and is answered read.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        on_failure: Callable[[httpx.RequestError], None] | None = None,
    ) -> None:
        self.client = client
        self._on_failure = on_failure
        self._extensions = {"timeout": client.timeout.as_dict()}
        self._urls: dict[str, httpx.URL] = {}

    async def post(self, url: str, *, headers: dict[str, str], json: Any) -> httpx.Response:
        """POST ``json`` to ``url`` as ``self.client.post`` would; the answer is read."""
        client = self.client
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = httpx.URL(url)
        merged = httpx.Headers(client.headers)
        merged.update(headers)
        request = httpx.Request(
            "POST", parsed, headers=merged, json=json, extensions=dict(self._extensions)
        )
        for hook in client.event_hooks["request"]:
            await hook(request)
        try:
            response = await client._transport_for_url(parsed).handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            if self._on_failure is not None:
                self._on_failure(exc)
            raise
        response.request = request
        try:
            await response.aread()
            for hook in client.event_hooks["response"]:
                await hook(response)
        except BaseException:
            await response.aclose()
            raise
        _httpx_logger.info(
            'HTTP Request: %s %s "%s %d %s"',
            request.method,
            request.url,
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )
        return response

    async def aclose(self) -> None:
        """Close the httpx client."""
        await self.client.aclose()


# httpx's own logger, which logs each request the client sends (at INFO).
_httpx_logger = logging.getLogger("httpx")


class Deadline(httpx.AsyncBaseTransport):
    """Ends each HTTP request, its whole response body read, within ``seconds``.

    httpx's own timeouts bound each connect, write and read, not a request: an Upstash that
    keeps sending a little could hold one attempt, and the function, far past the timeout. The
    SDK retries a ``TimeoutException`` like any failure, so a call takes at most
    ``seconds x (retries + 1)`` plus its sleeps between attempts.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._transport = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read its whole response before the deadline."""
        try:
            async with asyncio.timeout(self._seconds):
                response = await self._transport.handle_async_request(request)
                try:
                    await response.aread()
                except BaseException:
                    await response.aclose()
                    raise
        except TimeoutError:
            msg = f"no complete answer within {self._seconds} s"
            raise httpx.TimeoutException(msg, request=request) from None
        return response

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._transport.aclose()
