"""SPEC §1 steps 1-6 over HTTP: signed slash command → private link → browser redirect chain → callback →
provisioning in the org → status in the channel → one private reveal."""

import time
from datetime import timedelta

from bot.redaction import MASK
from tests.support.stack import ADMIN, BOT_CLIENT_SECRET, CHANNEL, SIGNING_SECRET, query_of

ECA_TYPES = {
    "ExternalClientApplication", "ExtlClntAppOauthSettings", "ExtlClntAppGlobalOauthSettings",
    "ExtlClntAppOauthConfigurablePolicies", "ExtlClntAppConfigurablePolicies",
}


def audit(stack, action=None):
    if action is None:
        return stack.query("SELECT action, actor, outcome FROM audit_log ORDER BY id")
    return stack.query("SELECT action, actor, outcome FROM audit_log WHERE action = :action ORDER BY id",
                       {"action": action})


def connection_statuses(stack):
    return [row[0] for row in stack.query("SELECT status FROM connections ORDER BY created_at")]


async def test_connect_org_end_to_end(stack):
    # Step 1: the slash command is acknowledged and the link goes to the requester only.
    link = await stack.request_link()
    assert stack.slack.response_url_posts[-1].body["response_type"] == "ephemeral"
    assert [e.user_id for e in stack.slack.ephemerals()] == [ADMIN]
    assert stack.slack.messages(CHANNEL) == [], "nothing about the link may reach the channel"

    # Steps 2-3: the browser goes through the bot to Salesforce and back.
    visit = await stack.browse(link)
    to_salesforce, to_callback, page = visit.hops
    assert to_salesforce.status == 200 and to_salesforce.location.startswith(stack.salesforce.login_url)
    authorize = query_of(to_salesforce.location)
    assert authorize["code_challenge_method"] == "S256" and len(authorize["code_challenge"]) == 43
    assert authorize["redirect_uri"] == stack.bot_url + "/salesforce/oauth/callback"
    assert len(authorize["state"]) >= 22
    assert to_callback.status == 302 and to_callback.location.startswith(stack.bot_url)
    assert page.status == 200 and "return to Slack" in page.body and "Acme Corp" in page.body

    # Steps 4-5: the app exists in the org with exactly the settings of SPEC §2 and the channel hears it.
    status = await stack.status_message()
    fake_org = stack.salesforce.org("Acme Corp")
    components = fake_org.external_client_apps["QualityClouds"]
    assert set(components) == ECA_TYPES
    assert fake_org.connected_apps == {}
    header = components["ExternalClientApplication"]
    assert (header["label"], header["contactEmail"], header["contactPhone"], header["description"]) == (
        "QualityClouds", "help@qualityclouds.com", "+44 20 3290 0456", "QualityClouds connection for REST API calls")
    global_oauth = components["ExtlClntAppGlobalOauthSettings"]
    assert global_oauth["callbackUrl"] == "https://scan.qualityclouds.com/sf_instance/code_callback"
    assert global_oauth["isPkceRequired"] is False and global_oauth["isClientCredentialsFlowEnabled"] is True
    assert components["ExtlClntAppOauthSettings"]["commaSeparatedOauthScopes"] == "Api, RefreshToken"
    policies = components["ExtlClntAppOauthConfigurablePolicies"]
    assert policies["clientCredentialsFlowUser"] == "admin@acme.example"
    assert (policies["refreshTokenPolicyType"], policies["refreshTokenValidityPeriod"],
            policies["refreshTokenValidityUnit"]) == ("SpecificLifetime", 90, "Days")

    consumer_key = global_oauth["consumerKey"]
    consumer_secret = fake_org.consumer_secret("QualityClouds")
    text = status.text
    for expected in ("Acme Corp", fake_org.id, "Production", fake_org.my_domain_url, "External Client App",
                     MASK + consumer_key[-4:], MASK + consumer_secret[-4:], f"<@{ADMIN}>", "Next step"):
        assert expected in text, expected
    for setting in ("App name", "API name", "Contact email", "Contact phone", "Description", "OAuth enabled",
                    "Callback URL", "OAuth scopes", "PKCE required", "Refresh token policy"):
        assert f"✅ {setting}" in text, setting
    assert "⚠️ Client credentials flow" in text and "API-only integration user" in text
    assert "(1 warning)" in text and "❌" not in text
    assert status.blocks and len(status.blocks) <= 50

    # Step 6: the requester alone reveals the full credentials, once.
    offer = await stack.slack.wait_for(
        lambda: [ephemeral for ephemeral in stack.slack.ephemerals(ADMIN) if "Reveal" in str(ephemeral.blocks)])
    reveal_id = offer[0].blocks[0]["accessory"]["value"]
    await stack.slack.click(stack.events_url, message=offer[0], action_id="reveal_credentials", user_id=ADMIN)
    modal = await stack.slack.wait_for(lambda: stack.slack.opened_views[-1:] or None)
    shown = str(modal[0].view)
    assert consumer_key in shown and consumer_secret in shown
    assert "cannot be shown again" in (await stack.slack.wait_for(
        lambda: [e.text for e in stack.slack.ephemerals(ADMIN) if "revealed" in e.text]))[0]

    # The button is gone from the message; a replayed click is refused and recorded.
    assert not any("reveal_credentials" in str(e.blocks) for e in stack.slack.ephemerals(ADMIN))
    await stack.slack.send_block_action(stack.events_url, user_id=ADMIN, action_id="reveal_credentials",
                                        value=reveal_id, channel_id=CHANNEL)
    await stack.slack.wait_for(
        lambda: [post for post in stack.slack.response_url_posts if "already revealed" in str(post.body)])
    assert len(stack.slack.opened_views) == 1
    assert [row[2] for row in audit(stack, "reveal")] == ["revealed", "refused:used"]

    # No full secret reached the channel, Slack outside the modal, the log or the database file.
    secrets = [consumer_secret, consumer_key, BOT_CLIENT_SECRET, SIGNING_SECRET, *stack.salesforce_tokens()]
    assert len(secrets) >= 6
    channel_bytes, log, database = stack.slack_channel_bytes(), stack.log_text(), stack.database_bytes()
    for secret in secrets:
        assert secret.encode() not in channel_bytes
        assert secret not in log
        assert secret.encode() not in database
    assert connection_statuses(stack) == ["provisioned"]
    actions = [row[0] for row in audit(stack)]
    assert actions[:3] == ["link_opened", "authorize", "provision"]


