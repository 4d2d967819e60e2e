"""The retry policy: its delay schedule, its jitter (explicit, and none at zero) and its bounded total time."""

import random

import pytest

from bot.retry import Backoff


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_delays_grow_by_the_factor_up_to_the_maximum():
    policy = Backoff(initial=0.5, factor=2.0, maximum=3.0, jitter=0.0)
    assert [policy.delay(retry) for retry in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_retry_count_far_beyond_the_maximum_stays_at_the_maximum():
    assert Backoff(initial=5.0, factor=10.0, maximum=300.0, jitter=0.0).delay(5000) == 300.0


def test_zero_jitter_never_draws_a_random_number(monkeypatch):
    def no_randomness(*args):
        raise AssertionError("a policy without jitter drew a random number")

    monkeypatch.setattr(random, "uniform", no_randomness)
    monkeypatch.setattr(random, "random", no_randomness)
    policy = Backoff(initial=0.01, maximum=0.05, jitter=0.0)
    assert [policy.delay(retry) for retry in range(4)] == [0.01, 0.02, 0.04, 0.05]
    assert policy.at_least(3.0) == 3.0


def test_jitter_spreads_each_delay_within_its_fraction():
    policy = Backoff(initial=1.0, maximum=1.0, jitter=0.2)
    delays = {policy.delay(0) for _ in range(200)}
    assert all(0.8 <= delay <= 1.2 for delay in delays)
    assert len(delays) > 100, "jittered delays differ from one another"


def test_a_prescribed_wait_is_lengthened_by_the_jitter_never_shortened():
    policy = Backoff(initial=1.0, maximum=1.0, jitter=0.2)
    waits = [policy.at_least(10.0) for _ in range(200)]
    assert all(10.0 <= wait <= 12.0 for wait in waits) and len(set(waits)) > 100


@pytest.mark.parametrize("options", [
    dict(initial=1.0, maximum=2.0, jitter=1.0),
    dict(initial=1.0, maximum=2.0, jitter=-0.1),
    dict(initial=3.0, maximum=2.0, jitter=0.0),
    dict(initial=1.0, maximum=2.0, jitter=0.0, factor=0.5),
], ids=["jitter-of-100%", "negative-jitter", "initial-above-maximum", "shrinking"])
def test_a_policy_that_is_not_a_backoff_is_refused(options):
    with pytest.raises(ValueError):
        Backoff(**options)


def test_attempts_give_up_when_the_next_wait_would_pass_the_deadline():
    clock = FakeMonotonic()
    attempts = Backoff(initial=1.0, factor=2.0, maximum=4.0, jitter=0.0, deadline=10.0).start(clock=clock)
    granted = []
    while (delay := attempts.next_delay()) is not None:
        granted.append(delay)
        clock.now += delay + 0.5  # the wait, then an attempt that takes half a second
    assert granted == [1.0, 2.0, 4.0], "1 + 2 + 4 plus three half-second attempts is 8.5 s; 4 more would pass 10 s"
    assert attempts.next_delay() is None, "once given up, always given up"


def test_attempts_without_a_deadline_never_give_up():
    clock = FakeMonotonic()
    attempts = Backoff(initial=1.0, maximum=2.0, jitter=0.0).start(clock=clock)
    for _ in range(100):
        delay = attempts.next_delay()
        assert delay is not None
        clock.now += delay
    assert delay == 2.0
