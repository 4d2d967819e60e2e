"""SPEC §4a "Drift" over HTTP: someone changes the QualityClouds app in Setup (the stand-in records who and when,
as listMetadata reports it), the next periodic check tells the channel once, naming the setting, what it was
and what it is now; an admin's Repair restores SPEC §2 in the org and proves the sign-in, a member's click
changes nothing, and the drift once gone gets one short "resolved" note."""

import asyncio
import time
from datetime import UTC, timedelta

import pytest

from bot.messages.actions import ACTION_DRIFT_RECREATE, ACTION_DRIFT_REPAIR
from bot.services import SERVICES_KEY
from tests.support.stack import ADMIN, CHANNEL, MEMBER

SYNC = timedelta(minutes=60)  # QC_TOKEN_SYNC_MINUTES' default: the drift check runs at each token sync
PROPAGATION = timedelta(minutes=2)  # the stand-in's default propagation of new credentials
APP = "QualityClouds"
GLOBAL = "ExtlClntAppGlobalOauthSettings"
OAUTH = "ExtlClntAppOauthSettings"
POLICIES = "ExtlClntAppOauthConfigurablePolicies"
CALLBACK = "https://scan.qualityclouds.com/sf_instance/code_callback"


def part(stack, type_name):
    return stack.org.external_client_apps[APP][type_name]


def change(stack, type_name, changes):
    stack.org.change_in_setup(type_name, part(stack, type_name)["fullName"], changes, by=stack.setup_admin)


def other_run_as(stack):
    stack.org.add_user(username="someone.else@acme.example", first_name="Some", last_name="One")
    change(stack, POLICIES, {"clientCredentialsFlowUser": "someone.else@acme.example"})


# (setting, what the alert says it was, what it says it is now, how to change it in Setup)
DRIFTS = {
    "callback": ("Callback URL", CALLBACK, "https://evil.example/callback",
                 lambda stack: change(stack, GLOBAL, {"callbackUrl": "https://evil.example/callback"})),
    "pkce": ("PKCE required", "no", "required", lambda stack: change(stack, GLOBAL, {"isPkceRequired": True})),
    "scope": ("OAuth scopes", "api (Manage user data via APIs); refresh_token, offline_access", "Api",
              lambda stack: change(stack, OAUTH, {"commaSeparatedOauthScopes": "Api"})),
    "client-credentials": ("Client credentials flow", "on, run as admin@acme.example", "off",
                           lambda stack: change(stack, GLOBAL, {"isClientCredentialsFlowEnabled": False})),
    "run-as": ("Client credentials flow", "on, run as admin@acme.example", "run as someone.else@acme.example",
               other_run_as),
    "policy": ("Refresh token policy", "expire after 90 days", "valid until revoked",
               lambda stack: change(stack, POLICIES, {"refreshTokenPolicyType": "Infinite",
                                                      "refreshTokenValidityPeriod": None,
                                                      "refreshTokenValidityUnit": None})),
    "deleted": ("App", "QualityClouds (External Client App)", "deleted",
                lambda stack: stack.org.delete_app_in_setup(APP)),
}


async def connected_and_proved(stack):
    await stack.connect()
    await stack.status_message()
    stack.clock.advance(PROPAGATION)
    await stack.slack.wait_for(lambda: "✅ Sign-in:" in stack.slack.messages(CHANNEL)[0].text, what="the proof")
    await stack.token_sync_done()
    await quiet(stack)
    stack.setup_admin = stack.org.add_user(username="sam.setup@acme.example", first_name="Sam", last_name="Setup",
                                           permissions={"CustomizeApplication"})


async def quiet(stack, *, seconds=0.5):
    """Nothing in flight: neither Slack nor Salesforce heard from the bot for `seconds`, and the outbox is empty (a
    drift check runs after its token sync is recorded, so waiting for the sync alone is not enough)."""
    seen = {"calls": -1, "since": 0.0}

    def settled():
        pending = stack.query("SELECT COUNT(*) FROM notifications WHERE status = 'pending'")[0][0]
        calls = len(stack.slack.calls) + len(stack.slack.response_url_posts) + len(stack.salesforce.requests)
        if pending or calls != seen["calls"]:
            seen.update(calls=calls, since=time.monotonic())
            return False
        return time.monotonic() - seen["since"] >= seconds

    await stack.slack.wait_for(settled, what="the bot to be quiet")


