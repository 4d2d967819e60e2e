"""Every Salesforce failure mode of issue 3, through the HTTP server: what the admin reads in Slack, and what
the org holds afterwards. Transient failures are retried and end well; permanent ones end as `failed` with
the cause and the remedy; nothing is left half-made or duplicated."""

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.retry import Backoff
from bot.timings import fast_timings
from tests.support.stack import ADMIN, CHANNEL

ECA = "QualityClouds"


def connections(stack):
    return stack.query("SELECT status, failure_code, pending_deploy_id FROM connections ORDER BY created_at")


async def connect_and_read_status(stack, text="connect-org"):
    await stack.connect(text)
    return (await stack.status_message()).text


# -- existing apps and app kinds ---------------------------------------------------------------------------------

async def test_an_existing_external_client_app_with_drift_is_repaired_in_place(stack):
    stack.org.seed_external_client_app(
        ECA, callback_url="https://old.example.com/callback", scopes=["Api"], pkce_required=True,
        client_credentials_user=None, names={"ExtlClntAppOauthConfigurablePolicies": f"{ECA}_defaultPolicy"},
    )
    key_before = stack.org.external_client_apps[ECA]["ExtlClntAppGlobalOauthSettings"]["consumerKey"]
    secret = stack.org.consumer_secret(ECA)
    text = await connect_and_read_status(stack)
    app = stack.org.external_client_apps[ECA]
    assert set(app) == {"ExternalClientApplication", "ExtlClntAppOauthSettings", "ExtlClntAppGlobalOauthSettings",
                        "ExtlClntAppOauthConfigurablePolicies", "ExtlClntAppConfigurablePolicies"}
    assert app["ExtlClntAppOauthConfigurablePolicies"]["fullName"] == f"{ECA}_defaultPolicy", "repaired in place"
    assert app["ExtlClntAppGlobalOauthSettings"]["isPkceRequired"] is False
    assert app["ExtlClntAppGlobalOauthSettings"]["consumerKey"] == key_before
    assert app["ExtlClntAppOauthSettings"]["commaSeparatedOauthScopes"] == "Api, RefreshToken"
    assert (app["ExtlClntAppOauthConfigurablePolicies"]["refreshTokenValidityPeriod"]) == 90
    for fragment in ("checked and repaired", "repaired; was https://old.example.com/callback",
                     "repaired; was required", "repaired; was Api", "repaired; was off",
                     "repaired; was expire after 365 days", secret[-4:]):
        assert fragment in text, fragment
    assert secret not in text


async def test_an_org_that_wants_the_header_first_gets_it_first(stack):
    stack.org.eca_satellites_need_existing_parent = True
    text = await connect_and_read_status(stack)
    assert "✅" in text and set(stack.org.external_client_apps[ECA]) == {
        "ExternalClientApplication", "ExtlClntAppOauthSettings", "ExtlClntAppGlobalOauthSettings",
        "ExtlClntAppOauthConfigurablePolicies", "ExtlClntAppConfigurablePolicies"}
    assert len(stack.app_deploys()) == 3, "all at once (refused), the header, then the rest"


async def test_a_header_first_org_is_left_without_a_half_made_app_when_the_settings_fail(stack):
    stack.org.eca_satellites_need_existing_parent = True
    stack.org.require_api_only_run_as = True
    text = await connect_and_read_status(stack)
    assert "would not accept the run-as user" in text
    assert stack.org.external_client_apps == {}, "the header deployed first was removed again"
    assert connections(stack)[0][:2] == ("failed", "run_as_invalid")


async def test_forcing_an_external_client_app_next_to_a_connected_app_warns(make_stack):
    stack = await make_stack(env={"QC_APP_KIND": "external-client-app"})
    stack.org.seed_connected_app(ECA, label=ECA, contact_email="x@example.com")
    text = await connect_and_read_status(stack)
    assert ECA in stack.org.external_client_apps and ECA in stack.org.connected_apps
    assert "⚠️ Other QualityClouds apps" in text and "delete the one you don't use" in text


async def test_auto_kind_repairs_an_existing_connected_app_instead_of_creating_an_eca(stack):
    stack.org.seed_connected_app(ECA, label=ECA, contact_email="x@example.com")
    text = await connect_and_read_status(stack)
    assert "Connected App" in text and stack.org.external_client_apps == {}


