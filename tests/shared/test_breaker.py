"""The circuit breaker's state machine on its own, on a clock the tests move (no sleeps)."""

from __future__ import annotations

import pytest

from shared.breaker import BreakerOpen, BreakerState, CircuitBreaker, Permit
from tests.factories import Clock


def make_breaker(clock: Clock, *, failures: int = 3) -> CircuitBreaker:
    return CircuitBreaker(
        failures=failures,
        open_seconds=5,
        max_open_seconds=20,
        probe_lease_seconds=10,
        clock_ms=clock,
    )


def state(breaker: CircuitBreaker) -> BreakerState:
    """The breaker's state, read afresh (a property would stay narrowed for mypy)."""
    return breaker.state


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.failed(breaker.admit())


def refused(breaker: CircuitBreaker) -> int:
    """The Retry-After of the refusal ``admit`` must raise now."""
    with pytest.raises(BreakerOpen) as caught:
        breaker.admit()
    return caught.value.retry_after


def test_opens_after_n_consecutive_failures_only() -> None:
    clock = Clock()
    breaker = make_breaker(clock)
    fail(breaker, 2)
    breaker.succeeded(breaker.admit())  # a success in between starts the count again
    fail(breaker, 2)
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.retry_after() == 1
    fail(breaker)
    assert state(breaker) is BreakerState.OPEN
    assert breaker.retry_after() == 5
    assert refused(breaker) == 5


def test_retry_after_counts_down_to_the_probe_rounding_up() -> None:
    clock = Clock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.advance(1.2)
    assert refused(breaker) == 4
    clock.advance(3.7)  # 0.1 s left
    assert refused(breaker) == 1
    clock.advance(0.1)
    assert state(breaker) is BreakerState.HALF_OPEN


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.advance(5)
    probe = breaker.admit()
    assert probe.probe
    assert refused(breaker) == 1  # the others fail fast while the probe is out
    assert refused(breaker) == 1
    breaker.succeeded(probe)
    assert state(breaker) is BreakerState.CLOSED
    assert not breaker.admit().probe


def test_a_failed_probe_reopens_for_twice_as_long_up_to_the_cap() -> None:
    clock = Clock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    periods: list[int] = []
    for _ in range(4):
        clock.advance(periods[-1] if periods else 5)
        breaker.failed(breaker.admit())
        assert state(breaker) is BreakerState.OPEN
        periods.append(breaker.retry_after())
    assert periods == [10, 20, 20, 20]
    # Closing starts over from the first period.
    clock.advance(20)
    breaker.succeeded(breaker.admit())
    fail(breaker, 3)
    assert breaker.retry_after() == 5


def test_late_answers_of_calls_admitted_before_opening_change_nothing() -> None:
    clock = Clock()
    breaker = make_breaker(clock)
    in_flight = [breaker.admit() for _ in range(2)]
    fail(breaker, 3)
    breaker.succeeded(in_flight[0])
    breaker.failed(in_flight[1])
    assert state(breaker) is BreakerState.OPEN
    assert breaker.retry_after() == 5


def test_a_cancelled_probe_frees_the_slot_and_a_lost_one_expires() -> None:
    clock = Clock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.advance(5)
    breaker.released(breaker.admit())
    lost = breaker.admit()  # the next call probes at once ...
    assert lost.probe
    assert refused(breaker) == 1
    clock.advance(10)  # ... and one that never reports back holds the slot for its lease only
    again = breaker.admit()
    assert again.probe
    breaker.succeeded(lost)  # the lost probe's late answer is not the probe's any more
    assert state(breaker) is BreakerState.HALF_OPEN
    breaker.succeeded(again)
    assert state(breaker) is BreakerState.CLOSED


def test_zero_failures_never_opens() -> None:
    breaker = make_breaker(Clock(), failures=0)
    fail(breaker, 100)
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.admit() == Permit(probe=False, generation=0)
