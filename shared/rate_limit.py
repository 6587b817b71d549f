"""Rate limits: sliding windows per user (requests, streamed deltas) and per client IP.

A user's windows are checked inside the script of the call they limit (``rate_limit`` in
``shared/lua/lib/user.lua``), before it writes anything, so a limited call is still one Upstash
request. The windows make the same decisions as upstash-ratelimit's ``SlidingWindow``. This
module holds what is decided without I/O: which budget a call counts against, the arguments
that tell a script about it, and what the script's answer means for the response.
"""

from __future__ import annotations

import math
import secrets
from typing import NamedTuple

from shared.context import Caller
from shared.errors import RateLimited
from shared.keys import ip_idempotency_key, ip_rate_limit_key
from shared.refusals import About, error_of
from shared.scripts import ANONYMOUS_SIGNUP
from shared.settings import Settings
from shared.upstash import Upstash

# What a script answers instead of a quota: the call may not pass, or the budget is off.
DENIED = -1
OFF = -2


class Quota(NamedTuple):
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


class Budget(NamedTuple):
    """One sliding window: at most ``requests`` per ``window_ms``; 0 requests turns it off."""

    requests: int
    window_ms: int
    what: str
    """What it counts, for the 429's detail ("requests", "streamed updates")."""
    field: str
    """Where a user's window is kept in the user's summary hash."""

    @property
    def off(self) -> bool:
        """Whether this budget limits nothing."""
        return self.requests == 0

    def script_args(self) -> dict[str, str | int]:
        """The ``rl_*`` arguments that tell a script to check this budget."""
        return {"rl_max": self.requests, "rl_window": self.window_ms, "rl_field": self.field}

    def decide(self, answer: int, now_ms: int) -> Quota | None:
        """The quota a script's answer leaves (None when off); ``RateLimited`` when denied."""
        if answer == OFF:
            return None
        window_end = (now_ms // self.window_ms + 1) * self.window_ms
        reset_seconds = max(1, math.ceil((window_end - now_ms) / 1000))
        if answer == DENIED:
            raise RateLimited(
                f"too many {self.what}: at most {self.requests} per window; retry after "
                f"{reset_seconds} s",
                limit=self.requests,
                remaining=0,
                reset_seconds=reset_seconds,
            )
        return Quota(self.requests, max(0, answer), reset_seconds)


class AnonymousSignup(NamedTuple):
    """What the per-IP script decided about one anonymous sign-up."""

    quota: Quota | None
    """What is left of the IP's window (None when that limit is off)."""
    user_id: str
    """The user to answer the token of: the one minted now, or a retry's first answer's."""
    issued_at: int
    """That token's ``iat`` (seconds)."""


class RateLimits:
    """The service's budgets, built once per container from the settings."""

    def __init__(self, upstash: Upstash, settings: Settings) -> None:
        self._upstash = upstash
        self._prefix = settings.key_prefix
        self.requests = Budget(
            settings.rate_limit_user_requests,
            settings.rate_limit_user_window_seconds * 1000,
            "requests",
            "#rq",
        )
        self.stream = Budget(
            settings.rate_limit_stream_requests,
            settings.rate_limit_stream_window_seconds * 1000,
            "streamed updates",
            "#rs",
        )
        self.anonymous = Budget(
            settings.rate_limit_anonymous_requests,
            settings.rate_limit_anonymous_window_seconds * 1000,
            "anonymous sign-ups",
            "",
        )

    def caller(
        self,
        user_id: str,
        *,
        streaming: bool = False,
        sync_token: str | None = None,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> Caller:
        """``user_id``'s call, counted against the streamed-delta budget when ``streaming``."""
        budget = self.stream if streaming else self.requests
        return Caller(user_id, budget, sync_token, idempotency_key, fingerprint)

    async def check_anonymous_signup(self, client_ip: str, now_ms: int) -> Quota | None:
        """Count one anonymous-token request from ``client_ip``; None when that limit is off."""
        if self.anonymous.off:
            return None
        signup = await self.anonymous_signup(client_ip, now_ms, user_id="", issued_at=0)
        return signup.quota

    async def anonymous_signup(
        self,
        client_ip: str,
        now_ms: int,
        *,
        user_id: str,
        issued_at: int,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> AnonymousSignup:
        """Count a sign-up from ``client_ip`` that mints ``user_id``'s token at ``issued_at``.

        With ``idempotency_key`` (and the request's ``fingerprint``), a retry gets the user and
        instant the key first got, without counting again, and a key sent with another request
        is ``IdempotencyKeyReused``. Without one, the sign-up is counted under an id of its
        own, so that the Upstash client's re-send of a sign-up whose answer was lost answers
        what the first run answered instead of counting it twice. One Upstash request; none
        when the limit is off and no key was sent (then nothing is written).
        """
        budget = self.anonymous
        minted = AnonymousSignup(None, user_id, issued_at)
        if budget.off and idempotency_key is None:
            return minted
        request_id = "" if idempotency_key is not None else secrets.token_urlsafe(12)
        call = ANONYMOUS_SIGNUP.call(
            {
                "window": ip_rate_limit_key(self._prefix, client_ip),
                "idem": ip_idempotency_key(self._prefix, client_ip, idempotency_key, request_id),
            },
            {
                "now": now_ms,
                "rl_max": budget.requests,
                "rl_window": budget.window_ms,
                "idem_fp": fingerprint if idempotency_key is not None else "request",
                "rid": request_id,
                "user_id": user_id,
                "iat": issued_at,
            },
        )
        answer = (await self._upstash.run(call)).answer
        quota = budget.decide(int(answer[0]), now_ms)
        reply = ANONYMOUS_SIGNUP.replies.decode(answer)
        if reply.refused:
            raise error_of(reply, About(idempotency_key=idempotency_key or ""))
        return AnonymousSignup(quota, reply["user_id"], int(reply["iat"]))