@pytest.mark.parametrize(("policy", "expected"), [
    ("never", {"refreshTokenPolicyType": "Infinite"}),
    ("idle:30d", {"refreshTokenPolicyType": "SpecificInactivity", "refreshTokenValidityPeriod": 30,
                  "refreshTokenValidityUnit": "Days"}),
])
async def test_the_refresh_token_policy_reaches_the_external_client_app(make_stack, policy, expected):
    stack = await make_stack(env={"QC_REFRESH_TOKEN_POLICY": policy})
    await connect_and_read_status(stack)
    policies = stack.org.external_client_apps[ECA]["ExtlClntAppOauthConfigurablePolicies"]
    assert {key: policies.get(key) for key in expected} == expected
    if policy == "never":
        assert "refreshTokenValidityPeriod" not in policies


async def test_the_refresh_token_policy_reaches_the_connected_app(make_stack):
    stack = await make_stack(env={"QC_APP_KIND": "connected-app", "QC_REFRESH_TOKEN_POLICY": "12h"})
    stack.org.connected_app_creation_allowed = True
    text = await connect_and_read_status(stack)
    assert stack.org.connected_apps[ECA]["oauthPolicy"]["refreshTokenPolicy"] == "specific_lifetime:12:HOURS"
    assert "expire after 12 hours" in text


# -- credentials ---------------------------------------------------------------------------------------------------

async def test_a_connected_app_whose_keys_keep_colliding_fails_with_the_remedy(make_stack):
    stack = await make_stack(env={"QC_APP_KIND": "connected-app"})
    stack.org.connected_app_creation_allowed = True
    stack.salesforce.collide_next_supplied_keys = 2
    text = await connect_and_read_status(stack)
    assert "already taken" in text and "a new key is generated each time" in text
    assert stack.org.connected_apps == {}
    assert connections(stack) == [("failed", "consumer_key_taken", None)]


async def test_a_secret_the_org_never_returns_is_explained_and_the_key_still_delivered(stack):
    stack.org.fail_next_call("apps/oauth/credentials", fault="UNKNOWN_EXCEPTION",
                             message="An unexpected error occurred. Please include this ErrorId if you contact support")
    text = await connect_and_read_status(stack)
    key = stack.org.external_client_apps[ECA]["ExtlClntAppGlobalOauthSettings"]["consumerKey"]
    assert "consumer secret not available" in text
    assert "would not let qc-bot read the consumer secret" in text and "External Client App Manager" in text
    assert key[-4:] in text
    offer = await stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals(ADMIN) if "Reveal" in e.text])
    await stack.slack.click(stack.events_url, message=offer[0], action_id="reveal_credentials", user_id=ADMIN)
    modal = str((await stack.slack.wait_for(lambda: stack.slack.opened_views))[0].view)
    assert key in modal and "not available" in modal


@pytest.mark.parametrize("failure", [dict(error="expired_trigger_id"), dict(drop=True, count=3)],
                         ids=["slack-refuses-the-modal", "the-connection-drops"])
async def test_credentials_slack_could_not_show_stay_revealable(stack, failure):
    await connect_and_read_status(stack)
    key = stack.org.external_client_apps[ECA]["ExtlClntAppGlobalOauthSettings"]["consumerKey"]
    offer = await stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals(ADMIN) if "Reveal" in e.text])
    stack.slack.fail_next("views.open", **failure)
    await stack.slack.click(stack.events_url, message=offer[0], action_id="reveal_credentials", user_id=ADMIN)
    await stack.slack.wait_for(
        lambda: [post for post in stack.slack.response_url_posts if "Click Reveal credentials again" in str(post.body)],
        what="the invitation to try again")
    assert stack.slack.opened_views == []

    await stack.slack.click(stack.events_url, message=offer[0], action_id="reveal_credentials", user_id=ADMIN)
    modal = await stack.slack.wait_for(lambda: stack.slack.opened_views, what="the credentials, the second time")
    assert key in str(modal[0].view)
    assert stack.query("SELECT outcome FROM audit_log WHERE action = 'reveal' ORDER BY id") == [
        ("revealed",), ("not_shown",), ("revealed",)]


# -- users and permissions ---------------------------------------------------------------------------------------

async def test_an_inactive_run_as_user_is_refused_before_anything_is_deployed(stack):
    stack.org.add_user(username="former@acme.example", active=False)
    text = await connect_and_read_status(stack, "connect-org run-as=former@acme.example")
    assert "deactivated" in text and "Run-as user: former@acme.example" in text
    assert stack.salesforce.calls("deploy") == []


