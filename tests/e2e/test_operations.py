"""The operator's endpoints over HTTP (SPEC §10): `/readyz` and `/metrics`, against the real app between the
stand-ins. A Prometheus scrape is parsed with prometheus-client's own parser, as Prometheus would read it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from bot.services import SERVICES_KEY
from tests.e2e.test_failure_modes import connect_and_read_status
from tests.support.stack import ADMIN, CHANNEL, MEMBER, Stack

METRICS_TOKEN = "metrics-token-0123456789abcdef"


async def get(stack: Stack, path: str, **headers: str) -> tuple[int, str, dict[str, str]]:
    assert stack.browser is not None
    async with stack.browser.get(stack.bot_url + path, headers=headers) as response:
        return response.status, await response.text(), dict(response.headers)


async def scrape(stack: Stack) -> Samples:
    status, text, headers = await get(stack, "/metrics", Authorization=f"Bearer {METRICS_TOKEN}")
    assert status == 200, text
    assert headers["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape_until(stack: Stack, condition: Callable[[Samples], bool], *, what: str) -> Samples:
    """Scrape until `condition` holds (the bot counts as it works, so a test polls rather than guesses)."""

    async def attempt() -> Samples | None:
        samples = await scrape(stack)
        return samples if condition(samples) else None

    return await stack.slack.wait_for(attempt, what=what, timeout=20, interval=0.05)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def metrics_stack(make_stack, **env: str) -> Stack:
    return await make_stack(env={"QC_METRICS_TOKEN": METRICS_TOKEN, **env})


# -- /readyz ---------------------------------------------------------------------------------------------------

async def test_readyz_is_ready_when_the_database_answers_and_every_migration_is_applied(stack):
    status, text, headers = await get(stack, "/readyz")
    assert (status, text) == (200, '{"status": "ready"}')
    assert headers["Cache-Control"] == "no-store"


async def test_readyz_is_not_ready_while_a_migration_is_pending(stack):
    # Another version's process (or an interrupted upgrade) left the schema one migration short of this version's.
    stack.query("DELETE FROM alembic_version")
    status, text, _ = await get(stack, "/readyz")
    assert status == 503 and "migrations pending" in text, text
    assert (await get(stack, "/healthz"))[0] == 200  # alive all the same: a restart would not help


async def test_readyz_is_not_ready_when_the_database_does_not_answer(stack):
    await stack.app[SERVICES_KEY].store.close()
    status, text, _ = await get(stack, "/readyz")
    assert (status, text) == (503, '{"status": "not ready", "reason": "the database does not answer"}')


# -- /metrics: who may read it ---------------------------------------------------------------------------------

async def test_metrics_are_off_without_a_token(stack):
    status, text, _ = await get(stack, "/metrics")
    assert status == 404 and "QC_METRICS_TOKEN" in text


async def test_metrics_need_the_bearer_token(make_stack):
    stack = await metrics_stack(make_stack)
    assert (await get(stack, "/metrics"))[0] == 401
    assert (await get(stack, "/metrics", Authorization="Bearer wrong-token-0123456789"))[0] == 401
    assert (await get(stack, "/metrics", Authorization=METRICS_TOKEN))[0] == 401  # the scheme is part of it
    await scrape(stack)
    assert METRICS_TOKEN not in stack.log_text()


# -- /metrics: what it counts ----------------------------------------------------------------------------------

async def test_a_journey_is_counted_by_outcome_with_its_calls_and_deliveries(make_stack):
    stack = await metrics_stack(make_stack)
    await stack.connect()
    await stack.status_message()
    await stack.settle()
    samples = await scrape(stack)

    assert value(samples, "qcbot_journeys_ended_total", outcome="provisioned") == 1
    assert value(samples, "qcbot_slack_deliveries_total", result="sent") >= 2  # the card, then its edits
    assert value(samples, "qcbot_slack_request_seconds_count", method="chat.postMessage", outcome="ok") >= 1
    assert value(samples, "qcbot_slack_request_seconds_count", method="chat.update", outcome="ok") >= 1
    assert value(samples, "qcbot_salesforce_request_seconds_count", api="oauth", outcome="ok") >= 1
    assert value(samples, "qcbot_salesforce_request_seconds_count", api="metadata", outcome="ok") >= 1
    assert value(samples, "qcbot_outbox_pending_messages") == 0

    # Labels name kinds and outcomes, never an org, a workspace, a person, a host or a secret.
    text = (await get(stack, "/metrics", Authorization=f"Bearer {METRICS_TOKEN}"))[1]
    forbidden = [stack.org.id, stack.org.admin.id, stack.slack.team.team_id, ADMIN, MEMBER, CHANNEL, "127.0.0.1",
                 "Acme", *stack.salesforce_tokens()]
    assert [word for word in forbidden if word in text] == []


async def test_a_failed_journey_is_counted_by_its_failure_code(make_stack):
    stack = await metrics_stack(make_stack)
    stack.org.require_api_only_run_as = True
    await connect_and_read_status(stack)
    samples = await scrape(stack)
    assert value(samples, "qcbot_journeys_ended_total", outcome="run_as_invalid") == 1
    assert value(samples, "qcbot_journeys_ended_total", outcome="provisioned") == 0


async def test_slack_and_salesforce_errors_are_counted_and_a_waiting_message_is_outbox_depth(make_stack):
    stack = await metrics_stack(make_stack)
    stack.salesforce.inject_http("/services/Soap/m/", status=503, count=1)
    stack.slack.fail_next("chat.postMessage", status=503, count=10_000)
    await stack.connect()

    samples = await scrape_until(
        stack, lambda samples: value(samples, "qcbot_slack_deliveries_total", result="retry") >= 1
        and value(samples, "qcbot_journeys_ended_total", outcome="provisioned") == 1,
        what="a Slack message waiting for a retry")
    assert value(samples, "qcbot_outbox_pending_messages") >= 1
    assert value(samples, "qcbot_salesforce_request_errors_total", api="metadata", outcome="server_error") == 1
    assert value(samples, "qcbot_slack_request_errors_total", method="chat.postMessage", outcome="server_error") >= 1
    assert value(samples, "qcbot_slack_request_seconds_count", method="chat.postMessage",
                 outcome="server_error") >= 1


async def test_scheduler_lag_is_how_late_the_scan_started_after_it_was_due(make_stack):
    stack = await metrics_stack(make_stack, QC_EXPIRY_SCAN_MINUTES="15")
    started = stack.clock.now().timestamp()
    await scrape_until(stack, lambda samples: value(
        samples, "qcbot_scheduler_last_run_timestamp_seconds", work="expiry_scan") == started,
        what="the scan at start-up")
    # That scan set the next one 15 minutes ahead on the bot's clock; the bot now wakes 5 minutes after that.
    stack.clock.advance(timedelta(minutes=20))
    samples = await scrape_until(
        stack, lambda samples: value(samples, "qcbot_scheduler_lag_seconds_count", work="expiry_scan") > 0,
        what="the scan that was due")
    assert value(samples, "qcbot_scheduler_lag_seconds_count", work="expiry_scan") == 1
    assert value(samples, "qcbot_scheduler_lag_seconds_sum", work="expiry_scan") == 300
    assert value(samples, "qcbot_scheduler_last_run_timestamp_seconds", work="expiry_scan") == started + 1200
