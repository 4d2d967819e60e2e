"""SPEC §3 over HTTP: `/qc status`, the App Home dashboard with its re-authorize buttons, and
`/qc disconnect-org` with its confirmation, revocation, forgetting and (on request) deleting the app."""

import json
from datetime import timedelta

import pytest

from standins.slack import validate_blocks, validate_view
from tests.support.stack import ADMIN, CHANNEL, MEMBER

DAY = timedelta(days=1)


async def connected(stack):
    stack.org.add_oauth_token(app_name="QualityClouds", user=stack.org.admin, created=stack.clock.now(),
                              last_used=stack.clock.now())
    await stack.connect()
    await stack.status_message()
    await stack.slack.wait_for(lambda: stack.query("SELECT 1 FROM tracked_tokens WHERE kind = 'app'"),
                               what="the app's token to be tracked")


async def private_answer(stack, fragment, *, after=0):
    found = await stack.slack.wait_for(
        lambda: [post for post in stack.slack.response_url_posts[after:] if fragment in str(post.body)],
        what=fragment)
    return found[-1]


async def confirm_disconnect(stack, text, *, shown):
    """Run `/qc <text>` as the admin and click Confirm on the private confirmation that mentions `shown`."""
    await stack.slash(text)
    confirmation = await stack.slack.wait_for(
        lambda: [e for e in stack.slack.ephemerals(ADMIN) if shown in str(e.blocks)], what="the confirmation")
    await stack.slack.click(stack.events_url, message=confirmation[-1], action_id="disconnect_org_confirm",
                            user_id=ADMIN)


async def test_status_lists_the_orgs_with_app_setup_and_nearest_expiry(stack):
    empty = await stack.slash("status", user=MEMBER)
    assert empty.status == 200
    assert "No Salesforce org is connected" in str((await private_answer(stack, "No Salesforce org")).body)

    await connected(stack)
    before = len(stack.slack.response_url_posts)
    await stack.slash("status", user=MEMBER)
    answer = await private_answer(stack, "Nearest expiry", after=before)
    assert answer.body["response_type"] == "ephemeral"
    text = str(answer.body["blocks"])
    expires = stack.clock.now() + 90 * DAY
    for fact in ("Acme Corp", stack.org.id, "Production", "External Client App", "QualityClouds", "set up",
                 "1 warning", "QualityClouds token of admin@acme.example", f"{expires:%Y-%m-%d}", "in 90 days"):
        assert fact in text, fact
    assert validate_blocks(answer.body["blocks"]) == []
    assert "Acme Corp" in answer.body["text"], "a full plain-text fallback"


async def test_the_app_home_shows_the_dashboard_and_re_authorizes_admins_only(stack):
    await connected(stack)
    for user in (MEMBER, ADMIN):
        await stack.slack.send_event(stack.events_url, event=stack.slack.app_home_opened_event(user_id=user))
    homes = await stack.slack.wait_for(lambda: stack.slack.home_views if len(stack.slack.home_views) == 2 else None)
    home = homes[ADMIN]
    assert validate_view(home.view, expected_type="home") == []
    assert "Acme Corp" in str(home.view["blocks"]) and "Nearest expiry" in str(home.view["blocks"])

    await stack.slack.click(stack.events_url, message=homes[MEMBER], action_id="reauthorize_org", user_id=MEMBER)
    refusal = await stack.slack.wait_for(lambda: stack.slack.opened_views[-1:] or None)
    assert "only Slack workspace admins" in str(refusal[0].view)
    assert ("connect_requested", MEMBER, "refused") in stack.query("SELECT action, actor, outcome FROM audit_log")

    await stack.slack.click(stack.events_url, message=home, action_id="reauthorize_org", user_id=ADMIN)
    modal = await stack.slack.wait_for(lambda: stack.slack.opened_views[1:] or None)
    link = modal[0].view["blocks"][0]["accessory"]["url"]
    assert "/salesforce/oauth/start?link=" in link
    await stack.browse(link)
    second = await stack.status_message(count=2)
    assert "checked and repaired" in second.text
    assert "run as admin@acme.example" in second.text, "re-authorizing keeps the client credentials user"


