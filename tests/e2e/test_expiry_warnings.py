"""SPEC §4 over HTTP with a controlled clock: expiry warnings in the org's channel, once per token and
threshold, across a restart and a failed Slack post; none for tokens that never expire; one message when
the bot's own access breaks; inactivity expiry that follows the token's last use.

The QualityClouds app is an External Client App here: its tokens are issued after the connection, through
the app, and Salesforce lists them in its OAuth Usage. The journeys that differ run with the stand-in both
ways: ECA tokens in the OAuth Usage only (the documented reading) and in `OauthToken` as well, where the same
token, seen twice, must still warn once."""

from datetime import timedelta

import aiohttp
import pytest

from tests.support.stack import BOT_CLIENT_ID, BOT_CLIENT_SECRET, CHANNEL

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
SYNC = timedelta(minutes=60)  # QC_TOKEN_SYNC_MINUTES' default: the next sync reads what was issued meanwhile


@pytest.fixture(params=[False, True], ids=["eca-tokens-in-usage-only", "eca-tokens-also-in-OauthToken"])
def eca_tokens_in_oauth_token(request):
    return request.param


def app_token(stack):
    found = stack.query("SELECT expires_at, next_warning_at, salesforce_username FROM tracked_tokens"
                        " WHERE kind = 'app'")
    return found[0] if found else None


def expiry_notifications(stack):
    return stack.query("SELECT dedupe_key, status, attempts FROM notifications WHERE dedupe_key LIKE 'expiry:%'"
                       " ORDER BY id")


def channel_texts(stack):
    return [message.text for message in stack.slack.messages(CHANNEL)]


async def connect_with_quality_clouds_token(stack, *, age=timedelta(0)):
    """Connect the org, then give its admin a token of the provisioned QualityClouds app, created `age` ago
    (as Quality Clouds gets one when the admin signs in); return when the token was created, once tracked."""
    # The live sign-in proof waits out the org's propagation of new credentials on the bot's clock, which these
    # tests move by days: with none, it proves at once instead of timing out when a test jumps ahead.
    stack.org.credentials_propagation = timedelta(0)
    await stack.connect()
    await stack.status_message()
    await stack.token_sync_done()
    await stack.slack.wait_for(lambda: not stack.query("SELECT 1 FROM connections WHERE proof_status = 'proving'"),
                               what="the live sign-in proof to end")
    created = stack.clock.now() - age
    refresh_token = stack.org.issue_app_token("QualityClouds", user=stack.org.admin, created=created)
    stack.clock.advance(SYNC)
    await stack.slack.wait_for(lambda: app_token(stack), what="the QualityClouds token to be tracked")
    return created, refresh_token


async def use_app_token(stack, refresh_token):
    """Quality Clouds renews its session with the app's refresh token, as it does before a scan."""
    app = stack.org.external_client_apps["QualityClouds"]["ExtlClntAppGlobalOauthSettings"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": app["consumerKey"],
            "client_secret": stack.org.consumer_secret("QualityClouds")}
    async with aiohttp.ClientSession() as session, session.post(
            f"{stack.org.my_domain_url}/services/oauth2/token", data=form) as response:
        assert response.status == 200, await response.text()


async def wait_for_channel_messages(stack, count):
    return await stack.slack.wait_for(
        lambda: channel_texts(stack) if len(channel_texts(stack)) >= count else None,
        what=f"{count} channel messages")


async def wait_until_sent(stack, count):
    await stack.slack.wait_for(
        lambda: len([row for row in expiry_notifications(stack) if row[1] == "sent"]) >= count,
        what=f"{count} warnings marked sent")


def assert_no_secret_leaked(stack):
    """Every token Salesforce issued (the periodic refreshes' too) stays out of logs, Slack and the database."""
    secrets = [*stack.salesforce_tokens(), BOT_CLIENT_SECRET]
    assert len(secrets) >= 4
    log, slack, database = stack.log_text(), stack.slack_channel_bytes(), stack.database_bytes()
    for secret in secrets:
        assert secret not in log and secret.encode() not in slack and secret.encode() not in database


