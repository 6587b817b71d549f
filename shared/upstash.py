"""The one place that talks to Upstash: a client per container and a runner for scripts.

The store decides *what* to send (a Lua script and its arguments); this module sends it as one
HTTP request and sorts every way that can fail into two classes:

- **An outage** -- a refused connection, a timeout, a 5xx, a body that is not Upstash's JSON --
  becomes ``StoreUnavailable`` (503), so no handler ever reports success for a write that did
  not happen, and none answers 500 for an outage. Outages feed the container's circuit breaker
  (``shared/breaker.py``), which, once open, answers 503 at once without sending a request.
- **An answer that refuses the call** (``{"error": text}``): sorted by its text in
  ``shared/upstash_replies.py``. A Redis error reply to a script (``ERR user_script:12: ...``,
  ``WRONGTYPE ...``) is a bug in the script or its keys: a 500 ``internal_error``, logged with
  the script's name. ``NOSCRIPT`` falls back to ``EVAL``. Upstash busy, over a plan limit or
  given a wrong token: 503 with Retry-After; a request too large for Upstash: 413; a text no
  row knows: 503 and a log line. None of them counts as an outage.

A write whose outcome cannot be learned (an attempt reached Upstash, and no answer came back)
is a 503 that says so; the SDK's own re-send of a call is safe, since every write script
answers a second run of the same request as the first (``shared/store/calls.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import httpx
from upstash_redis.asyncio import Redis
from upstash_redis.errors import UpstashError

from shared import upstash_sdk
from shared.breaker import (
    RETRY_AFTER_SECONDS,
    BreakerOpen,
    BreakerState,
    CircuitBreaker,
    Permit,
)
from shared.errors import InternalError, OutcomeUnknown, PayloadTooLarge, StoreUnavailable
from shared.settings import Settings
from shared.upstash_replies import UNKNOWN, Refusal, classify

__all__ = ["RETRY_AFTER_SECONDS", "Call", "Received", "Script", "Upstash"]

logger = logging.getLogger(__name__)


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


class Call(NamedTuple):
    """One script call, ready to send: the script, its ``KEYS`` and its ``ARGV``."""

    script: Script
    keys: list[str]
    args: list[str]
    writes: bool = False
    """The script writes the user's data (more than a rate-limit window): when it may have
    run without an answer, its outcome is unknown."""


class Received(NamedTuple):
    """What Upstash answered one request, and the read-your-writes token it answered with.

    Upstash answers every request with an ``Upstash-Sync-Token``; a request that sends one back
    is answered (from a replica too) only once that state is visible. A device passes the
    token it last got to whichever Lambda container answers its next request.
    """

    answer: Any
    sync_token: str | None
    """Upstash's newest token: this answer's, else the one the request sent."""


class Upstash:
    """An Upstash REST client with bounded timeouts and a circuit breaker, made once per container.

    The SDK's async HTTP client belongs to the event loop it first ran on. Lambda (through
    Mangum) keeps one loop per container, so one client serves every invocation; a host that
    runs each request on a new loop gets a new client rather than a broken one. The breaker is
    the container's, whatever the loop: ``clock_ms`` (monotonic milliseconds) is its clock,
    injected by tests. ``wrap_transport`` wraps the HTTP transport every request goes through
    (the benchmark records each request with it).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        timeout_seconds: float | None = None,
        clock_ms: Callable[[], int] | None = None,
        wrap_transport: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport]
        | None = None,
    ) -> None:
        self._url = settings.upstash_redis_rest_url
        self._token = settings.upstash_redis_rest_token.get_secret_value()
        self._timeout = timeout_seconds or settings.upstash_timeout_seconds
        self._retries = settings.upstash_retries
        self._retry_interval = settings.upstash_retry_interval_seconds
        self._wrap_transport = wrap_transport
        self._client: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # After a NOSCRIPT, Upstash has lost its scripts (a restart): until each script has been
        # sent whole once, send it whole, so that a request that runs several scripts pays
        # one extra round trip, not one per script. None: no script is known to be lost.
        self._sent_whole: set[str] | None = None
        self.requests = 0  # HTTP requests sent, for logs and benchmarks
        # A probe can take as long as any call: every attempt cut off, and the sleeps between.
        call_worst_case = self._timeout * (self._retries + 1) + self._retry_interval * self._retries
        extra = {} if clock_ms is None else {"clock_ms": clock_ms}
        self.breaker = CircuitBreaker(
            failures=settings.upstash_breaker_failures,
            open_seconds=settings.upstash_breaker_open_seconds,
            max_open_seconds=settings.upstash_breaker_max_open_seconds,
            probe_lease_seconds=call_worst_case + 1.0,
            **extra,
        )

    @property
    def redis(self) -> Redis:
        """The SDK client for the running event loop."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            transport: httpx.AsyncBaseTransport = upstash_sdk.Deadline(self._timeout)
            if self._wrap_transport is not None:
                transport = self._wrap_transport(transport)
            client = upstash_sdk.connect(
                self._url,
                self._token,
                retries=self._retries,
                retry_interval=self._retry_interval,
                http=httpx.AsyncClient(
                    timeout=httpx.Timeout(self._timeout),
                    transport=transport,
                    event_hooks={"request": [self._count_request], "response": [_note_status]},
                ),
                on_failure=_note_failure,
            )
            self._client, self._loop = client, loop
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client (tests and the dev server; Lambda never needs to)."""
        if self._client is not None:
            await upstash_sdk.aclose(self._client)
            self._client = None

    async def _count_request(self, _request: httpx.Request) -> None:
        self.requests += 1

    async def run(self, call: Call, *, sync_token: str | None = None) -> Received:
        """Send ``call`` as one request: by SHA, with the source only when Upstash lacks it.

        ``sync_token`` (a device's) goes with the request; the answer comes back with the
        token Upstash answered.
        """
        script = call.script
        suffix = "_RO" if script.read_only else ""
        arguments = [len(call.keys), *call.keys, *call.args]
        whole = [f"EVAL{suffix}", script.source, *arguments]
        write = call.writes
        try:
            if self._sent_whole is not None and script.sha not in self._sent_whole:
                result = await self._send(script.name, whole, sync_token=sync_token, write=write)
                self._sent_whole.add(script.sha)
                return result
            try:
                return await self._send(
                    script.name,
                    [f"EVALSHA{suffix}", script.sha, *arguments],
                    sync_token=sync_token,
                    write=write,
                )
            except _ErrorReply as reply:
                # Upstash forgets loaded scripts on restart, and a new database never had them.
                if reply.refusal.kind != "noscript":
                    raise
            self._sent_whole = {script.sha}
            return await self._send(script.name, whole, sync_token=sync_token, write=write)
        except _ErrorReply as reply:
            raise _script_bug(script.name, reply) from reply

    async def get(self, key: str) -> str | None:
        """One ``GET``: a plain string value (a WebSocket connection's owner), None when absent."""
        try:
            answer = (await self._send("get", ["GET", key])).answer
        except _ErrorReply as reply:
            raise _script_bug("get", reply) from reply
        return None if answer is None else str(answer)

    async def ping(self, *, timeout_seconds: float | None = None) -> None:
        """One PING round trip; raises ``StoreUnavailable`` when Upstash does not answer PONG.

        ``timeout_seconds`` bounds the whole call, retries included (health's deadline); a
        PING cut off by it counts as an outage, like any other timeout.
        """
        try:
            answer = (await self._send("ping", ["PING"], deadline=timeout_seconds)).answer
        except (_ErrorReply, PayloadTooLarge) as reply:
            # No script ran: whatever refused the PING, the store is not there for the calls.
            raise StoreUnavailable(
                "the conversation store refused a PING; retry later",
                retry_after=self.breaker.retry_after(),
            ) from reply
        if answer != "PONG":
            raise StoreUnavailable(
                f"Upstash answered PING with {answer!r}", retry_after=self.breaker.retry_after()
            )

    async def _send(
        self,
        operation: str,
        command: list[Any],
        *,
        deadline: float | None = None,
        sync_token: str | None = None,
        write: bool = False,
    ) -> Received:
        """Send one command through the breaker; tell the breaker how it ended.

        ``deadline``: seconds the whole call may take, retries included (None: the attempts'
        own timeouts bound it). ``sync_token``: the device's, sent with the command.
        ``write``: the command may write, so an outage after it may
        have reached Upstash leaves its outcome unknown, and the 503 says so.

        Raises ``StoreUnavailable`` for an outage, an open breaker and a refusal that a retry
        may get past; ``PayloadTooLarge`` for a request too large for Upstash; ``_ErrorReply``
        for ``NOSCRIPT`` and for a reply that says the script is wrong, which the caller
        either handles (``NOSCRIPT``) or reports as a bug.
        """
        try:
            permit = self.breaker.admit()
        except BreakerOpen as exc:
            # No request, no log line per call: the breaker logged when it opened.
            raise StoreUnavailable(
                "the conversation store is unavailable; calls are paused for a few seconds "
                "while it recovers; nothing was written, so retrying is safe",
                retry_after=exc.retry_after,
            ) from None
        state_before = self.breaker.state
        attempts = _Attempts()
        token = _ATTEMPTS.set(attempts)
        try:
            redis = self.redis
            if sync_token:
                # The SDK sends its client's last token with every request; for this request,
                # the device's. (No await between setting it and the request taking it.)
                upstash_sdk.set_sync_token(redis, sync_token)
            async with asyncio.timeout(deadline):
                result = await redis.execute(command)
            answered_token = upstash_sdk.sync_token(redis) or sync_token
        except UpstashError as exc:
            status = attempts.statuses[-1] if attempts.statuses else None
            message = str(exc)
            refusal = classify(message)
            if refusal is UNKNOWN and (status is None or status >= 500):
                # Not a refusal Upstash is known to send: a failing Upstash, or what is in
                # front of it.
                self.breaker.failed(permit)
                raise self._outage(operation, exc, state_before, attempts, write=write) from exc
            self._answered(permit, state_before)  # (a refusal is an answer: Upstash is up)
            if write and attempts.maybe_ran and refusal.kind not in ("noscript", "bug"):
                # This attempt was refused, but an earlier one may have run.
                raise self._outage(operation, exc, state_before, attempts, write=write) from exc
            raise self._refused(operation, refusal, message, status) from exc
        except TimeoutError as exc:  # the deadline, not an attempt's timeout
            self.breaker.failed(permit)
            error = self._outage(operation, exc, state_before, attempts, write=write)
            error.detail = f"Upstash did not answer within {deadline} s"
            raise error from None
        except _OUTAGES as exc:
            self.breaker.failed(permit)
            raise self._outage(operation, exc, state_before, attempts, write=write) from exc
        except BaseException:
            self.breaker.released(permit)  # cancelled: it says nothing about Upstash
            raise
        finally:
            _ATTEMPTS.reset(token)
        self._answered(permit, state_before)
        return Received(result, answered_token)

    def _answered(self, permit: Permit, state_before: BreakerState) -> None:
        self.breaker.succeeded(permit)
        if state_before is not BreakerState.CLOSED:
            logger.warning("upstash answered again: circuit breaker closed")

    def _refused(
        self, operation: str, refusal: Refusal, message: str, status: int | None
    ) -> Exception:
        """The error to raise for Upstash's refusal of a call (``shared/upstash_replies.py``)."""
        if refusal.kind in ("noscript", "bug"):
            return _ErrorReply(message, refusal)
        if refusal.kind == "too_large":
            logger.warning("upstash %s refused (HTTP %s): %s", operation, status, message)
            return PayloadTooLarge(
                "the request is too large for the conversation store; nothing was written: "
                "send less at once (fewer conversations or messages per request)"
            )
        if refusal is UNKNOWN:
            logger.warning(
                "upstash %s refused (HTTP %s), unclassified: %s", operation, status, message
            )
        elif refusal.kind == "busy":
            logger.warning("upstash %s refused (HTTP %s): %s", operation, status, message)
        else:  # the database's plan or the deployment's settings: its owner must act
            logger.error("upstash %s refused (HTTP %s): %s", operation, status, message)
        return StoreUnavailable(
            "the conversation store refused the call for now; nothing was written; retry later",
            retry_after=max(refusal.retry_after, self.breaker.retry_after()),
        )

    def _outage(
        self,
        operation: str,
        exc: Exception,
        state_before: BreakerState,
        attempts: _Attempts,
        *,
        write: bool,
    ) -> StoreUnavailable:
        # The exception text can carry Upstash's URL; keep it in the log, out of the response.
        logger.warning("upstash %s failed: %s: %s", operation, type(exc).__name__, exc)
        state = self.breaker.state
        if state is BreakerState.OPEN:
            retry_after = self.breaker.retry_after()
            if state_before is BreakerState.CLOSED:
                logger.error(
                    "upstash failed %d times in a row: circuit breaker open for %d s",
                    self.breaker.consecutive_failures,
                    retry_after,
                )
            else:
                logger.error("upstash probe failed: circuit breaker open for %d s", retry_after)
        timed_out = isinstance(exc, httpx.TimeoutException | TimeoutError)
        kind = "timed out" if timed_out else "is unavailable"
        if write and attempts.maybe_ran:
            # The call may have run, and no answer said so: the write is applied or not,
            # whole either way. A re-send under the same Idempotency-Key learns which.
            logger.warning("upstash %s: outcome unknown", operation)
            return OutcomeUnknown(
                f"the conversation store {kind} before confirming the write: it may have been "
                "applied, wholly or not at all; send it again with the same Idempotency-Key to "
                "apply it exactly once (without one, it may be applied twice)",
                retry_after=self.breaker.retry_after(),
            )
        return StoreUnavailable(
            f"the conversation store {kind}; nothing was half-written, so retrying is safe",
            retry_after=self.breaker.retry_after(),
        )