async def next_check(stack):
    stack.clock.advance(SYNC)
    await stack.token_sync_done()
    await quiet(stack)


SIGN_IN_NEWS = ("❌ Quality Clouds' credentials no longer sign in", "✅ Resolved: Quality Clouds' credentials")


def alerts(stack):
    return [m for m in stack.slack.messages(CHANNEL) if "drift_re" in str(m.blocks) or "changed in" in m.text
            or "was deleted from" in m.text]


def channel_news(stack):
    """The channel's messages, less what the sign-in watch says: a drift that breaks the app's sign-in (client
    credentials off, PKCE required, the app deleted) is also announced, once, as a failing sign-in, and
    resolved by the repair."""
    return [m for m in stack.slack.messages(CHANNEL) if not m.text.startswith(SIGN_IN_NEWS)]


def resolved_notes(stack):
    return [m for m in stack.slack.messages(CHANNEL) if m.text.startswith("✅ Resolved in")]


def app_as_provisioned(stack):
    """SPEC §2 as the stand-in's org holds it."""
    parts = stack.org.external_client_apps.get(APP, {})
    glob, oauth, policies = parts.get(GLOBAL, {}), parts.get(OAUTH, {}), parts.get(POLICIES, {})
    return {
        "callback": CALLBACK in str(glob.get("callbackUrl")),
        "pkce": str(glob.get("isPkceRequired")).lower() == "false",
        "scopes": {"Api", "RefreshToken"} <= {scope.strip() for scope in
                                              str(oauth.get("commaSeparatedOauthScopes")).split(",")},
        "client-credentials": str(glob.get("isClientCredentialsFlowEnabled")).lower() == "true"
        and str(policies.get("isClientCredentialsFlowEnabled")).lower() == "true",
        "run-as": policies.get("clientCredentialsFlowUser") == "admin@acme.example",
        "policy": (policies.get("refreshTokenPolicyType"), str(policies.get("refreshTokenValidityPeriod")),
                   policies.get("refreshTokenValidityUnit")) == ("SpecificLifetime", "90", "Days"),
    }


@pytest.mark.parametrize("drift", list(DRIFTS))
async def test_a_drift_is_announced_once_and_an_admins_repair_restores_and_proves_the_app(stack, drift):
    setting, was, now, make = DRIFTS[drift]
    await connected_and_proved(stack)
    if drift == "scope":
        stack.org.setup_edit_recorded_on = "header"  # the other reading: who changed it is on the app itself
    assert all(app_as_provisioned(stack).values())
    changed_at = stack.clock.now()
    make(stack)
    before = len(channel_news(stack))

    await next_check(stack)
    [alert] = alerts(stack)
    assert len(channel_news(stack)) == before + 1
    assert f"*Was:* {was}" in str(alert.blocks) or (drift == "deleted" and f"it was {was}" in str(alert.blocks))
    assert f"*Now:* {now}" in str(alert.blocks) or drift == "deleted"
    assert setting in alert.text or drift == "deleted"
    if drift != "deleted":
        assert f"Changed by: Sam Setup, {changed_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in alert.text
    button = ACTION_DRIFT_RECREATE if drift == "deleted" else ACTION_DRIFT_REPAIR
    assert button in str(alert.blocks)

    await next_check(stack)
    assert len(alerts(stack)) == 1, "the same drift is announced once"

    # A member's click is refused privately and changes nothing.
    deploys = len(stack.app_deploys())
    posts = len(stack.slack.response_url_posts)
    await stack.slack.click(stack.events_url, message=alert, action_id=button, user_id=MEMBER)
    refusal = await stack.slack.wait_for(lambda: stack.slack.response_url_posts[posts:], what="the refusal")
    assert "only Slack workspace admins" in str(refusal[0].body) and refusal[0].body["response_type"] == "ephemeral"
    await quiet(stack)
    assert len(stack.app_deploys()) == deploys
    assert stack.query("SELECT COUNT(*) FROM connections") == [(1,)]
    assert stack.query("SELECT outcome FROM audit_log WHERE action = 'drift_repair_requested'") == [("refused",)]

    # An admin's click repairs through the provisioning path and proves the sign-in.
    await stack.slack.click(stack.events_url, message=alert, action_id=button, user_id=ADMIN)
    await stack.slack.wait_for(lambda: len(stack.app_deploys()) > deploys, what="the repair's deploy")
    if drift == "deleted":
        await stack.slack.wait_for(lambda: stack.query(
            "SELECT COUNT(*) FROM connections WHERE proof_status = 'proving'") == [(1,)], what="the re-created app")
        stack.clock.advance(PROPAGATION)  # a new app's credentials propagate first
    await stack.slack.wait_for(lambda: resolved_notes(stack), what="the resolved note")
    await quiet(stack)
    assert all(app_as_provisioned(stack).values()), app_as_provisioned(stack)
    assert stack.query("SELECT status, proof_status FROM connections ORDER BY created_at") == [
        ("provisioned", "proved"), ("provisioned", "proved")]
    [edited] = [m for m in stack.slack.messages(CHANNEL) if m.ts == alert.ts]
    assert f"Repaired by <@{ADMIN}>" in str(edited.blocks) and button not in str(edited.blocks)
    [note] = resolved_notes(stack)
    assert f"repaired by <@{ADMIN}>" in note.text

    messages = len(channel_news(stack))
    await next_check(stack)
    assert len(channel_news(stack)) == messages, "the next check is silent"
    assert len(alerts(stack)) == 1 and len(resolved_notes(stack)) == 1
    failing = [m for m in stack.slack.messages(CHANNEL) if m.text.startswith(SIGN_IN_NEWS[0])]
    assert len(failing) == (1 if drift in ("client-credentials", "pkce", "deleted") else 0)


