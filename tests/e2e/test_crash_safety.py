"""A real `qc-bot serve` process is SIGKILLed at three points of the journey and started again: each time the
journey finishes, the channel gets exactly one status message and the org holds exactly one QualityClouds app.
The same for a `/qc rotate-secret` killed at each of its steps: one staged set, one promotion, one reveal, and
the new secret never lost."""


from datetime import timedelta

import pytest

from tests.support.stack import ADMIN, CARD_SETTING_UP, CHANNEL, FAST_PROCESS, Stack

ECA = "QualityClouds"


async def started(tmp_path, database_url) -> Stack:
    stack = Stack(tmp_path, database_url=database_url, env=FAST_PROCESS)
    await stack.start(in_process=False)
    stack.org.deploy_polls_until_done = 0
    return stack


async def wait_card_recorded(stack):
    await stack.slack.wait_for(lambda: stack.query(
        "SELECT status FROM notifications WHERE dedupe_key LIKE 'status:%'") == [("sent",)], what="the card recorded")


async def kill_once_the_outbox_is_empty(stack):
    """Kill the bot while Salesforce holds it, once the outbox has recorded what it posted: the outbox goes on
    beside the held request, and a kill between Slack's answer and the record posts that message again (the
    outbox's own at-least-once case, tested in tests/bot/slack), which is not what these kills are about."""
    await stack.slack.wait_for(lambda: stack.query(
        "SELECT COUNT(*) FROM notifications WHERE status = 'pending'") == [(0,)], what="the outbox emptied")
    await stack.kill_bot_process()


async def assert_one_app_and_one_status(stack):
    await stack.start_bot_process()
    # A card Slack kept refusing waits out the outbox's backoff (at most 5 s with the fast timings) after a restart.
    status = await stack.status_message(timeout=30)
    assert "connected to Quality Clouds" in status.text
    await stack.slack.wait_for(lambda: stack.query("SELECT status FROM connections") == [("provisioned",)],
                               what="the connection to be provisioned")
    assert list(stack.org.external_client_apps) == [ECA]
    assert set(stack.org.external_client_apps[ECA]) == {
        "ExternalClientApplication", "ExtlClntAppOauthSettings", "ExtlClntAppGlobalOauthSettings",
        "ExtlClntAppOauthConfigurablePolicies", "ExtlClntAppConfigurablePolicies"}
    assert stack.org.connected_apps == {}
    await stack.slack.wait_for(lambda: stack.query("SELECT status FROM notifications WHERE dedupe_key LIKE "
                                                       "'status:%'") == [("sent",)], what="the status marked sent")
    await stack.settle()
    assert len(stack.slack.messages(CHANNEL)) == 1
    # One card: posted once, then only edited in place (its outcome, the proof), whatever the kill interrupted.
    assert len([call for call in stack.slack.calls_to("chat.postMessage") if call.ok]) == 1
    assert {(call.params["channel"], call.params["ts"]) for call in stack.slack.calls_to("chat.update")} <= {
        (CHANNEL, status.ts)}
    secret = stack.org.consumer_secret(ECA)
    assert secret[-4:] in status.text and secret not in status.text
    # The reveal puts the secret into a Slack request, which slack_sdk logs at DEBUG: the real process
    # (QC_LOG_LEVEL=DEBUG here) must redact it.
    offer = await stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals() if "Reveal" in str(e.blocks)])
    await stack.slack.click(stack.events_url, message=offer[0], action_id="reveal_credentials",
                            user_id=offer[0].user_id)
    assert secret in str((await stack.slack.wait_for(lambda: stack.slack.opened_views))[0].view)
    await stack.slack.wait_for(lambda: "views.open" in stack.process_log(), what="the reveal in the log")
    assert secret not in stack.process_log() and secret.encode() not in stack.database_bytes()


