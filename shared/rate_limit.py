"""Rate limits: sliding windows per user and per client IP.

Each user has one window for requests and one for streamed message updates; anonymous sign-up
has one per client IP.

upstash-ratelimit keeps the windows in the same Upstash database, under the user's hash tag.
The decision about what a limiter's answer means for the response is a pure function.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from upstash_ratelimit.asyncio import Ratelimit
from upstash_ratelimit.limiter import Response, SlidingWindow

from shared.errors import RateLimited
from shared.keys import ip_rate_limit_identifier, user_tag
from shared.settings import Settings
from shared.upstash import Upstash, guard


@dataclass(frozen=True, slots=True)
class Quota:
    """What is left of a window, for the ``RateLimit-*`` response headers."""

    limit: int
    remaining: int
    reset_seconds: int
    """Seconds until the window resets."""

    def headers(self) -> dict[str, str]:
        """The IETF draft ``RateLimit-*`` headers describing this quota."""
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


def decide(response: Response, *, now: float, what: str) -> Quota:
    """The quota a limiter's answer leaves, or ``RateLimited`` when the request may not pass."""
    reset_seconds = max(1, math.ceil(response.reset - now))
    if not response.allowed:
        raise RateLimited(
            f"too many {what}: at most {response.limit} per window; retry after {reset_seconds} s",
            limit=response.limit,
            remaining=0,
            reset_seconds=reset_seconds,
        )
    return Quota(response.limit, response.remaining, reset_seconds)


class RateLimits:
    """The service's limiters, built once per container."""

    def __init__(self, upstash: Upstash, settings: Settings) -> None:
        self._upstash = upstash
        self._prefix = f"{settings.key_prefix}:rl"
        self._user = _limiter(
            settings.rate_limit_user_requests, settings.rate_limit_user_window_seconds
        )
        self._stream = _limiter(
            settings.rate_limit_stream_requests, settings.rate_limit_stream_window_seconds
        )
        self._anonymous = _limiter(
            settings.rate_limit_anonymous_requests, settings.rate_limit_anonymous_window_seconds
        )

    async def check_user(self, user_id: str, *, streaming: bool = False) -> Quota | None:
        """Count one request of ``user_id`` (a streamed delta when ``streaming``).

        None when that limit is off.
        """
        if streaming:
            return await self._check(
                self._stream, user_tag(user_id) + ":stream", "streamed updates"
            )
        return await self._check(self._user, user_tag(user_id), "requests")

    def user_window_keys(self, user_id: str, now_ms: int) -> list[str]:
        """The keys of the user's current and previous windows, so erasing a user erases them.

        upstash-ratelimit names a sliding window ``<prefix>:<identifier>:<window number>``.
        """
        keys = []
        for limiter, identifier in (
            (self._user, user_tag(user_id)),
            (self._stream, user_tag(user_id) + ":stream"),
        ):
            if limiter is not None:
                window_ms = limiter._window  # the library keeps it private
                current = now_ms // window_ms
                keys += [f"{self._prefix}:{identifier}:{w}" for w in (current - 1, current)]
        return keys

    async def check_anonymous_signup(self, client_ip: str) -> Quota | None:
        """Count one anonymous-token request from ``client_ip``; None when that limit is off."""
        return await self._check(
            self._anonymous, ip_rate_limit_identifier(client_ip), "anonymous sign-ups"
        )

    async def _check(
        self, limiter: SlidingWindow | None, identifier: str, what: str
    ) -> Quota | None:
        if limiter is None:
            return None
        ratelimit = Ratelimit(redis=self._upstash.redis, limiter=limiter, prefix=self._prefix)
        async with guard("rate limit"):
            response = await ratelimit.limit(identifier)
        return decide(response, now=time.time(), what=what)


def _limiter(requests: int, window_seconds: int) -> SlidingWindow | None:
    return SlidingWindow(max_requests=requests, window=window_seconds) if requests else None