async def test_a_drift_fixed_by_hand_gets_one_resolved_note(stack):
    await connected_and_proved(stack)
    change(stack, GLOBAL, {"isPkceRequired": True})
    await next_check(stack)
    [alert] = alerts(stack)
    change(stack, GLOBAL, {"isPkceRequired": False})
    await next_check(stack)
    [note] = resolved_notes(stack)
    assert "PKCE required of the QualityClouds app is back" in note.text and "repaired by" not in note.text
    [edited] = [m for m in stack.slack.messages(CHANNEL) if m.ts == alert.ts]
    assert "Resolved" in str(edited.blocks) and ACTION_DRIFT_REPAIR not in str(edited.blocks)
    await next_check(stack)
    assert len(resolved_notes(stack)) == 1 and len(alerts(stack)) == 1

    # The same drift coming back later is news again.
    change(stack, GLOBAL, {"isPkceRequired": True})
    await next_check(stack)
    assert len(alerts(stack)) == 2


def metadata_calls(stack, since):
    return [r.operation for r in stack.salesforce.requests[since:] if r.operation in ("readMetadata", "listMetadata")]


async def test_the_same_drift_across_checks_and_a_restart_is_one_alert(stack):
    await connected_and_proved(stack)
    before = len(stack.salesforce.requests)
    await next_check(stack)
    assert len(metadata_calls(stack, before)) == 9, "the README's cost of a check of an External Client App"
    change(stack, GLOBAL, {"callbackUrl": "https://evil.example/callback"})
    before = len(stack.salesforce.requests)
    await next_check(stack)
    assert len(metadata_calls(stack, before)) == 11, "and of one that found a drift (who changed it)"
    await next_check(stack)
    await stack.restart_bot()
    await next_check(stack)
    assert len(alerts(stack)) == 1
    assert stack.query("SELECT COUNT(*) FROM drift_alerts") == [(1,)]
    # Changed again to another wrong value: that is a new drift.
    change(stack, GLOBAL, {"callbackUrl": "https://other.example/callback"})
    await next_check(stack)
    assert len(alerts(stack)) == 2
    assert "https://other.example/callback" in alerts(stack)[-1].text