# What the SDK raises when Upstash is down, slow, or answers something that is not its JSON. An
# UpstashError is sorted by the HTTP status of the answer that carried it (``_send``).
_OUTAGES = (httpx.HTTPError, json.JSONDecodeError, KeyError, TypeError, ValueError)


@dataclass(slots=True)
class _Attempts:
    """What the attempts at the command being sent found, in this task.

    ``statuses``: the HTTP status of each answer (the SDK raises the same UpstashError for a
    refusal as for a 5xx with a JSON body; the status tells them apart). ``maybe_ran``: an
    attempt may have reached Upstash without its answer coming back (sent, then no answer, a
    5xx or nonsense), so a write may have been applied.
    """

    statuses: list[int] = field(default_factory=list)
    maybe_ran: bool = False


# A context variable, because calls of concurrent requests share the client; each request (each
# asyncio task) sees only its own.
_ATTEMPTS: ContextVar[_Attempts | None] = ContextVar("upstash_attempts", default=None)


async def _note_status(response: httpx.Response) -> None:
    attempts = _ATTEMPTS.get()
    if attempts is not None:
        attempts.statuses.append(response.status_code)
        if not 400 <= response.status_code < 500:  # (4xx: refused before anything ran)
            attempts.maybe_ran = True


def _note_failure(exc: httpx.RequestError) -> None:
    # A connection never made sent nothing; any other failure may have come after Upstash
    # read the whole request.
    attempts = _ATTEMPTS.get()
    if attempts is not None and not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        attempts.maybe_ran = True


class _ErrorReply(Exception):
    """Upstash answered ``NOSCRIPT``, or a reply that says the script or its keys are wrong."""

    def __init__(self, message: str, refusal: Refusal) -> None:
        super().__init__(message)
        self.message = message
        self.refusal = refusal


def _script_bug(operation: str, reply: _ErrorReply) -> InternalError:
    # Upstash is fine; the script (or the keys it was given) is not. Retrying will not help, so
    # a 503 would be a lie; the log names the script so the bug can be found.
    logger.error("upstash %s: Redis error reply (a bug): %s", operation, reply.message)
    return InternalError(
        f"the conversation store rejected the {operation} call; this is a bug on our side, "
        "reported in the log under this response's X-Request-Id"
    )