async def test_each_threshold_warns_once_across_a_restart_and_a_failed_post(stack, eca_tokens_in_oauth_token):
    stack.org.oauth_token_includes_eca = eca_tokens_in_oauth_token
    created, _ = await connect_with_quality_clouds_token(stack)
    listed = [row.app_name for row in stack.org.oauth_tokens]
    assert listed.count("QualityClouds") == (1 if eca_tokens_in_oauth_token else 0)
    assert stack.query("SELECT COUNT(*) FROM tracked_tokens WHERE kind = 'app'") == [(1,)], "one token, counted once"
    expires = created + 90 * DAY  # QC_REFRESH_TOKEN_POLICY defaults to a 90-day lifetime

    stack.clock.set(expires - 30 * DAY + MINUTE)
    thirty = (await wait_for_channel_messages(stack, 2))[-1]
    assert "Quality Clouds' access to Acme Corp expires in 30 days" in thirty
    for fact in (stack.org.id, "admin@acme.example", f"{expires:%Y-%m-%d %H:%M} UTC", "scans of this org stop",
                 "reconnects this org in Quality Clouds"):
        assert fact in thirty, fact
    warning = stack.slack.messages(CHANNEL)[-1]
    assert [button["action_id"] for _, button in warning.buttons()] == ["reauthorize_org"]
    await wait_until_sent(stack, 1)

    await stack.restart_bot()
    stack.clock.set(expires - 7 * DAY + MINUTE)
    texts = await wait_for_channel_messages(stack, 3)
    assert "expires in 7 days" in texts[2]
    assert len(texts) == 3, "the 30-day warning must not come again after the restart"

    stack.slack.fail_next("chat.postMessage", error="internal_error")  # Slack answers, but did not post it
    stack.clock.set(expires - 1 * DAY + MINUTE)
    await stack.slack.wait_for(lambda: any(status == "pending" and attempts == 1
                                           for _, status, attempts in expiry_notifications(stack)),
                               what="a failed attempt to post the 1-day warning")
    assert len(channel_texts(stack)) == 3
    stack.clock.advance(timedelta(seconds=2))  # the outbox retries after its backoff
    texts = await wait_for_channel_messages(stack, 4)
    assert "expires in 1 day" in texts[3]

    stack.clock.set(expires + MINUTE)
    texts = await wait_for_channel_messages(stack, 5)
    assert "Quality Clouds' access to Acme Corp has expired" in texts[4]
    assert len(texts) == 5
    keys = [key for key, _, _ in expiry_notifications(stack)]
    assert [key.rsplit(":", 1)[1] for key in keys] == ["30", "7", "1", "0"]
    await wait_until_sent(stack, 4)
    await stack.settle()
    assert len(channel_texts(stack)) == 5, "no warning twice, whichever places list the token"
    assert_no_secret_leaked(stack)


async def test_a_token_first_seen_late_gets_one_warning_for_the_nearest_threshold(stack, eca_tokens_in_oauth_token):
    stack.org.oauth_token_includes_eca = eca_tokens_in_oauth_token
    await connect_with_quality_clouds_token(stack, age=85 * DAY - SYNC)
    texts = await wait_for_channel_messages(stack, 2)
    assert "expires in 5 days" in texts[1]
    await stack.settle()
    assert [key.rsplit(":", 1)[1] for key, _, _ in expiry_notifications(stack)] == ["7"]
    assert len(channel_texts(stack)) == 2


async def test_tokens_that_never_expire_get_no_warning(make_stack):
    stack = await make_stack(env={"QC_REFRESH_TOKEN_POLICY": "never"})
    await connect_with_quality_clouds_token(stack)
    expires_at, next_warning_at, _ = app_token(stack)
    assert expires_at is None and next_warning_at is None
    stack.clock.advance(400 * DAY)
    await stack.slack.wait_for(
        lambda: stack.query("SELECT 1 FROM token_syncs WHERE last_synced_at >= :since",
                            {"since": stack.clock.now().strftime("%Y-%m-%dT%H:%M:%S")}),
        what="a sync 400 days later")
    assert stack.query("SELECT COUNT(*) FROM tracked_tokens WHERE next_warning_at IS NOT NULL") == [(0,)]
    assert expiry_notifications(stack) == []
    assert len(channel_texts(stack)) == 1


def org_status(stack):
    return stack.query("SELECT status FROM orgs")[0][0]


async def test_invalid_grant_marks_the_connection_broken_and_says_so_once(stack):
    await connect_with_quality_clouds_token(stack)
    # qc-bot's own OAuth client issues tokens for 30 days; the bot was not told (SALESFORCE_REFRESH_TOKEN_POLICY).
    stack.salesforce.clients[BOT_CLIENT_ID].refresh_token_policy = "lifetime:30d"
    stack.clock.advance(31 * DAY)
    texts = await wait_for_channel_messages(stack, 2)
    assert "qc-bot lost its access to Acme Corp" in texts[1]
    assert "invalid_grant" in texts[1] and "Re-authorize" in texts[1]
    assert org_status(stack) == "broken"
    assert stack.query("SELECT actor, outcome FROM audit_log WHERE action = 'token_check'") == [("qc-bot", "broken")]

    refreshes = len(stack.salesforce.calls("token:refresh_token"))
    stack.clock.advance(2 * DAY)
    await stack.restart_bot()
    stack.clock.advance(2 * DAY)
    status = await stack.slash("status")
    assert status.status == 200
    answer = await stack.slack.wait_for(lambda: [post for post in stack.slack.response_url_posts
                                                 if "Nearest expiry" in str(post.body)])
    assert "access is broken" in str(answer[-1].body)
    assert len(stack.salesforce.calls("token:refresh_token")) == refreshes, "a broken connection is not retried"
    assert sum("lost its access" in text for text in channel_texts(stack)) == 1

    # Re-authorize from the message: a fresh link for the admin who clicked, and the connection works again.
    broken = stack.slack.messages(CHANNEL)[1]
    posts_before = len(stack.slack.response_url_posts)
    await stack.slack.click(stack.events_url, message=broken, action_id="reauthorize_org", user_id="UADMIN0001")
    post = await stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts[posts_before:]
                                               if "/salesforce/oauth/start?link=" in str(p.body)])
    assert post[0].body["response_type"] == "ephemeral" and post[0].body.get("replace_original") is False
    assert "will run as *admin@acme.example*" in str(post[0].body), "the app keeps running as before"
    link = post[0].body["blocks"][0]["accessory"]["url"]
    await stack.browse(link)
    await wait_for_channel_messages(stack, 3)
    assert org_status(stack) == "connected"
    assert_no_secret_leaked(stack)


