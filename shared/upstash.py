"""The one place that talks to Upstash: a client per container and a runner for scripts.

The store decides *what* to send (a Lua script and its arguments); this module sends it as one
HTTP request and turns every way that can fail -- a refused connection, a timeout, a 5xx, a
body that is not Upstash's JSON, a Redis error -- into ``StoreUnavailable``, so no handler ever
reports success for a write that did not happen, and none answers 500 for an outage.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from upstash_redis.asyncio import Redis
from upstash_redis.errors import UpstashError

from shared.errors import StoreUnavailable
from shared.settings import Settings

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script and the SHA1 that EVALSHA names it by.

    ``read_only`` scripts declare ``no-writes`` and go as ``EVALSHA_RO``: Upstash may answer
    them from a replica, and refuses them any write.
    """

    name: str
    source: str
    read_only: bool = False
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())  # noqa: S324  (Redis names scripts by SHA1)


@dataclass(frozen=True, slots=True)
class Call:
    """One script call, ready to send: the script, its ``KEYS`` and its ``ARGV``."""

    script: Script
    keys: list[str]
    args: list[str]


class Upstash:
    """An Upstash REST client with bounded timeouts, made once per container.

    The SDK's async HTTP client belongs to the event loop it first ran on. Lambda (through
    Mangum) keeps one loop per container, so one client serves every invocation; a host that
    runs each request on a new loop gets a new client rather than a broken one.
    """

    def __init__(self, settings: Settings, *, timeout_seconds: float | None = None) -> None:
        self._url = settings.upstash_redis_rest_url
        self._token = settings.upstash_redis_rest_token.get_secret_value()
        self._timeout = timeout_seconds or settings.upstash_timeout_seconds
        self._retries = settings.upstash_retries
        self._retry_interval = settings.upstash_retry_interval_seconds
        self._client: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # After a NOSCRIPT, Upstash has lost its scripts (a restart): until each script has been
        # sent whole once, send it whole, so that a request that runs several scripts pays
        # one extra round trip, not one per script. None: no script is known to be lost.
        self._sent_whole: set[str] | None = None
        self.requests = 0  # HTTP requests sent, for logs and benchmarks

    @property
    def redis(self) -> Redis:
        """The SDK client for the running event loop."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            client = Redis(
                self._url,
                self._token,
                rest_retries=self._retries,
                rest_retry_interval=self._retry_interval,
                allow_telemetry=False,
            )
            # The SDK offers no timeout setting and builds its httpx client without one.
            client._http._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                transport=_Deadline(self._timeout),
                event_hooks={"request": [self._count_request]},
            )
            self._client, self._loop = client, loop
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client (tests and the dev server; Lambda never needs to)."""
        if self._client is not None:
            await self._client._http._client.aclose()
            self._client = None

    async def _count_request(self, _request: httpx.Request) -> None:
        self.requests += 1

    async def run(self, call: Call) -> Any:
        """Send ``call`` as one request: by SHA, with the source only when Upstash lacks it."""
        redis = self.redis
        script = call.script
        suffix = "_RO" if script.read_only else ""
        arguments = [len(call.keys), *call.keys, *call.args]
        whole = [f"EVAL{suffix}", script.source, *arguments]
        async with guard(script.name):
            if self._sent_whole is not None and script.sha not in self._sent_whole:
                result = await redis.execute(whole)
                self._sent_whole.add(script.sha)
                return result
            try:
                return await redis.execute([f"EVALSHA{suffix}", script.sha, *arguments])
            except UpstashError as exc:
                # Upstash forgets loaded scripts on restart, and a new database never had them.
                if not str(exc).startswith("NOSCRIPT"):
                    raise
            self._sent_whole = {script.sha}
            return await redis.execute(whole)

    async def ping(self) -> None:
        """One PING round trip; raises ``StoreUnavailable`` when Upstash does not answer PONG."""
        async with guard("ping"):
            answer = await self.redis.ping()
        if answer != "PONG":
            raise StoreUnavailable(
                f"Upstash answered PING with {answer!r}", retry_after=RETRY_AFTER_SECONDS
            )


class _Deadline(httpx.AsyncBaseTransport):
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


# What the SDK raises when Upstash is down, slow, or answers something that is not its JSON.
_FAILURES = (UpstashError, httpx.HTTPError, json.JSONDecodeError, KeyError, TypeError, ValueError)


@asynccontextmanager
async def guard(operation: str) -> AsyncIterator[None]:
    """Turn every way an Upstash call can fail into ``StoreUnavailable``."""
    try:
        yield
    except _FAILURES as exc:
        raise _unavailable(operation, exc) from exc


def _unavailable(operation: str, exc: Exception) -> StoreUnavailable:
    # The exception text can carry Upstash's URL; keep it in the log, out of the response.
    logger.warning("upstash %s failed: %s: %s", operation, type(exc).__name__, exc)
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "is unavailable"
    return StoreUnavailable(
        f"the conversation store {kind}; nothing was half-written, so retrying is safe",
        retry_after=RETRY_AFTER_SECONDS,
    )
