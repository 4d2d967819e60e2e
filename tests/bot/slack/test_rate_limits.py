"""The token buckets behind the rate limits (bot.slack.rate_limits), on a manual clock."""

from datetime import UTC, datetime, timedelta

from bot.clock import ManualClock
from bot.slack.rate_limits import Rate, RateLimiter, RateLimits

LIMITS = RateLimits(command_per_user=Rate(burst=3, per_minute=1), command_per_team=Rate(burst=5, per_minute=2),
                    install_per_address=Rate(burst=2, per_minute=1), install_in_all=Rate(burst=3, per_minute=60))


def limiter():
    clock = ManualClock(datetime(2026, 12, 1, tzinfo=UTC))
    return RateLimiter(limits=LIMITS, clock=clock), clock


def test_each_person_gets_a_burst_then_the_refill_rate():
    limits, clock = limiter()
    assert [limits.admit_command(team_id="T1", user_id="U1") for _ in range(4)] == [True, True, True, False]
    clock.advance(timedelta(seconds=59))
    assert not limits.admit_command(team_id="T1", user_id="U1")
    clock.advance(timedelta(seconds=1))
    assert limits.admit_command(team_id="T1", user_id="U1")
    assert limits.admit_command(team_id="T2", user_id="U1"), "the same id in another workspace is someone else"


def test_a_workspace_is_limited_across_its_people_and_refusals_are_drained_as_counts():
    limits, _ = limiter()
    admitted = [limits.admit_command(team_id="T1", user_id=f"U{n}") for n in range(8)]
    assert admitted == [True] * 5 + [False] * 3
    assert not limits.admit_command(team_id="T1", user_id="U0")
    assert limits.admit_command(team_id="T2", user_id="U0")
    counts = {(count.scope, count.user_id): count.refused for count in limits.drain_refusals()}
    assert counts == {("command_team", None): 4}
    assert limits.drain_refusals() == []


def test_install_starts_are_limited_per_address_and_in_all():
    limits, clock = limiter()
    assert [limits.admit_install(address="10.0.0.1") for _ in range(3)] == [True, True, False]
    assert [limits.admit_install(address=f"10.0.0.{n}") for n in (2, 3)] == [True, False]
    assert sorted((c.scope, c.refused) for c in limits.drain_refusals()) == [("install_address", 1), ("install_all", 1)]
    clock.advance(timedelta(minutes=2))
    assert limits.admit_install(address="10.0.0.1")


def test_buckets_that_refilled_are_forgotten():
    limits, clock = limiter()
    for n in range(50):
        limits.admit_install(address=f"10.0.1.{n}")
    clock.advance(timedelta(hours=1))
    limits.drain_refusals()
    assert not limits._install_address._buckets and not limits._install_all._buckets
