"""connect-org beyond the happy path: who may run it, where it logs in, existing apps, forged answers, and
errors that must reach the admin as a cause and a remedy."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from tests.support.stack import ADMIN, BOT_CLIENT_SECRET, CHANNEL, MEMBER, query_of


def statuses(stack):
    return stack.query("SELECT status, failure_code FROM connections ORDER BY created_at")


async def wait_for_ephemeral(stack, fragment, user=ADMIN):
    found = await stack.slack.wait_for(
        lambda: [e.text for e in stack.slack.ephemerals(user) if fragment in e.text], what=fragment)
    return found[-1]


async def test_help_and_unknown_text_answer_with_usage(stack):
    help_reply = await stack.slash("help", user=MEMBER)
    assert help_reply.status == 200 and "connect-org sandbox" in help_reply.text
    unknown = await stack.slash("frobnicate", user=MEMBER)
    assert "don't know the command `frobnicate`" in unknown.text and "Usage" in unknown.text
    malformed = await stack.slash("connect-org run-as=bob", user=ADMIN)
    assert "not a Salesforce username" in malformed.text
    assert statuses(stack) == []


async def test_members_who_are_not_admins_are_refused_politely_and_audited(stack):
    await stack.slash("connect-org", user=MEMBER)
    refusal = await stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts
                                                  if "only Slack workspace admins" in str(p.body)])
    assert refusal[0].body["response_type"] == "ephemeral"
    assert statuses(stack) == []
    # The refusal reaches Slack before the audit row is written: wait for the row, then it is the only one.
    await stack.slack.wait_for(lambda: stack.query("SELECT actor, outcome FROM audit_log"), what="the audit row")
    assert stack.query("SELECT actor, outcome FROM audit_log") == [(MEMBER, "refused")]


async def test_a_listed_user_may_connect_without_being_a_workspace_admin(make_stack):
    stack = await make_stack(env={"QC_ADMIN_USERS": MEMBER})
    await stack.connect(user=MEMBER)
    await stack.answer_question(user=MEMBER, requester=MEMBER)  # Bob has no e-mail address in Slack
    status = await stack.status_message()
    assert f"<@{MEMBER}>" in status.text


async def test_sandbox_and_my_domain_targets_log_in_where_asked(stack):
    sandbox = stack.salesforce.add_org(name="Acme UAT", is_sandbox=True, admin_username="admin@acme.example.uat")
    await stack.restart_bot()  # SALESFORCE_ALLOWED_HOSTS must now list the new org's host
    stack.salesforce.sign_in(sandbox)
    visit = await stack.connect("connect-org sandbox")
    assert visit.hops[0].location.startswith(stack.salesforce.sandbox_login_url)
    # A sandbox user's address differs from the production one (here `.uat`): Ada confirms, it was her.
    await stack.answer_question()
    status = await stack.status_message()
    assert "Acme UAT" in status.text and "Sandbox" in status.text

    stack.salesforce.sign_in(stack.org)
    visit = await stack.connect(f"connect-org {stack.org.my_domain_url}")
    assert visit.hops[0].location.startswith(stack.org.my_domain_url + "/services/oauth2/authorize")
    assert "Acme Corp" in (await stack.status_message(count=2)).text


@pytest.mark.parametrize("target", ["https://evil.example.com", "https://acme.my.salesforce.com.evil.example",
                                    "http://169.254.169.254"])
async def test_a_my_domain_that_is_not_salesforce_is_refused_before_any_request(stack, target):
    await stack.slash(f"connect-org {target}")
    await stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts if "My Domain" in str(p.body)])
    assert "https://acme.my.salesforce.com" in str(stack.slack.response_url_posts[-1].body)
    assert statuses(stack) == []
    assert stack.salesforce.requests == [], "nothing was sent anywhere"


async def test_run_as_sets_the_client_credentials_user_without_a_warning(stack):
    stack.org.add_user(username="integration@acme.example", api_only=True)
    await stack.connect("connect-org run-as=integration@acme.example")
    status = await stack.status_message()
    assert "✅ Client credentials flow: on, run as integration@acme.example" in status.text
    policies = stack.org.external_client_apps["QualityClouds"]["ExtlClntAppOauthConfigurablePolicies"]
    assert policies["clientCredentialsFlowUser"] == "integration@acme.example"


async def test_an_unknown_run_as_user_fails_with_the_remedy_and_changes_nothing(stack):
    await stack.connect("connect-org run-as=nobody@acme.example")
    status = await stack.status_message()
    assert "does not exist in this org" in status.text and "Setup → Users" in status.text
    assert stack.org.external_client_apps == {}
    assert statuses(stack) == [("failed", "run_as_not_found")]


def seed_outdated_connected_app(stack):
    """A QualityClouds Connected App someone made by hand, with settings Quality Clouds cannot use."""
    stack.org.seed_connected_app(
        "QualityClouds", label="QualityClouds", contact_email="old@example.com",
        callback_urls=["https://old.example.com/callback"], scopes=["Api"], consumer_key="ExistingKey0123456789",
        consumer_secret="ExistingSecret0123456789", pkce_required=True, client_credentials_user=None,
    )


async def test_an_existing_connected_app_is_repaired_not_duplicated(stack):
    seed_outdated_connected_app(stack)
    await stack.connect()
    status = await stack.status_message()
    app = stack.org.connected_apps["QualityClouds"]
    assert app["oauthConfig"]["callbackUrl"] == "https://scan.qualityclouds.com/sf_instance/code_callback"
    assert app["oauthConfig"]["isPkceRequired"] is False
    assert app["oauthConfig"]["isClientCredentialEnabled"] is True
    assert set(app["oauthConfig"]["scopes"]) == {"Api", "RefreshToken"}
    assert app["oauthConfig"]["consumerKey"] == "ExistingKey0123456789", "the key of an existing app never changes"
    assert stack.org.external_client_apps == {}
    assert "Connected App" in status.text and "checked and repaired" in status.text
    assert "repaired; was https://old.example.com/callback" in status.text
    assert "repaired; was required" in status.text
    assert "Manage Consumer Details" in status.text, "the secret of an app qc-bot did not create cannot be read"


async def test_a_connected_app_that_is_already_right_is_read_once_and_left_alone(stack):
    seed_outdated_connected_app(stack)
    await stack.connect()
    await stack.status_message()
    deploys, reads = len(stack.salesforce.calls("deploy")), len(stack.salesforce.calls("readMetadata"))
    await stack.connect()
    second = await stack.status_message(count=2)
    assert "Connected App" in second.text and "❌" not in second.text
    assert len(stack.salesforce.calls("deploy")) == deploys, "nothing to repair, nothing deployed"
    assert len(stack.salesforce.calls("readMetadata")) == reads + 1, "the app is read once"


async def test_connected_app_creation_blocked_by_the_org_is_explained(make_stack):
    stack = await make_stack(env={"QC_APP_KIND": "connected-app"})
    await stack.connect()
    status = await stack.status_message()
    assert "❌" in status.text and "Spring '26" in status.text
    assert "External Client App" in status.text and "Salesforce Support" in status.text
    assert "You can't create a connected app" in status.text, "Salesforce's own words are shown"
    assert stack.org.connected_apps == {} and stack.org.external_client_apps == {}
    assert statuses(stack) == [("failed", "connected_app_creation_blocked")]


async def test_a_connected_app_is_created_where_the_org_allows_it(make_stack):
    stack = await make_stack(env={"QC_APP_KIND": "connected-app"})
    stack.org.connected_app_creation_allowed = True
    await stack.connect()
    status = await stack.status_message()
    app = stack.org.connected_apps["QualityClouds"]
    secret = stack.org.consumer_secret("QualityClouds")
    assert app["oauthPolicy"]["refreshTokenPolicy"] == "specific_lifetime:90:DAYS"
    assert "Connected App" in status.text and secret[-4:] in status.text and secret not in status.text


def forged_token_response(stack, *, instance_url, signed_with, identity_host=None):
    identity = f"{identity_host or stack.salesforce.login_url}/id/{stack.org.id}/{stack.org.admin.id}"
    issued_at = str(int(time.time() * 1000))
    signature = base64.b64encode(
        hmac.new(signed_with.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()).decode()
    return json.dumps({"access_token": f"{stack.org.id[:15]}!forgedaccesstoken", "refresh_token": "forgedrefresh",
                       "instance_url": instance_url, "id": identity, "token_type": "Bearer",
                       "issued_at": issued_at, "signature": signature, "scope": "api id refresh_token"})


@pytest.mark.parametrize(
    ("instance_url", "signed_with", "identity_host", "reason"),
    [
        ("self", "not-the-client-secret", None, "signature"),
        ("https://attacker.example.com", BOT_CLIENT_SECRET, None, "instance URL"),
        ("self", BOT_CLIENT_SECRET, "https://attacker.example.com", "identity URL"),
    ],
)
async def test_a_forged_token_response_is_rejected_and_nothing_is_stored(
    stack, instance_url, signed_with, identity_host, reason
):
    instance = stack.org.my_domain_url if instance_url == "self" else instance_url
    stack.salesforce.inject_http("/services/oauth2/token", status=200, body=forged_token_response(
        stack, instance_url=instance, signed_with=signed_with, identity_host=identity_host))
    visit = await stack.connect()
    assert visit.final.status == 400 and "security check" in visit.final.body and reason in visit.final.body
    await wait_for_ephemeral(stack, "security check")
    assert statuses(stack) == [("failed", "token_response_rejected")]
    assert b"forged" not in stack.database_bytes()
    assert [r for r in stack.salesforce.requests if r.operation in ("query", "identity")] == []


async def test_an_uninstalled_bot_app_is_explained(stack):
    stack.org.token_error = ("invalid_client", "app must be installed into org")
    visit = await stack.connect()
    assert visit.final.status == 400 and "Approve Uninstalled Connected Apps" in visit.final.body
    notice = await wait_for_ephemeral(stack, "not installed")
    assert "Connected Apps OAuth Usage" in notice
    assert statuses(stack) == [("failed", "app_not_installed")]
    assert stack.org.external_client_apps == {} and stack.salesforce.calls("deploy") == []


async def test_a_status_message_survives_slack_rate_limits(stack):
    stack.slack.fail_next("chat.postMessage", status=429, retry_after=0, count=2)
    await stack.connect()
    await stack.status_message()
    await stack.settle()
    assert len(stack.slack.messages(CHANNEL)) == 1


async def test_a_restart_during_provisioning_finishes_the_journey_once(stack):
    stack.salesforce.inject_delay("/services/Soap", seconds=0.3, count=None)
    link = await stack.request_link()
    await stack.browse(link)
    await stack.slack.wait_for(lambda: stack.salesforce.calls("readMetadata"), what="provisioning to start")
    await stack.stop_bot()
    assert statuses(stack) == [("provisioning", None)]
    stack.salesforce.clear_injections()
    await stack.start_bot()
    status = await stack.status_message()
    assert "connected to Quality Clouds" in status.text
    assert statuses(stack) == [("provisioned", None)]
    assert list(stack.org.external_client_apps) == ["QualityClouds"]
    await stack.settle()
    assert len(stack.slack.messages(CHANNEL)) == 1


async def test_the_authorize_url_carries_pkce_and_a_fresh_state_per_click(stack):
    first = await stack.browse(await stack.request_link(), max_hops=1)
    second = await stack.browse(await stack.request_link(), max_hops=1)
    one, two = query_of(first.final.location), query_of(second.final.location)
    assert one["state"] != two["state"] and one["code_challenge"] != two["code_challenge"]
    assert one["scope"] == "api id refresh_token"


async def test_a_burst_of_commands_right_after_start_asks_slack_who_the_bot_is_once(stack):
    import asyncio

    answers = await asyncio.gather(*(stack.slash("connect-org") for _ in range(20)))
    assert all(answer.status == 200 for answer in answers)
    assert len(stack.slack.calls_to("auth.test")) == 1
    assert len(stack.slack.calls_to("users.info")) == 1