async def test_a_run_as_user_the_org_rejects_is_reported_with_salesforces_words(stack):
    stack.org.require_api_only_run_as = True
    text = await connect_and_read_status(stack)
    assert "would not accept the run-as user" in text and "API Only" in text
    assert connections(stack)[0][:2] == ("failed", "run_as_invalid")


async def test_an_admin_without_permission_to_manage_apps_is_told_who_can(stack):
    stack.org.add_user(username="analyst@acme.example", permissions=("ApiEnabled",))
    stack.salesforce.sign_in(stack.org, "analyst@acme.example")
    await stack.connect()
    await stack.answer_question()  # Ada asked an analyst to authorize
    text = (await stack.status_message()).text
    assert "not allowed to create or change OAuth apps" in text and "Customize Application" in text
    assert stack.org.external_client_apps == {}
    assert connections(stack)[0][:2] == ("failed", "missing_permission")


# -- transient failures ------------------------------------------------------------------------------------------

async def test_admin_setup_locked_is_retried_until_it_clears(stack):
    stack.org.fail_next_deploy(status_code="ALREADY_IN_PROCESS")
    stack.org.fail_next_deploy(status_code="ALREADY_IN_PROCESS")
    text = await connect_and_read_status(stack)
    assert "✅" in text and ECA in stack.org.external_client_apps
    assert len(stack.app_deploys()) == 3, "two refused, then one that created the app"


async def test_request_limits_and_server_errors_are_retried(stack):
    stack.org.fail_next_call("readMetadata", fault="REQUEST_LIMIT_EXCEEDED", count=2)
    stack.salesforce.inject_http("/services/Soap/m/", status=503, count=2)
    stack.salesforce.inject_http("/services/data/", status=500, count=1)
    text = await connect_and_read_status(stack)
    assert "✅" in text and ECA in stack.org.external_client_apps
    log = stack.log_text()
    assert "transient error (REQUEST_LIMIT_EXCEEDED)" in log
    assert "after HTTP 503" in log and "after HTTP 500" in log


async def test_a_slow_salesforce_is_retried_after_a_timeout(make_stack):
    timings = replace(fast_timings(), salesforce_timeout_seconds=0.2)
    stack = await make_stack(timings=timings)
    stack.salesforce.inject_delay("/services/Soap/m/", seconds=1.0, count=1)
    text = await connect_and_read_status(stack)
    assert "✅" in text and ECA in stack.org.external_client_apps
    assert "after no answer (TimeoutError)" in stack.log_text()


async def test_salesforce_down_for_good_ends_the_journey_with_a_message(make_stack):
    timings = replace(fast_timings(), salesforce_retry=Backoff(initial=0.01, maximum=0.02, jitter=0.0, deadline=0.3),
                      provisioning_retry=Backoff(initial=0.01, maximum=0.02, jitter=0.0, deadline=0.3))
    stack = await make_stack(timings=timings)
    link = await stack.request_link()
    await stack.browse(link)
    stack.salesforce.inject_http("/services/Soap/m/", status=503, count=10_000)
    text = (await stack.status_message()).text
    assert "did not answer, or kept failing" in text and "status.salesforce.com" in text
    assert connections(stack) == [("failed", "salesforce_unavailable", None)]
    assert stack.org.external_client_apps == {}


async def test_an_access_token_that_expires_mid_provisioning_is_refreshed_once(stack):
    hold = stack.salesforce.inject_hold("/services/Soap/m/", body_contains="readMetadata")
    link = await stack.request_link()
    await stack.browse(link)
    await hold.wait_arrived()
    stack.org.expire_sessions()
    hold.release()
    text = (await stack.status_message()).text
    assert "✅" in text and ECA in stack.org.external_client_apps
    assert len(stack.salesforce.calls("token:refresh_token")) == 1


async def test_a_failed_deploy_lists_each_problem_and_leaves_no_half_made_app(stack):
    stack.org.require_api_only_run_as = True
    text = await connect_and_read_status(stack)
    assert "ExtlClntAppOauthConfigurablePolicies QualityClouds_oauthPlcy:" in text
    assert stack.org.external_client_apps == {}, "the header is not left behind without its satellites"


