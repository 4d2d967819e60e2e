"""The periodic org check (SPEC §4, §4a), end to end over HTTP: `qc-bot check-expiry` as a real process with no
server running, the same check beside a running server (claims, never two refreshes or two messages), the
sign-in watch, and `/qc check`."""

from collections import Counter
from dataclasses import replace
from datetime import timedelta

from bot.timings import fast_timings
from tests.support.cli import iso, qc_bot
from tests.support.stack import CHANNEL, MEMBER

DAY = timedelta(days=1)
FAILING = "no longer sign in to Acme Corp"
RESOLVED = "Resolved: Quality Clouds' credentials sign in to"
LOST = "qc-bot lost its access to Acme Corp"


def channel_texts(stack, fragment):
    return [message.text for message in stack.slack.messages(CHANNEL) if fragment in message.text]


def refreshes(stack):
    return stack.salesforce.calls("token:refresh_token")


def sign_ins(stack):
    return stack.salesforce.calls("token:client_credentials")


async def connected_and_proved(stack):
    """Acme Corp connected, its app's sign-in proved and its first token check done."""
    stack.org.credentials_propagation = timedelta(0)
    await stack.connect()
    await stack.slack.wait_for(lambda: stack.query("SELECT 1 FROM connections WHERE proof_status = 'proved'"),
                               what="the live proof")
    await stack.token_sync_done()
    await stack.settle()


def client_credentials(stack, *, enabled):
    policies = stack.org.external_client_apps["QualityClouds"]["ExtlClntAppOauthConfigurablePolicies"]
    policies["isClientCredentialsFlowEnabled"] = enabled  # an admin in Setup


def revoke_bot_token(stack):
    bot_refresh_token = next(t for t in stack.salesforce_tokens() if not t.startswith("00D"))
    stack.salesforce.tokens.revoke_family(stack.salesforce.tokens.refresh[bot_refresh_token])  # an admin in Setup


async def test_with_only_check_expiry_a_token_issued_after_the_connection_is_warned_about_once(stack):
    await connected_and_proved(stack)
    await stack.stop_bot()  # a web process that sleeps, or none at all: only the cron job runs
    created = stack.clock.now()
    stack.org.issue_app_token("QualityClouds", user=stack.org.admin, created=created)
    expires = created + 90 * DAY

    code, output, errors = await qc_bot(stack, "check-expiry", "--at", iso(expires - 6 * DAY))
    assert code == 0, errors
    assert "Checked 1 org." in output
    assert "sent: 7-day warning for Acme Corp" in output
    assert "QualityClouds refresh token of admin@acme.example" in output
    assert stack.query("SELECT COUNT(*) FROM tracked_tokens WHERE kind = 'app'") == [(1,)]

    again = await qc_bot(stack, "check-expiry", "--at", iso(expires - 6 * DAY))
    assert again[0] == 0 and "No warning is due." in again[1]
    warnings = channel_texts(stack, "expires in 6 days")
    assert len(warnings) == 1, warnings


async def test_a_token_revoked_in_setup_is_announced_once_by_the_next_check_expiry(stack):
    await connected_and_proved(stack)
    await stack.stop_bot()
    revoke_bot_token(stack)
    before = len(refreshes(stack))

    code, output, errors = await qc_bot(stack, "check-expiry")
    assert code == 0, errors
    assert "1 other message sent" in output
    assert len(channel_texts(stack, LOST)) == 1
    assert stack.query("SELECT status FROM orgs") == [("broken",)]
    assert len(refreshes(stack)) == before + 1, "the token issued minutes ago is refreshed all the same"

    again = await qc_bot(stack, "check-expiry")
    assert again[0] == 0 and "Checked 0 orgs." in again[1], "a broken connection waits for a new authorization"
    assert len(channel_texts(stack, LOST)) == 1, "said once"
    assert len(refreshes(stack)) == before + 1, "a broken connection is not tried again"


async def test_check_expiry_beside_a_running_server_skips_the_org_the_server_is_checking(make_stack):
    # The server waits for Salesforce's answer as long as it does in production, so its refresh is still under
    # way while the check-expiry process starts and runs.
    stack = await make_stack(timings=replace(fast_timings(), salesforce_timeout_seconds=60.0))
    await connected_and_proved(stack)
    revoke_bot_token(stack)
    before = len(refreshes(stack))
    held = stack.salesforce.inject_hold("/services/oauth2/token", body_contains="grant_type=refresh_token")
    stack.clock.advance(timedelta(minutes=61))  # the server's hourly check of the org is due: it claims the org
    await held.wait_arrived()

    code, output, errors = await qc_bot(stack, "check-expiry")
    assert code == 0, errors
    assert "Checked 0 orgs; 1 skipped (being checked by another qc-bot process)." in output
    assert len(refreshes(stack)) == before, "never a second refresh of the same token while one is under way"

    held.release()
    await stack.slack.wait_for(lambda: channel_texts(stack, LOST), what="the lost access announced")
    again = await qc_bot(stack, "check-expiry")
    assert again[0] == 0 and "Checked 0 orgs." in again[1], "the server found it broken: paused until re-authorized"
    await stack.settle()
    assert len(channel_texts(stack, LOST)) == 1
    assert len(refreshes(stack)) == before + 1