async def test_a_replayed_callback_is_refused_and_changes_nothing(stack):
    visit = await stack.connect()
    await stack.status_message()
    callback_url = visit.hops[1].location
    deploys_before = len(stack.salesforce.calls("deploy"))

    replay = await stack.browse(callback_url)
    assert replay.final.status == 400 and "already completed" in replay.final.body
    assert len(stack.salesforce.calls("deploy")) == deploys_before
    assert len(stack.salesforce.calls("token:authorization_code")) == 1, "a code is exchanged at most once"
    await stack.settle()
    assert len(stack.slack.messages(CHANNEL)) == 1
    assert ("callback_replayed", "salesforce-callback", "refused") in audit(stack)


async def test_the_link_works_once(stack):
    link = await stack.request_link()
    assert (await stack.browse(link)).final.status == 200
    again = await stack.browse(link)
    assert again.final.status == 400 and "already used" in again.final.body
    assert len(again.hops) == 1, "a used link must not lead to Salesforce"


async def test_the_link_expires_after_ten_minutes(stack):
    link = await stack.request_link()
    stack.clock.advance(timedelta(minutes=10, seconds=1))
    visit = await stack.browse(link)
    assert visit.final.status == 410 and "expired" in visit.final.body
    assert stack.salesforce.calls("authorize") == []


async def test_a_callback_after_ten_minutes_is_refused(stack):
    link = await stack.request_link()
    first = await stack.browse(link, max_hops=1)
    stack.clock.advance(timedelta(minutes=10, seconds=1))
    rest = await stack.browse(first.final.location)
    assert rest.final.status == 400 and "took too long" in rest.final.body
    assert stack.salesforce.calls("token:authorization_code") == []
    assert connection_statuses(stack) == ["pending_auth"]


async def test_tampered_and_stale_slack_requests_get_401_and_do_nothing(stack):
    tampered = await stack.slash("connect-org", signature="v0=" + "0" * 64)
    stale = await stack.slash("connect-org", timestamp=int(time.time()) - 301)
    assert tampered.status == 401 and stale.status == 401
    assert stack.slack.response_url_posts == []
    assert connection_statuses(stack) == []


async def test_running_it_again_repairs_and_never_duplicates(stack):
    await stack.connect()
    await stack.status_message()
    await stack.connect()
    second = await stack.status_message(count=2)
    assert "checked and repaired" in second.text
    fake_org = stack.salesforce.org("Acme Corp")
    assert list(fake_org.external_client_apps) == ["QualityClouds"]
    assert fake_org.connected_apps == {}
    assert connection_statuses(stack) == ["provisioned", "provisioned"]
    await stack.settle()
    assert len(stack.slack.messages(CHANNEL)) == 2, "one status per run, no more"


async def test_access_denied_in_salesforce_is_explained_privately(stack):
    stack.salesforce.org("Acme Corp").consent = "deny"
    visit = await stack.connect()
    assert visit.final.status == 400 and "declined" in visit.final.body
    notice = await stack.slack.wait_for(
        lambda: [e.text for e in stack.slack.ephemerals(ADMIN) if "declined" in e.text])
    assert "connect-org" in notice[0]
    assert stack.slack.messages(CHANNEL) == []
    assert connection_statuses(stack) == ["failed"]
    assert stack.salesforce.calls("deploy") == []


async def test_each_window_still_works_at_its_last_moment(stack):
    """The link (10 minutes), the authorization (10 minutes from opening the link) and the reveal
    (15 minutes) all still work one second before they close."""
    link = await stack.request_link()
    stack.clock.advance(timedelta(minutes=9, seconds=59))
    opened = await stack.browse(link, max_hops=1)
    assert opened.final.status == 200 and opened.final.location.startswith(stack.salesforce.login_url)
    stack.clock.advance(timedelta(minutes=9, seconds=59))
    rest = await stack.browse(opened.final.location)
    assert rest.final.status == 200 and "return to Slack" in rest.final.body
    offer = await stack.slack.wait_for(
        lambda: [e for e in stack.slack.ephemerals(ADMIN) if "reveal_credentials" in str(e.blocks)])
    stack.clock.advance(timedelta(minutes=14, seconds=59))
    await stack.slack.click(stack.events_url, message=offer[0], action_id="reveal_credentials", user_id=ADMIN)
    modal = await stack.slack.wait_for(lambda: stack.slack.opened_views)
    assert stack.org.consumer_secret("QualityClouds") in str(modal[0].view)