async def test_a_channel_that_refuses_the_status_gets_it_to_the_requester_directly(stack):
    stack.slack.fail_next("chat.postMessage", error="not_in_channel")
    await stack.connect()
    direct = await stack.slack.wait_for(
        lambda: [m for m in stack.slack.messages() if m.channel_id != CHANNEL and "connected" in m.text])
    assert f"<#{CHANNEL}>" in direct[0].text and "/invite @qc-bot" in direct[0].text


# -- nothing stays unfinished without a word -----------------------------------------------------------------------

async def test_an_authorization_nobody_completes_ends_with_a_private_note(stack):
    opened = await stack.browse(await stack.request_link(), max_hops=2)
    assert opened.final.status == 302, "the admin went to Salesforce and never came back"
    stack.clock.advance(timedelta(minutes=21))
    note = await stack.slack.wait_for(
        lambda: [e.text for e in stack.slack.ephemerals(ADMIN) if "did not finish within 10 minutes" in e.text])
    assert "connect-org" in note[0]
    assert connections(stack) == [("failed", "authorization_not_completed", None)]
    assert stack.slack.messages(CHANNEL) == []


async def test_a_journey_that_keeps_getting_interrupted_is_reported_not_retried_forever(stack):
    hold = stack.salesforce.inject_hold("/services/Soap/m/", body_contains="readMetadata")
    await stack.browse(await stack.request_link())
    await hold.wait_arrived()
    await stack.stop_bot()
    stack.query("UPDATE connections SET resumes = 3")
    hold.release()
    await stack.start_bot()
    text = (await stack.status_message()).text
    assert "interrupted 4 times" in text and "unexpected error" in text
    assert connections(stack) == [("failed", "internal_error", None)]


async def test_a_private_channel_without_the_bot_still_gets_the_admin_status_and_reveal(stack):
    stack.slack.add_channel(channel_id="GPRIVATE1", name="secret-admins", is_private=True, members=[ADMIN],
                            bot_is_member=False)
    await stack.slack.send_slash_command(stack.events_url, text="connect-org", user_id=ADMIN,
                                         channel_id="GPRIVATE1")
    answer = await stack.slack.wait_for(
        lambda: [e.text for e in stack.slack.ephemerals(ADMIN) if "/salesforce/oauth/start" in e.text])
    link = re.search(r"http://\S+/salesforce/oauth/start\?link=[\w\-=]+", answer[0]).group(0)
    await stack.browse(link)
    def direct_messages():
        found = [m for m in stack.slack.messages() if m.channel_id.startswith("D")]
        has_offer = any("Reveal" in str(m.blocks) for m in found)
        has_status = any("connected to Quality Clouds" in m.text for m in found)
        return found if has_offer and has_status else None

    direct = await stack.slack.wait_for(direct_messages, what="the status and the reveal offer as direct messages")
    offer = next(m for m in direct if "Reveal" in str(m.blocks))
    assert "<#GPRIVATE1>" in offer.text
    await stack.slack.click(stack.events_url, message=offer, action_id="reveal_credentials", user_id=ADMIN)
    modal = await stack.slack.wait_for(lambda: stack.slack.opened_views)
    assert stack.org.consumer_secret(ECA) in str(modal[0].view)


async def test_salesforce_words_that_echo_a_secret_are_masked_not_fatal(stack):
    from tests.support.stack import BOT_CLIENT_SECRET

    stack.org.fail_next_deploy(status_code="INVALID_CROSS_REFERENCE_KEY",
                               message=f"bad request carrying {BOT_CLIENT_SECRET}")
    text = await connect_and_read_status(stack)
    assert "bad request carrying" in text and BOT_CLIENT_SECRET not in text
    assert BOT_CLIENT_SECRET.encode() not in stack.database_bytes()
    assert connections(stack)[0][0] == "failed"


async def test_an_answer_that_arrives_just_in_time_is_not_swept_away_while_it_is_processed(stack):
    import asyncio

    from bot.services import SERVICES_KEY

    opened = await stack.browse(await stack.request_link(), max_hops=1)
    stack.clock.advance(timedelta(minutes=9, seconds=30))
    hold = stack.salesforce.inject_hold("/services/oauth2/token")
    browser = asyncio.create_task(stack.browse(opened.final.location))
    await hold.wait_arrived()
    stack.clock.advance(timedelta(minutes=2))  # the code exchange is slow; the link was opened 11.5 minutes ago
    assert await stack.app[SERVICES_KEY].journey.expire_abandoned() == 0
    hold.release()
    assert (await browser).final.status == 200
    assert "connected to Quality Clouds" in (await stack.status_message()).text