async def test_the_bots_own_token_is_warned_about_under_its_configured_policy(make_stack):
    stack = await make_stack(env={"SALESFORCE_REFRESH_TOKEN_POLICY": "30d"})
    stack.salesforce.clients[BOT_CLIENT_ID].refresh_token_policy = "lifetime:30d"
    authorized = stack.clock.now()
    await stack.connect()
    await stack.status_message()
    stack.clock.set(authorized + 23 * DAY + MINUTE)
    texts = await wait_for_channel_messages(stack, 2)
    assert "qc-bot's access to Acme Corp expires in 7 days" in texts[1]
    assert "qc-bot's own refresh token, authorized by admin@acme.example" in texts[1]
    stack.clock.set(authorized + 30 * DAY + MINUTE)
    # The sync runs first and finds the token dead: one message says so (the expiry notice would repeat it).
    texts = await wait_for_channel_messages(stack, 3)
    assert "qc-bot lost its access to Acme Corp" in texts[2]
    stack.clock.advance(2 * DAY)
    await stack.slash("status")
    await stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts if "Nearest" in str(p.body)])
    assert len(channel_texts(stack)) == 3


async def test_an_inactivity_expiry_moves_when_the_token_is_used(make_stack, eca_tokens_in_oauth_token):
    stack = await make_stack(env={"QC_REFRESH_TOKEN_POLICY": "idle:30d"})
    stack.org.oauth_token_includes_eca = eca_tokens_in_oauth_token
    start, refresh_token = await connect_with_quality_clouds_token(stack)
    assert app_token(stack)[0].startswith(f"{start + 30 * DAY:%Y-%m-%dT%H:%M}")
    stack.clock.set(start + 20 * DAY)
    await stack.token_sync_done()
    await use_app_token(stack, refresh_token)  # Quality Clouds used its token on day 20
    stack.clock.advance(SYNC)
    await stack.slack.wait_for(lambda: app_token(stack)[0].startswith(f"{start + 50 * DAY:%Y-%m-%dT%H:%M}"),
                               what="the expiry to follow the last use")
    stack.clock.set(start + 24 * DAY)  # past where the old expiry's 7-day warning would have fallen
    await stack.slack.wait_for(
        lambda: stack.query("SELECT 1 FROM token_syncs WHERE last_synced_at >= :since",
                            {"since": f"{stack.clock.now():%Y-%m-%dT%H:%M:%S}"}), what="a sync on day 24")
    # The sync records itself before the check that follows it has settled the token's next warning: wait for it.
    await stack.slack.wait_for(lambda: app_token(stack)[1].startswith(f"{start + 43 * DAY:%Y-%m-%dT%H:%M}"),
                               what="the next warning 7 days before the moved expiry")
    assert len(channel_texts(stack)) == 1

    stack.clock.set(start + 43 * DAY + MINUTE)
    texts = await wait_for_channel_messages(stack, 2)
    assert "expires in 7 days" in texts[1] and f"{start + 50 * DAY:%Y-%m-%d %H:%M} UTC" in texts[1]
    assert "expire if not used for 30 days" in texts[1]
    await stack.settle()
    assert len(channel_texts(stack)) == 2


async def test_an_org_connected_before_tokens_were_tracked_is_picked_up_with_the_configured_app(stack):
    await connect_with_quality_clouds_token(stack)
    await stack.stop_bot()
    # What the 0002 migration leaves for an org provisioned by an older qc-bot: a due sync, nothing known.
    stack.query("DELETE FROM tracked_tokens")
    stack.query("UPDATE token_syncs SET app_name = NULL, app_policy = NULL,"
                " next_sync_at = '2000-01-01T00:00:00.000000Z'")
    await stack.start_bot()
    await stack.slack.wait_for(lambda: app_token(stack), what="the app's token to be tracked again")
    assert stack.query("SELECT policy FROM tracked_tokens WHERE kind = 'app'") == [("specific_lifetime:90:DAYS",)]


async def test_a_warning_the_channel_refuses_reaches_whoever_connected_the_org(stack):
    created, _ = await connect_with_quality_clouds_token(stack)
    await stack.settle()  # the refusal must meet the warning, not a message of the connection still on its way
    stack.slack.fail_next("chat.postMessage", error="is_archived")
    stack.clock.set(created + 60 * DAY + MINUTE)
    direct = await stack.slack.wait_for(
        lambda: [m for m in stack.slack.messages() if m.channel_id != CHANNEL and "expires in 30 days" in m.text],
        what="the warning sent to the admin directly")
    assert "is archived" in direct[0].text
