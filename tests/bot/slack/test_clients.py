"""The Slack Web API clients' retries against the Slack stand-in: they wait on our policy, honour Retry-After,
and draw no random number when the policy has no jitter (slack_sdk's defaults always do)."""

import asyncio

import pytest
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.retry import Backoff
from bot.slack.clients import RateLimitRetry, slack_retry_handlers
from bot.timings import fast_timings
from standins.slack import FakeSlack


@pytest.fixture
async def fake_slack():
    async with FakeSlack(signing_secret="signing-secret") as fake:
        fake.add_channel(channel_id="CQC", name="salesforce", members=[])
        yield fake


@pytest.mark.parametrize("fault", [dict(status=429, retry_after=0), dict(status=503), dict(drop=True)],
                         ids=["rate-limited", "server-error", "dropped-connection"])
async def test_fast_timings_retry_a_slack_blip_without_jitter(fake_slack, random_draws, fault):
    fake_slack.fail_next("chat.postMessage", count=2, **fault)
    client = AsyncWebClient(token=fake_slack.team.bot_token, base_url=fake_slack.api_url,
                            retry_handlers=slack_retry_handlers(fast_timings().slack_retry))
    response = await client.chat_postMessage(channel="CQC", text="hello")
    assert response["ok"] and len(fake_slack.calls_to("chat.postMessage")) == 3
    assert random_draws == [], "no jitter was asked for, so none may be drawn"


async def test_a_policy_with_jitter_does_spread_its_waits(fake_slack, random_draws):
    """The counterpart of the test above: the jitter we set is the jitter applied."""
    fake_slack.fail_next("chat.postMessage", status=503)
    client = AsyncWebClient(token=fake_slack.team.bot_token, base_url=fake_slack.api_url,
                            retry_handlers=slack_retry_handlers(Backoff(initial=0.01, maximum=0.01, jitter=0.5)))
    assert (await client.chat_postMessage(channel="CQC", text="hello"))["ok"]
    assert random_draws == ["uniform"]


async def test_a_rate_limit_waits_what_retry_after_asks_lengthened_only_by_our_jitter(monkeypatch):
    waits: list[float] = []

    async def record(seconds):
        waits.append(seconds)

    handler = RateLimitRetry(Backoff(initial=0.01, maximum=0.05, jitter=0.0), max_retry_count=3)
    request = HttpRequest(method="POST", url="https://slack.example/api/chat.postMessage", headers={})
    monkeypatch.setattr(asyncio, "sleep", record)
    for headers in ({"Retry-After": "7"}, {"retry-after": ["2"]}, {}):
        state = RetryState()
        await handler.prepare_for_next_attempt_async(
            state=state, request=request, response=HttpResponse(status_code=429, headers=headers))
        assert state.current_attempt == 1 and state.next_attempt_requested
    monkeypatch.undo()
    assert waits == [7.0, 2.0, 0.01], "Retry-After as given; without one, the policy's first delay"