async def test_disconnect_needs_an_admin_and_a_confirmation(stack):
    await connected(stack)
    await stack.slash("disconnect-org Acme Corp", user=MEMBER)
    await private_answer(stack, "only Slack workspace admins")
    assert ("disconnect_requested", MEMBER, "refused") in stack.query("SELECT action, actor, outcome FROM audit_log")

    await stack.slash("disconnect-org acme corp")
    confirmation = await stack.slack.wait_for(
        lambda: [e for e in stack.slack.ephemerals(ADMIN) if "Disconnect *Acme Corp*" in str(e.blocks)])
    assert "stays in Salesforce" in confirmation[-1].text
    await stack.slack.click(stack.events_url, message=confirmation[-1], action_id="disconnect_org_cancel",
                            user_id=ADMIN)
    await private_answer(stack, "Nothing was changed")
    assert stack.query("SELECT status FROM orgs") == [("connected",)]

    await stack.slash("disconnect-org Nowhere Inc")
    await private_answer(stack, "No connected org in this workspace is called or has the id `Nowhere Inc`")


async def test_disconnect_revokes_forgets_and_stops_warnings(stack):
    await connected(stack)
    bot_refresh_token = next(t for t in stack.salesforce_tokens() if not t.startswith("00D"))
    stack.slack.fail_next("chat.postMessage", error="internal_error", count=30)
    stack.clock.advance(60 * DAY + timedelta(minutes=1))  # the 30-day warning is due, but Slack is down
    await stack.slack.wait_for(lambda: stack.query("SELECT 1 FROM notifications WHERE dedupe_key LIKE 'expiry:%'"
                                                   " AND attempts >= 1"), what="a failed warning")
    stack.slack.clear_faults()

    await stack.slash("status")
    dashboard = await stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals(ADMIN)
                                                    if "Nearest expiry" in str(e.blocks)])
    await confirm_disconnect(stack, f"disconnect-org {stack.org.id[:15]}", shown="Disconnect *Acme Corp*")
    done = await private_answer(stack, "is disconnected")
    assert "were revoked" in str(done.body) and "stays in Salesforce" in str(done.body)
    notice = await stack.slack.wait_for(lambda: [m for m in stack.slack.messages(CHANNEL)
                                                 if "disconnected Salesforce org" in m.text])
    assert f"<@{ADMIN}>" in notice[0].text

    assert stack.query("SELECT status, access_token_enc, refresh_token_enc, consumer_key_enc, consumer_secret_enc"
                       " FROM orgs") == [("disconnected", None, None, None, None)]
    assert stack.query("SELECT COUNT(*) FROM tracked_tokens") == [(0,)]
    assert stack.query("SELECT COUNT(*) FROM token_syncs") == [(0,)]
    assert stack.query("SELECT status, last_error FROM notifications WHERE dedupe_key LIKE 'expiry:%'") == [
        ("undeliverable", "org disconnected")]
    audit = stack.query("SELECT actor, outcome, detail FROM audit_log WHERE action = 'disconnect'")
    assert audit[0][:2] == (ADMIN, "disconnected") and json.loads(audit[0][2])["revoked"] is True
    family = stack.salesforce.tokens.refresh[bot_refresh_token]
    assert family.revoked, "the bot's refresh token was revoked at Salesforce"
    assert "QualityClouds" in stack.org.external_client_apps, "the app stays unless delete-app was asked"

    await stack.slack.click(stack.events_url, message=dashboard[-1], action_id="reauthorize_org", user_id=ADMIN)
    await private_answer(stack, "not connected in this workspace any more")
    stack.clock.advance(40 * DAY)
    await stack.slash("status")
    await private_answer(stack, "No Salesforce org is connected")
    assert not any("access to Acme Corp" in message.text for message in stack.slack.messages(CHANNEL))
    database = stack.database_bytes()
    assert bot_refresh_token.encode() not in database