async def test_killed_after_the_callback(tmp_path, database_url):
    stack = await started(tmp_path, database_url)
    try:
        # The first REST call is the callback's Organization query; the second is provisioning's first step.
        hold = stack.salesforce.inject_hold("/services/data/", skip=1)
        link = await stack.request_link()
        visit = await stack.browse(link)
        assert visit.final.status == 200
        await hold.wait_arrived()
        # The card went out at the authorization; a kill between Slack's answer and its record is the outbox's
        # own case (tests/slack), so this one waits for the record.
        await wait_card_recorded(stack)
        await stack.kill_bot_process()
        assert stack.query("SELECT status FROM connections") == [("provisioning",)]
        assert stack.salesforce.calls("deploy") == []
        [card] = stack.slack.messages(CHANNEL)
        assert card.text.startswith(CARD_SETTING_UP), "the card is up before anything is provisioned"
        hold.release()
        await assert_one_app_and_one_status(stack)
    finally:
        await stack.stop()


async def test_killed_during_the_deploy(tmp_path, database_url):
    stack = await started(tmp_path, database_url)
    try:
        hold = stack.salesforce.inject_hold("/services/Soap/m/", body_contains="checkDeployStatus")
        await stack.browse(await stack.request_link())
        await hold.wait_arrived()
        await kill_once_the_outbox_is_empty(stack)
        [(status, pending_deploy)] = stack.query("SELECT status, pending_deploy_id FROM connections")
        assert status == "provisioning" and pending_deploy, "the deploy in flight is on record"
        hold.release()
        await assert_one_app_and_one_status(stack)
        assert len(stack.app_deploys()) == 1, "the interrupted deploy is waited for, not sent again"
    finally:
        await stack.stop()


async def test_killed_after_the_deploy_before_the_channel_post(tmp_path, database_url):
    stack = await started(tmp_path, database_url)
    try:
        stack.slack.fail_next("chat.postMessage", status=503, count=10_000)
        await stack.browse(await stack.request_link())
        await stack.slack.wait_for(
            lambda: stack.query("SELECT status FROM connections") == [("provisioned",)]
            and stack.slack.calls_to("chat.postMessage"), what="provisioned with the post failing", timeout=30)
        await stack.kill_bot_process()
        assert stack.slack.messages(CHANNEL) == []
        stack.slack.clear_faults()
        deploys_before = len(stack.salesforce.calls("deploy"))
        await assert_one_app_and_one_status(stack)
        assert len(stack.salesforce.calls("deploy")) == deploys_before, "nothing is provisioned twice"
    finally:
        await stack.stop()


async def killed_during_the_credentials_read(stack):
    """Kill the bot while the org is opened up for the credentials read; the held read is released after."""
    # Connect REST refuses twice (the org setting is off, then the admin lacks the permissions); the third
    # read comes with both turned on.
    hold = stack.salesforce.inject_hold("/services/data/v63.0/apps/oauth/credentials/", skip=2)
    await stack.browse(await stack.request_link())
    await hold.wait_arrived()
    await kill_once_the_outbox_is_empty(stack)
    assert stack.org.client_secret_rest_access is True and len(stack.org.permission_set_assignments) == 1
    assert sorted(stack.query("SELECT kind, old_value, state FROM temporary_org_changes")) == [
        ("org_setting", "false", "pending"), ("permission_set", None, "pending")]
    return hold


def assert_org_restored(stack):
    assert stack.org.client_secret_rest_access is False
    assert stack.org.permission_sets == {} and stack.org.permission_set_assignments == []
    assert {row[0] for row in stack.query("SELECT state FROM temporary_org_changes")} == {"restored"}


async def test_killed_while_the_credentials_read_has_the_org_opened_up(tmp_path, database_url):
    stack = await started(tmp_path, database_url)
    try:
        hold = await killed_during_the_credentials_read(stack)
        hold.release()
        await assert_one_app_and_one_status(stack)
        assert_org_restored(stack)
        status = await stack.status_message()
        assert "Temporary changes" not in status.text and "for the read; restored" in status.text
    finally:
        await stack.stop()


async def test_a_journey_ended_for_too_many_interruptions_still_undoes_the_temporary_changes(
        tmp_path, database_url):
    stack = await started(tmp_path, database_url)
    try:
        hold = await killed_during_the_credentials_read(stack)
        stack.query("UPDATE connections SET resumes = 3")
        hold.release()
        await stack.start_bot_process()
        status = await stack.status_message()
        assert "interrupted 4 times" in status.text
        await stack.slack.wait_for(lambda: stack.query("SELECT status FROM connections") == [("failed",)],
                                   what="the connection to fail")
        assert_org_restored(stack)
    finally:
        await stack.stop()


