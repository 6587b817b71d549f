"""A per-container circuit breaker in front of Upstash: fail fast while it is down.

Without it, every request during an outage waits out the Upstash timeout and its retries (about
4 s) before answering 503, and every container keeps hammering a dead endpoint. The breaker
counts consecutive *outage* failures of Upstash calls (timeouts, refused connections, 5xx,
answers that are not Upstash's JSON) and, at ``failures`` of them in a row, opens:

- **closed**: calls go through; a success resets the count.
- **open**: calls fail at once, with no request sent, and a ``Retry-After`` that says when the
  breaker will let a probe through.
- **half-open**: the open period is over; the next call is let through as the one probe, the
  others still fail fast. The probe's success closes the breaker; its failure opens it again
  for twice as long, at most ``max_open_seconds``.

It decides only; :class:`shared.upstash.Upstash` sends the calls and tells it how each ended. A
call whose outcome says nothing about Upstash's health (cancelled, say) is ``released``: a
probe's slot is then free for the next call. A Redis error reply or a 4xx answer proves that
Upstash answered, so it counts as a success here (a script bug is not an outage).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from enum import StrEnum
from typing import NamedTuple

#: Seconds a client is asked to wait when a failure leaves the breaker closed: it may be a blip.
RETRY_AFTER_SECONDS = 1


class BreakerState(StrEnum):
    """Where the breaker is; the values are what health reports as ``redis.breaker``."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class Permit(NamedTuple):
    """Leave to make one Upstash call; hand it back with the call's outcome.

    ``probe`` is the one call let through half-open: only its outcome closes or reopens the
    breaker. ``generation`` ties the permit to the breaker's state when it was given, so a call
    that was already in flight when the breaker opened cannot close it by succeeding late.
    """

    probe: bool
    generation: int


class BreakerOpen(Exception):
    """The breaker refused a call: no request was sent. ``retry_after`` is in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"circuit open; next probe in {retry_after} s")
        self.retry_after = retry_after


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class CircuitBreaker:
    """Counts consecutive Upstash outages and refuses calls while it is open.

    ``failures`` consecutive failures open it (0: never); it stays open ``open_seconds`` the
    first time, twice as long after each failed probe, at most ``max_open_seconds``.
    ``probe_lease_seconds`` bounds how long one probe can hold the half-open slot: a probe
    that never reports back (its task killed) cannot keep every other call out for good.
    ``clock_ms`` is a monotonic clock in milliseconds (injected by tests).
    """

    def __init__(
        self,
        *,
        failures: int,
        open_seconds: float,
        max_open_seconds: float,
        probe_lease_seconds: float,
        clock_ms: Callable[[], int] = _monotonic_ms,
    ) -> None:
        self._threshold = failures
        self._base_open_ms = round(open_seconds * 1000)
        self._max_open_ms = max(self._base_open_ms, round(max_open_seconds * 1000))
        self._lease_ms = round(probe_lease_seconds * 1000)
        self._clock_ms = clock_ms
        self._consecutive = 0
        self._open_ms = self._base_open_ms  # the length of the current (or next) open period
        self._open_until: int | None = None  # None: closed
        self._probe_until: int | None = None  # a probe holds the half-open slot until then
        self._generation = 0

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose period is over reads as half-open)."""
        if self._open_until is None:
            return BreakerState.CLOSED
        if self._clock_ms() < self._open_until:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def consecutive_failures(self) -> int:
        """Failures in a row since the last success."""
        return self._consecutive

    def retry_after(self) -> int:
        """Whole seconds a client should wait before retrying, by the state now.

        Open: until the probe is let through. Closed, or half-open with a probe under way: a
        second, by when the failure may have passed or the probe will have answered.
        """
        if self._open_until is None:
            return RETRY_AFTER_SECONDS
        remaining_ms = self._open_until - self._clock_ms()
        if remaining_ms <= 0:
            return RETRY_AFTER_SECONDS
        return max(RETRY_AFTER_SECONDS, math.ceil(remaining_ms / 1000))

    def admit(self) -> Permit:
        """Leave for one call, or ``BreakerOpen`` when the call must fail at once."""
        if self._open_until is None:
            return Permit(probe=False, generation=self._generation)
        now = self._clock_ms()
        if now < self._open_until:
            raise BreakerOpen(self.retry_after())
        if self._probe_until is not None and now < self._probe_until:
            raise BreakerOpen(RETRY_AFTER_SECONDS)  # a probe is under way
        self._probe_until = now + self._lease_ms
        self._generation += 1
        return Permit(probe=True, generation=self._generation)

    def succeeded(self, permit: Permit) -> None:
        """Upstash answered the call: a probe's answer closes the breaker."""
        if self._open_until is None:
            self._consecutive = 0
        elif permit.probe and permit.generation == self._generation:
            self._close()

    def failed(self, permit: Permit) -> None:
        """The call met an outage: count it, and open (or reopen) when it is time."""
        if self._open_until is None:
            self._consecutive += 1
            if self._threshold and self._consecutive >= self._threshold:
                self._open(self._base_open_ms)
        elif permit.probe and permit.generation == self._generation:
            self._consecutive += 1
            self._open(min(self._open_ms * 2, self._max_open_ms))

    def released(self, permit: Permit) -> None:
        """The call ended saying nothing about Upstash (cancelled): free a probe's slot."""
        if permit.probe and permit.generation == self._generation:
            self._probe_until = None

    def _open(self, period_ms: int) -> None:
        self._open_ms = period_ms
        self._open_until = self._clock_ms() + period_ms
        self._probe_until = None
        self._generation += 1

    def _close(self) -> None:
        self._consecutive = 0
        self._open_ms = self._base_open_ms
        self._open_until = None
        self._probe_until = None
        self._generation += 1