async def test_disconnect_with_delete_app_removes_the_app_from_the_org(stack):
    await connected(stack)
    await confirm_disconnect(stack, "disconnect-org Acme Corp delete-app", shown="deletes the QualityClouds app")
    done = await private_answer(stack, "is disconnected")
    assert "app was deleted from the org" in str(done.body)
    assert stack.org.external_client_apps == {}
    assert [row.app_name for row in stack.org.oauth_tokens] == [], "the app's tokens and qc-bot's are gone"
    deletes = [record for record in stack.salesforce.calls("deleteMetadata")
               if b"PermissionSet" not in record.request_body]  # the credentials read's temporary one
    assert [r.request_body.split(b"<met:type>")[1].split(b"<")[0] for r in deletes] == [
        b"ExtlClntAppConfigurablePolicies", b"ExtlClntAppOauthConfigurablePolicies",
        b"ExtlClntAppGlobalOauthSettings", b"ExtlClntAppOauthSettings", b"ExternalClientApplication"]


async def test_a_refused_app_deletion_disconnects_nothing(stack):
    await connected(stack)
    stack.org.fail_next_call("deleteMetadata", fault="INSUFFICIENT_ACCESS",
                             message="insufficient access rights on object id")
    await confirm_disconnect(stack, "disconnect-org Acme Corp delete-app", shown="deletes the QualityClouds app")
    failed = await private_answer(stack, "Nothing was disconnected")
    assert "insufficient access rights" in str(failed.body)
    assert stack.query("SELECT status FROM orgs") == [("connected",)]
    assert stack.query("SELECT COUNT(*) FROM tracked_tokens") == [(2,)]
    assert stack.query("SELECT outcome FROM audit_log WHERE action = 'disconnect'") == [("failed:delete_app_failed",)]
    assert "QualityClouds" in stack.org.external_client_apps
    assert not stack.salesforce.calls("revoke")


async def test_a_token_sync_that_overlaps_a_disconnect_brings_nothing_back(stack):
    await connected(stack)
    # The next sync refreshes qc-bot's token, then reads the app's tokens: the disconnect happens in between.
    hold = stack.salesforce.inject_hold("/services/data/", body_contains=None)
    stack.clock.advance(timedelta(hours=2))
    await hold.wait_arrived()
    await confirm_disconnect(stack, f"disconnect-org {stack.org.id[:15]}", shown="Disconnect *Acme Corp*")
    await private_answer(stack, "is disconnected")
    hold.release()
    await stack.slack.wait_for(lambda: "changed during its sync" in stack.log_text(),
                               what="the sync to notice the disconnect")
    assert stack.query("SELECT status, access_token_enc FROM orgs") == [("disconnected", None)]
    assert stack.query("SELECT COUNT(*) FROM tracked_tokens") == [(0,)]


@pytest.mark.parametrize("dead_token_error", ["unsupported_token_type", "invalid_token"])
async def test_disconnecting_with_a_token_revoked_in_setup_is_no_error(stack, dead_token_error):
    await connected(stack)
    stack.salesforce.dead_token_revoke_error = dead_token_error
    bot_refresh_token = next(t for t in stack.salesforce_tokens() if not t.startswith("00D"))
    stack.salesforce.tokens.revoke_family(stack.salesforce.tokens.refresh[bot_refresh_token])  # an admin did

    await confirm_disconnect(stack, "disconnect-org Acme Corp", shown="Disconnect *Acme Corp*")
    done = await private_answer(stack, "is disconnected")
    assert "were revoked" in str(done.body), "nothing was left to revoke: that is done, not a failure"
    (call,) = stack.salesforce.calls("revoke")
    assert call.status == 400 and dead_token_error.encode() in call.response_body
    audit = stack.query("SELECT detail FROM audit_log WHERE action = 'disconnect'")
    assert json.loads(audit[0][0])["revoked"] is True
