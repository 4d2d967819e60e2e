"""SPEC §4b over HTTP: `/qc rotate-secret` stages, reveals once, promotes and proves new credentials of the
QualityClouds External Client App, the old ones signing in until Retire (or never again with `incident`);
`/qc revoke-tokens` revokes the app's refresh tokens after a Confirm step. The test signs in itself, with the
client credentials flow against the Salesforce stand-in, to know which credentials really work."""

import json
import re
from datetime import timedelta

import pytest

from bot.messages import ACTION_RETIRE_OLD_CREDENTIALS, ACTION_REVEAL
from tests.support.stack import ADMIN, CHANNEL, MEMBER

ECA = "QualityClouds"


async def connected_and_proved(stack):
    await stack.connect()
    await stack.status_message()
    stack.clock.advance(timedelta(minutes=2))
    await stack.slack.wait_for(lambda: stack.query("SELECT proof_status FROM connections") == [("proved",)],
                               what="the connection's sign-in proved")
    stack.org.credentials_propagation = timedelta(0)
    return current_credentials(stack)


def current_credentials(stack):
    glob = stack.org.external_client_apps[ECA]["ExtlClntAppGlobalOauthSettings"]
    return glob["consumerKey"], stack.org.consumer_secret(ECA)


async def sign_in(stack, key, secret):
    async with stack.browser.post(stack.org.my_domain_url + "/services/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": key, "client_secret": secret}) as response:
        body = await response.json()
    return "ok" if response.status == 200 else body["error"]


async def channel_message(stack, fragment):
    return await stack.slack.wait_for(
        lambda: next((m for m in stack.slack.messages(CHANNEL) if fragment in m.text), None), what=fragment)


async def private_answer(stack, fragment, *, after=0):
    found = await stack.slack.wait_for(
        lambda: [post for post in stack.slack.response_url_posts[after:] if fragment in str(post.body)],
        what=fragment)
    return found[-1]


def revealed_pair(view):
    shown = json.dumps(view["blocks"])
    values = [re.search(label + r"[^`]*```([^`]+)```", shown) for label in ("Consumer Key", "Consumer Secret")]
    assert all(values), shown
    return values[0].group(1), values[1].group(1)


async def reveal_new_credentials(stack):
    offer = await stack.slack.wait_for(
        lambda: [e for e in stack.slack.ephemerals(ADMIN) if "New QualityClouds credentials" in e.text],
        what="the private offer to reveal the new credentials")
    assert len(offer) == 1 and offer[0].user_id == ADMIN, "only the requester sees the offer"
    seen = len(stack.slack.opened_views)
    await stack.slack.click(stack.events_url, message=offer[0], action_id=ACTION_REVEAL, user_id=ADMIN)
    views = await stack.slack.wait_for(lambda: stack.slack.opened_views[seen:] or None, what="the reveal modal")
    await private_answer(stack, "You revealed the QualityClouds credentials")
    assert stack.query("SELECT used_at IS NOT NULL FROM reveals WHERE rotation_id IS NOT NULL") == [(1,)]
    assert len(stack.slack.opened_views) == seen + 1, "the new credentials are shown once"
    return revealed_pair(views[0].view)