async def test_a_failing_sign_in_is_announced_once_and_resolved_once(stack):
    await connected_and_proved(stack)
    client_credentials(stack, enabled=False)
    stack.clock.advance(timedelta(minutes=61))
    failing = await stack.slack.wait_for(lambda: channel_texts(stack, FAILING), what="the failing sign-in")
    assert "Enable Client Credentials Flow" in failing[0], "the remedy of the proof's explanation"
    assert "no client credentials user enabled" in failing[0], "Salesforce's own words"

    # Later checks, a restart and a concurrent check-expiry all find it still failing: nothing more is said.
    attempts = len(sign_ins(stack))
    stack.clock.advance(timedelta(minutes=61))
    await stack.slack.wait_for(lambda: len(sign_ins(stack)) > attempts, what="the next check's sign-in")
    await stack.restart_bot()
    code, _, errors = await qc_bot(stack, "check-expiry")
    assert code == 0, errors
    await stack.settle()
    assert len(channel_texts(stack, FAILING)) == 1

    client_credentials(stack, enabled=True)
    stack.clock.advance(timedelta(minutes=61))
    await stack.slack.wait_for(lambda: channel_texts(stack, RESOLVED), what="the resolved note")
    stack.clock.advance(timedelta(minutes=61))
    await qc_bot(stack, "check-expiry")
    await stack.settle()
    assert len(channel_texts(stack, RESOLVED)) == 1 and len(channel_texts(stack, FAILING)) == 1
    outcomes = stack.query("SELECT outcome FROM audit_log WHERE action = 'sign_in_check' ORDER BY id")
    assert outcomes == [("failing:client_credentials_off",), ("resolved",)]


async def test_qc_check_answers_privately_with_the_report(stack):
    await connected_and_proved(stack)
    stack.org.issue_app_token("QualityClouds", user=stack.org.admin, created=stack.clock.now())
    client_credentials(stack, enabled=False)
    posted = len(stack.slack.calls_to("chat.postMessage"))

    ack = await stack.slash("check acme corp", user=MEMBER)  # anyone may ask
    assert "Checking now" in str(ack.body)
    report = await stack.slack.wait_for(
        lambda: next((post for post in stack.slack.response_url_posts
                      if "Check of the Salesforce orgs" in str(post.body)), None), what="the report")
    assert report.body["response_type"] == "ephemeral"
    text = str(report.body["blocks"])
    assert "*Acme Corp* `" in text and "qc-bot's access works" in text
    # The drift step reads the app back: every setting of SPEC §2, the one switched off in Setup marked.
    assert "✅ Callback URL: https://scan.qualityclouds.com/sf_instance/code_callback" in text
    assert "❌ Client credentials flow: off (expected on, run as admin@acme.example)" in text
    assert "❌ *Sign-in:*" in text and "Enable Client Credentials Flow" in text
    assert "2 tracked tokens" in text and "QualityClouds token of admin@acme.example: expires" in text
    assert "next expiry" in text
    # The report is private; the failing sign-in and the drift it found are the channel's news, once each.
    await stack.slack.wait_for(lambda: channel_texts(stack, FAILING), what="the channel told")
    await stack.settle()
    news = [call.params["text"] for call in stack.slack.calls_to("chat.postMessage")[posted:]]
    assert len(news) == 2 and sum("Client credentials flow" in text for text in news) == 1, news

    await stack.slash("check Nowhere Inc")
    await stack.slack.wait_for(lambda: [post for post in stack.slack.response_url_posts
                                        if "No connected org in this workspace is called" in str(post.body)],
                               what="the unknown org explained")


async def test_one_check_of_one_org_costs_six_api_requests_nine_metadata_calls_and_two_token_requests(stack):
    """The figures the README gives for the API cost of watching (one Quality Clouds user's token in the org)."""
    await connected_and_proved(stack)
    stack.org.issue_app_token("QualityClouds", user=stack.org.admin, created=stack.clock.now())
    await stack.stop_bot()
    before = len(stack.salesforce.requests)

    code, _, errors = await qc_bot(stack, "check-expiry")
    assert code == 0, errors
    operations = Counter(record.operation for record in stack.salesforce.requests[before:])
    assert operations == {
        "token:refresh_token": 1,  # qc-bot's own token: still works?
        "apps/oauth/usage": 1,  # the External Client App's id
        "apps/oauth/usage/app/users": 2,  # its users, then the empty page after the last
        "apps/oauth/usage/app/user/tokens": 2,  # per user: the tokens, then the empty page
        "query": 1,  # OauthToken
        "token:client_credentials": 1,  # the app's sign-in
        "readMetadata": 5,  # the drift watch: the app, then each of its four settings components
        "listMetadata": 4,  # ... found by their parent app, whatever their names
    }