# -- /qc rotate-secret -------------------------------------------------------------------------------------------

ROTATION_KILL_POINTS = {
    # where the bot is killed: (the request held there, the rotation's step on record at the kill)
    "before_staging": (lambda staged: (staged, None), "started"),
    "while_staging": (lambda staged: (staged, "{}"), "staging"),
    "while_promoting": (lambda staged: (staged, "rotate"), "revealed"),
    "while_proving": (lambda staged: ("/services/oauth2/token", "client_credentials"), "promoted"),
}


@pytest.mark.parametrize("point", list(ROTATION_KILL_POINTS))
async def test_a_rotation_killed_at_each_step_resumes_once_without_losing_the_secret(tmp_path, database_url, point):
    stack = await started(tmp_path, database_url)
    try:
        stack.org.credentials_propagation = timedelta(0)
        await stack.browse(await stack.request_link())
        await stack.slack.wait_for(lambda: stack.query("SELECT proof_status FROM connections") == [("proved",)],
                                   what="the connection proved", timeout=30)
        glob = stack.org.external_client_apps[ECA]["ExtlClntAppGlobalOauthSettings"]
        old_key, old_secret = glob["consumerKey"], stack.org.consumer_secret(ECA)
        staged_path = (f"/services/data/v65.0/apps/oauth/credentials/{stack.org.eca_id(ECA)}/"
                       f"{stack.org.eca_consumer_id(ECA)}/staged")
        held, step = ROTATION_KILL_POINTS[point]
        prefix, body = held(staged_path)
        hold = stack.salesforce.inject_hold(prefix, body_contains=body)
        await stack.slash("rotate-secret Acme Corp")
        await hold.wait_arrived(timeout=30)
        await kill_once_the_outbox_is_empty(stack)
        assert stack.query("SELECT step FROM rotations") == [(step,)]
        hold.release()
        await stack.start_bot_process()

        done = await stack.slack.wait_for(
            lambda: next((m for m in stack.slack.messages(CHANNEL) if "rotated the consumer key" in m.text), None),
            what="the rotation's account in the channel", timeout=30)
        new_key, new_secret = glob["consumerKey"], stack.org.consumer_secret(ECA)
        assert new_key != old_key and new_secret != old_secret
        requests = [r for r in stack.salesforce.requests if r.path.startswith(staged_path)]
        assert [r.method for r in requests].count("POST") == 1, "staged once"
        assert [r.method for r in requests].count("PATCH") == 1, "promoted once"
        assert len(stack.org.staged) == 1 and stack.org.staged[ECA].key == old_key, "one staged set: the former"
        assert stack.query("SELECT step FROM rotations") == [("proven",)]
        assert "✅ Sign-in" in done.text
        offers = [e for e in stack.slack.ephemerals(ADMIN) if "New QualityClouds credentials" in e.text]
        assert len(offers) == 1 and stack.query("SELECT COUNT(*) FROM reveals WHERE rotation_id IS NOT NULL") == [(1,)]
        await stack.slack.click(stack.events_url, message=offers[0], action_id="reveal_credentials", user_id=ADMIN)
        [view] = await stack.slack.wait_for(lambda: [v for v in stack.slack.opened_views
                                                     if new_secret in str(v.view)] or None, what="the reveal")
        assert new_key in str(view.view), "the revealed secret is the org's, with its key: nothing was lost"
        for key, secret in ((new_key, new_secret), (old_key, old_secret)):
            async with stack.browser.post(stack.org.my_domain_url + "/services/oauth2/token", data={
                    "grant_type": "client_credentials", "client_id": key, "client_secret": secret}) as response:
                assert response.status == 200, await response.text()
        assert_org_restored(stack)
        await stack.settle()
        assert new_secret not in stack.process_log() and new_secret.encode() not in stack.database_bytes()
    finally:
        await stack.stop()
