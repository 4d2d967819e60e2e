"""One retry layer per kind of failure (README "Retries"), through the HTTP server: a request Salesforce does not
answer is retried by the HTTP layer alone; a deploy whose fate is unknown is started over by the journey from
reading the org; and with fast timings no layer waits on a random number."""

from dataclasses import replace

from bot.retry import Backoff
from bot.timings import fast_timings
from tests.support.stack import ADMIN

ECA = "QualityClouds"


def connections(stack):
    return stack.query("SELECT status, failure_code FROM connections ORDER BY created_at")


async def test_an_outage_the_http_layer_gave_up_on_is_not_retried_again_around_provisioning(make_stack):
    # Were the journey to start provisioning over after the HTTP layer gave up, this journey would keep going
    # for a minute and the status below would never arrive in time.
    timings = replace(fast_timings(),
                      salesforce_retry=Backoff(initial=0.01, maximum=0.02, jitter=0.0, deadline=0.3),
                      provisioning_retry=Backoff(initial=0.01, maximum=0.02, jitter=0.0, deadline=60.0))
    stack = await make_stack(timings=timings)
    stack.salesforce.inject_http("/services/Soap/m/", status=503, count=10_000)
    await stack.connect()
    text = (await stack.status_message()).text
    assert "did not answer, or kept failing" in text
    assert connections(stack) == [("failed", "salesforce_unavailable")]
    log = stack.log_text()
    assert "after HTTP 503" in log, "the HTTP layer retried"
    assert "hit a transient error" not in log, "the journey did not retry on top of it"


async def test_a_deploy_that_got_no_answer_is_not_resent_but_provisioning_starts_over(make_stack):
    stack = await make_stack(timings=replace(fast_timings(), salesforce_timeout_seconds=1.0))
    hold = stack.salesforce.inject_hold("/services/Soap/m/", body_contains="<met:deploy>")
    link = await stack.request_link()
    await stack.browse(link)
    await hold.wait_arrived()
    try:
        text = (await stack.status_message()).text
    finally:
        hold.release()
    assert "✅" in text and ECA in stack.org.external_client_apps
    assert "hit a transient error" in stack.log_text(), "the journey started over"
    assert "Retrying Salesforce POST" not in stack.log_text(), "the HTTP layer did not send the deploy again"
    assert connections(stack) == [("provisioned", None)]


async def test_with_fast_timings_every_retry_layer_waits_without_jitter(stack, random_draws):
    stack.salesforce.inject_http("/services/Soap/m/", status=503, count=2)
    stack.org.fail_next_call("readMetadata", fault="REQUEST_LIMIT_EXCEEDED", count=1)
    stack.org.fail_next_deploy(status_code="ALREADY_IN_PROCESS")
    stack.slack.fail_next("chat.postMessage", status=429, retry_after=0, count=2)
    stack.slack.fail_next("chat.postEphemeral", status=503, count=1)
    await stack.connect()
    text = (await stack.status_message()).text
    assert "✅" in text
    await stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals(ADMIN) if "Reveal" in e.text])
    log = stack.log_text()
    assert "after HTTP 503" in log and "transient error (REQUEST_LIMIT_EXCEEDED)" in log
    assert len(stack.slack.calls_to("chat.postMessage")) >= 3, "the 429s were retried by the Slack client"
    assert random_draws == [], "fast timings have no jitter, so nothing may draw one"
