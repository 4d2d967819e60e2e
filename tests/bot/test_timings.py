"""Fast timings are truly fast: every retry policy in them is exact (no jitter) and short, and the Slack clients
built from them wait on our policy, never on slack_sdk's default (which adds up to a second of jitter)."""

import dataclasses

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

from bot.retry import Backoff
from bot.slack.clients import PolicyIntervals, RateLimitRetry, slack_retry_handlers
from bot.timings import Timings, fast_timings
from tests.support.cli import REPO_ROOT

# Waited in real time by the code under test. The outbox's redelivery delay is on the bot's clock instead,
# which the tests move by hand.
REAL_TIME_POLICIES = {"salesforce_retry", "deploy_poll", "provisioning_retry", "proof_retry", "slack_retry"}
CLOCK_POLICIES = {"delivery_retry"}


def policies(timings: Timings) -> dict[str, Backoff]:
    return {field.name: getattr(timings, field.name) for field in dataclasses.fields(timings)
            if isinstance(getattr(timings, field.name), Backoff)}


def test_every_retry_policy_is_known_here():
    assert set(policies(Timings())) == REAL_TIME_POLICIES | CLOCK_POLICIES, (
        "a new retry policy: say here whether it is waited in real time, so the checks below cover it")


def test_the_readme_says_which_layer_retries_with_each_policy():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    retries = readme[readme.index("### Retries"):readme.index("## Configuration")]
    assert [name for name in policies(Timings()) if f"`{name}`" not in retries] == []


def test_fast_timings_retry_without_jitter_and_with_small_delays():
    fast = policies(fast_timings())
    assert {name: policy.jitter for name, policy in fast.items()} == dict.fromkeys(fast, 0.0)
    for name in REAL_TIME_POLICIES:
        assert fast[name].maximum <= 0.05, name
        assert fast[name].deadline is None or fast[name].deadline <= 10.0, name
    for name in CLOCK_POLICIES:
        assert fast[name].maximum <= 5.0, name


def test_production_timings_spread_their_real_time_retries():
    production = policies(Timings())
    assert all(production[name].jitter > 0 for name in REAL_TIME_POLICIES)


def test_the_slack_clients_of_fast_timings_wait_on_our_policy():
    policy = fast_timings().slack_retry
    handlers = slack_retry_handlers(policy)
    assert len(handlers) == 3
    for handler in handlers:
        assert isinstance(handler.interval_calculator, PolicyIntervals)
        assert handler.interval_calculator.policy == policy
    rate_limit = [handler for handler in handlers if isinstance(handler, AsyncRateLimitErrorRetryHandler)]
    assert len(rate_limit) == 1 and isinstance(rate_limit[0], RateLimitRetry), (
        "slack_sdk's own 429 handler adds up to a second to every Retry-After")
    intervals = handlers[0].interval_calculator
    assert [intervals.calculate_sleep_duration(attempt) for attempt in range(4)] == [0.01, 0.02, 0.04, 0.05]