async def test_a_connected_apps_drift_is_announced_and_repaired(make_stack):
    stack = await make_stack(env={"QC_APP_KIND": "connected-app"})
    stack.org.connected_app_creation_allowed = True
    await connected_and_proved(stack)
    config = dict(stack.org.connected_apps[APP]["oauthConfig"], isPkceRequired=True)
    stack.org.change_in_setup("ConnectedApp", APP, {"oauthConfig": config}, by=stack.setup_admin)
    await next_check(stack)
    [alert] = alerts(stack)
    assert "*Setting:* PKCE required" in str(alert.blocks) and "*Now:* required" in str(alert.blocks)
    assert "Changed by: Sam Setup" in alert.text
    await stack.slack.click(stack.events_url, message=alert, action_id=ACTION_DRIFT_REPAIR, user_id=ADMIN)
    await stack.slack.wait_for(lambda: resolved_notes(stack), what="the resolved note")
    await quiet(stack)
    assert stack.org.connected_apps[APP]["oauthConfig"]["isPkceRequired"] in (False, "false")
    assert stack.query("SELECT status, proof_status FROM connections ORDER BY created_at") == [
        ("provisioned", "proved"), ("provisioned", "proved")]


async def test_a_repair_that_fails_says_so_and_can_be_pressed_again(stack):
    await connected_and_proved(stack)
    change(stack, GLOBAL, {"isPkceRequired": True})
    await next_check(stack)
    [alert] = alerts(stack)
    stack.org.fail_next_deploy(status_code="INSUFFICIENT_ACCESS_OR_READONLY",
                               message="insufficient access rights on object id")
    await stack.slack.click(stack.events_url, message=alert, action_id=ACTION_DRIFT_REPAIR, user_id=ADMIN)

    def edited():
        [message] = [m for m in stack.slack.messages(CHANNEL) if m.ts == alert.ts]
        return message if "did not fix this" in str(message.blocks) else None

    failed = await stack.slack.wait_for(edited, what="the alert saying the repair failed")
    assert ACTION_DRIFT_REPAIR in str(failed.blocks), "Repair can be pressed again"
    assert str(part(stack, GLOBAL)["isPkceRequired"]).lower() == "true" and not resolved_notes(stack)
    await quiet(stack)

    stack.clock.advance(timedelta(seconds=1))  # pressed again a moment later: the journeys' order is their times'
    await stack.slack.click(stack.events_url, message=failed, action_id=ACTION_DRIFT_REPAIR, user_id=ADMIN)
    await stack.slack.wait_for(lambda: resolved_notes(stack), what="the resolved note")
    assert str(part(stack, GLOBAL)["isPkceRequired"]).lower() == "false"
    assert [row[0] for row in stack.query("SELECT status FROM connections ORDER BY created_at")] == [
        "provisioned", "failed", "provisioned"]


async def test_checks_racing_each_other_announce_a_drift_once(stack):
    """The periodic check and `/qc check` (or a second process) may check one org at the same moment."""
    await connected_and_proved(stack)
    change(stack, GLOBAL, {"isPkceRequired": True})
    drift = stack.app[SERVICES_KEY].drift
    team_id, org_id = stack.query("SELECT team_id, org_id FROM orgs")[0]
    reports = await asyncio.gather(*(drift.check_org(team_id=team_id, org_id=org_id) for _ in range(4)))
    assert all([state.setting for state in report.drifted] == ["PKCE required"] for report in reports)
    await quiet(stack)
    assert len(alerts(stack)) == 1
    assert stack.query("SELECT setting, observed FROM drift_alerts") == [("PKCE required", "required")]


async def test_what_salesforce_says_cannot_mention_anyone(stack):
    await connected_and_proved(stack)
    stack.setup_admin.last_name = "<!channel>"
    change(stack, GLOBAL, {"callbackUrl": "https://x.example/cb?<@U123>&<!here>"})
    await next_check(stack)
    [alert] = alerts(stack)
    rendered = str(alert.blocks) + alert.text
    assert "<!channel>" not in rendered and "<@U123>" not in rendered and "<!here>" not in rendered
    assert "https://x.example/cb?&amp;lt;@U123&amp;gt;" not in rendered, "escaped once, not twice"
    assert "https://x.example/cb?&lt;@U123&gt;&amp;&lt;!here&gt;" in str(alert.blocks)
    assert "Sam &lt;!channel&gt;" in str(alert.blocks)