async def test_rotation_reveals_once_keeps_the_old_credentials_until_retire(stack):
    old_key, old_secret = await connected_and_proved(stack)
    await stack.slash("rotate-secret Acme Corp")
    await private_answer(stack, "Rotating the consumer key and secret")
    key, secret = await reveal_new_credentials(stack)

    done = await channel_message(stack, "rotated the consumer key and secret")
    assert (key, secret) == current_credentials(stack), "the app's key in the org is the revealed one"
    assert key != old_key and secret != old_secret
    assert "✅ Sign-in: the new credentials sign in" in done.text
    assert key[-4:] in done.text and secret[-4:] in done.text and "still work until" in done.text
    for value in (key, secret, old_secret):
        assert value not in stack.slack_channel_bytes().decode()
        assert value.encode() not in stack.database_bytes() and value not in stack.log_text()
    assert await sign_in(stack, key, secret) == "ok"
    assert await sign_in(stack, old_key, old_secret) == "ok", "the old credentials work until Retire"
    assert len(stack.org.staged) == 1 and stack.org.staged[ECA].state(stack.clock.now()) == "Rotated"

    # A member may not retire them; the admin may.
    await stack.slack.click(stack.events_url, message=done, action_id=ACTION_RETIRE_OLD_CREDENTIALS, user_id=MEMBER)
    await private_answer(stack, "only Slack workspace admins")
    assert await sign_in(stack, old_key, old_secret) == "ok"
    await stack.slack.click(stack.events_url, message=done, action_id=ACTION_RETIRE_OLD_CREDENTIALS, user_id=ADMIN)
    await channel_message(stack, "retired the old QualityClouds credentials")
    assert await sign_in(stack, old_key, old_secret) == "invalid_client_id"
    assert await sign_in(stack, key, secret) == "ok"
    assert stack.org.staged == {}
    # The account is edited: who retired them, and no Retire button to press again.
    account = await stack.slack.wait_for(
        lambda: next((m for m in stack.slack.messages(CHANNEL) if m.ts == done.ts and "retired the old" in m.text),
                     None), what="the account without its Retire button")
    assert f"<@{ADMIN}> retired the old credentials" in account.text and "still work" not in account.text
    assert ACTION_RETIRE_OLD_CREDENTIALS not in json.dumps(account.blocks)
    assert "✅ Sign-in: the new credentials sign in" in account.text
    assert stack.query("SELECT outcome FROM audit_log WHERE action IN ('rotate_secret', 'retire_credentials')"
                       " ORDER BY id") == [("started",), ("promoted",), ("proven",), ("retired",)]
    assert stack.query("SELECT actor, outcome FROM audit_log WHERE action = 'retire_requested'") == [
        (MEMBER, "refused")]
    # No setting or permission set is left behind.
    assert stack.org.client_secret_rest_access is False
    assert stack.org.permission_sets == {} and stack.org.permission_set_assignments == []


@pytest.mark.parametrize("other_reading", [False, True], ids=["documented", "lowercase_states_and_new_id"])
async def test_incident_retires_the_old_credentials_at_once(stack, other_reading):
    old_key, old_secret = await connected_and_proved(stack)
    # Where the evidence differs (the states' spelling; the former set's id after `rotate`), either way works.
    stack.org.staged_states_lowercase = stack.org.rotation_renews_staged_id = other_reading
    await stack.slash("rotate-secret Acme Corp incident")
    await private_answer(stack, "Quality Clouds stops working for this org until")
    key, secret = await reveal_new_credentials(stack)
    done = await channel_message(stack, "after a security incident")
    assert "no longer work" in done.text and "Quality Clouds stops working" in done.text
    assert ACTION_RETIRE_OLD_CREDENTIALS not in json.dumps(done.blocks)
    assert await sign_in(stack, old_key, old_secret) == "invalid_client_id"
    assert await sign_in(stack, key, secret) == "ok"
    assert (key, secret) == current_credentials(stack)


async def test_a_member_cannot_rotate(stack):
    old = await connected_and_proved(stack)
    await stack.slash("rotate-secret Acme Corp", user=MEMBER)
    await private_answer(stack, "only Slack workspace admins")
    assert stack.query("SELECT COUNT(*) FROM rotations") == [(0,)]
    assert stack.query("SELECT outcome FROM audit_log WHERE action = 'rotate_requested'") == [("refused",)]
    assert current_credentials(stack) == old and stack.org.staged == {}


async def test_the_bots_own_client_is_never_rotated(stack):
    await connected_and_proved(stack)
    [(stored,)] = stack.query("SELECT org_id FROM orgs")
    # The bot's own consumer key as the app's key: qc-bot refuses before anything is staged.
    own = stack.bot_environment()["SALESFORCE_CLIENT_ID"]
    stack.org.external_client_apps[ECA]["ExtlClntAppGlobalOauthSettings"]["consumerKey"] = own
    await stack.slash(f"rotate-secret {stored}")
    await stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals(ADMIN)
                                        if "the one qc-bot itself signs in with" in e.text], what="the refusal")
    assert stack.org.staged == {}
    assert stack.query("SELECT step, failure FROM rotations") == [("failed", "own_client")]


def watched_app_tokens(stack):
    return [name for (name,) in stack.query("SELECT salesforce_username FROM tracked_tokens WHERE kind = 'app'"
                                            " ORDER BY salesforce_username")]


async def test_revoke_tokens_confirm_cancel_and_non_admin(stack):
    await connected_and_proved(stack)
    other = stack.org.add_user(username="analyst@acme.example")
    for user in (stack.org.admin, other):
        stack.org.issue_app_token(ECA, user=user, created=stack.clock.now())
    assert len(stack.org.usage_tokens(ECA)) == 2
    # A sync still running from the connection would schedule itself past the clock's move: let it finish first.
    await stack.token_sync_done()
    stack.clock.advance(timedelta(minutes=60))  # the next token sync watches both
    await stack.slack.wait_for(lambda: watched_app_tokens(stack) == ["admin@acme.example", "analyst@acme.example"],
                               what="both tokens watched")

    await stack.slash("revoke-tokens Acme Corp", user=MEMBER)
    await private_answer(stack, "only Slack workspace admins")
    assert len(stack.org.usage_tokens(ECA)) == 2

    def confirmation():
        return stack.slack.wait_for(
            lambda: [e for e in stack.slack.ephemerals(ADMIN) if "revoke_tokens_confirm" in str(e.blocks)],
            what="the confirmation")

    await stack.slash("revoke-tokens Acme Corp")
    [asked] = await confirmation()
    await stack.slack.click(stack.events_url, message=asked, action_id="revoke_tokens_cancel", user_id=ADMIN)
    await private_answer(stack, "Nothing was revoked")
    await stack.settle()
    assert len(stack.org.usage_tokens(ECA)) == 2, "Cancel changes nothing"

    await stack.slash("revoke-tokens Acme Corp analyst@acme.example")
    asked = (await confirmation())[-1]
    await stack.slack.click(stack.events_url, message=asked, action_id="revoke_tokens_confirm", user_id=ADMIN)
    notice = await channel_message(stack, "revoked 1 refresh token")
    assert "analyst@acme.example" in notice.text
    assert [family.user.username for family in stack.org.usage_tokens(ECA)] == [stack.org.admin.username]
    assert watched_app_tokens(stack) == ["admin@acme.example"], "no expiry warnings for a revoked token"

    await stack.slash("revoke-tokens Acme Corp")
    asked = (await confirmation())[-1]
    await stack.slack.click(stack.events_url, message=asked, action_id="revoke_tokens_confirm", user_id=ADMIN)
    await channel_message(stack, "held by: admin@acme.example")
    assert stack.org.usage_tokens(ECA) == []
    assert [outcome for (outcome,) in stack.query(
        "SELECT outcome FROM audit_log WHERE action = 'revoke_tokens' ORDER BY id")] == ["revoked", "revoked"]


async def test_a_connected_app_gets_setup_steps_and_its_tokens_are_revoked_through_oauth_token(make_stack):
    stack = await make_stack(env={"QC_APP_KIND": "connected-app"})
    stack.org.connected_app_creation_allowed = True
    await stack.connect()
    await stack.status_message()
    key = stack.org.connected_apps[ECA]["oauthConfig"]["consumerKey"]

    await stack.slash("rotate-secret Acme Corp")
    steps = await private_answer(stack, "staged consumer details")
    text = json.dumps(steps.body["blocks"])
    assert f"{stack.org.my_domain_url}/lightning/setup/ConnectedApplication/home" in text
    assert "reveal" not in text.lower() and "retire" not in text.lower(), "nothing offered that qc-bot cannot do"
    assert stack.org.connected_apps[ECA]["oauthConfig"]["consumerKey"] == key
    assert stack.query("SELECT COUNT(*) FROM rotations") == [(0,)]
    assert stack.query("SELECT outcome FROM audit_log WHERE action = 'rotate_secret'") == [("setup_steps",)]

    other = stack.org.add_user(username="analyst@acme.example")
    refresh = {user.username: stack.org.issue_app_token(ECA, user=user, created=stack.clock.now())
               for user in (stack.org.admin, other)}
    await stack.slash("revoke-tokens Acme Corp analyst@acme.example")
    [asked] = await stack.slack.wait_for(
        lambda: [e for e in stack.slack.ephemerals(ADMIN) if "revoke_tokens_confirm" in str(e.blocks)],
        what="the confirmation")
    await stack.slack.click(stack.events_url, message=asked, action_id="revoke_tokens_confirm", user_id=ADMIN)
    await channel_message(stack, "held by: analyst@acme.example")
    assert [row.user_id for row in stack.org.oauth_tokens if row.app_name == ECA] == [stack.org.admin.id]
    assert stack.salesforce.tokens.refresh[refresh["analyst@acme.example"]].revoked
    assert not stack.salesforce.tokens.refresh[refresh[stack.org.admin.username]].revoked
    assert [r.operation for r in stack.salesforce.requests if r.operation == "revoke"] == ["revoke"]
