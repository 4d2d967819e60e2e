"""SPEC §3 "One living card per org", end to end over HTTP: a journey's channel status is one message, posted
when the authorization succeeds and edited in place through its stages (setting up → proving the sign-in → ✅ or
❌); what happens to the org later is a reply in the card's thread, broadcast when urgent; the used "Authorize in
Salesforce" message is replaced; the reveal is the hand-off to Quality Clouds' "New instance" form. (Across a
SIGKILL: tests/e2e/test_crash_safety.py.)"""

from datetime import timedelta

import pytest

from tests.e2e.test_expiry_warnings import DAY, MINUTE, connect_with_quality_clouds_token, wait_until_sent
from tests.e2e.test_status_and_disconnect import confirm_disconnect, private_answer
from tests.support.stack import ADMIN, CARD_SETTING_UP, CHANNEL

PROVING = "⏳ Sign-in:"


def card_key(stack):
    return stack.query("SELECT card_key FROM orgs")[0][0]


def posts(stack):
    return [call for call in stack.slack.calls_to("chat.postMessage") if call.ok]


async def test_one_journey_is_one_card_edited_through_its_stages(stack):
    stack.org.credentials_propagation = timedelta(minutes=2)
    hold = stack.salesforce.inject_hold("/services/Soap/m/", body_contains="checkDeployStatus")
    await stack.browse(await stack.request_link())
    await hold.wait_arrived()
    card = await stack.slack.wait_for(lambda: next(iter(stack.slack.messages(CHANNEL)), None), what="the card")
    assert card.text.startswith(f"{CARD_SETTING_UP} Acme Corp…"), "posted at authorization, before the deploy ends"
    assert card.blocks[0]["text"]["text"] == "⏳ Setting up QualityClouds in Acme Corp…"
    [(connection_id,)] = stack.query("SELECT id FROM connections")
    assert card_key(stack) == f"status:{connection_id}", "the card is the org's"

    hold.release()
    await stack.slack.wait_for(lambda: PROVING in card.text, what="the card edited: set up, proving the sign-in")
    stack.clock.advance(timedelta(minutes=2))
    await stack.slack.wait_for(lambda: "✅ Sign-in:" in card.text, what="the card edited: proved")
    await stack.settle()

    assert len(posts(stack)) == 1 and stack.slack.messages(CHANNEL) == [card]
    updates = stack.slack.calls_to("chat.update")
    assert [(call.params["channel"], call.params["ts"]) for call in updates] == [(CHANNEL, card.ts)] * 2
    stages = [version["text"] for version in card.history] + [card.text]
    assert [stage[:40] for stage in stages] == [
        "⏳ Setting up QualityClouds in Acme Corp…"[:40],
        "✅ Salesforce org Acme Corp is connected to Quality Clouds"[:40],
        "✅ Salesforce org Acme Corp is connected to Quality Clouds"[:40]]
    assert PROVING in stages[1] and "✅ Sign-in:" in stages[2]


async def test_a_provisioning_failure_edits_the_card_to_failed(stack):
    stack.org.require_api_only_run_as = True
    await stack.connect()
    card = await stack.status_message()
    assert card.text.startswith("❌ Connecting Salesforce to Acme Corp")
    assert "would not accept the run-as user" in card.text
    await stack.settle()
    assert len(posts(stack)) == 1
    assert card.history and card.history[0]["text"].startswith(CARD_SETTING_UP), "the same card, edited"
    assert [call.params["ts"] for call in stack.slack.calls_to("chat.update")] == [card.ts]


async def test_the_used_link_message_is_replaced_with_a_note(stack):
    link = await stack.request_link()
    [offer] = stack.slack.ephemerals(ADMIN)
    assert offer.buttons()
    await stack.browse(link)
    await stack.slack.wait_for(lambda: "works only once" in offer.text, what="the offer replaced")
    assert offer.buttons() == [] and link not in str(offer.blocks), "nothing left to click"
    replaced = [post for post in stack.slack.response_url_posts if post.body.get("replace_original")]
    assert len(replaced) == 1 and replaced[0].status == 200
    await stack.status_message()


async def test_an_expiry_warning_is_a_reply_in_the_cards_thread_and_the_expired_one_is_broadcast(stack):
    created, _ = await connect_with_quality_clouds_token(stack)
    card = stack.slack.messages(CHANNEL)[0]
    expires = created + 90 * DAY

    stack.clock.set(expires - 30 * DAY + MINUTE)
    await wait_until_sent(stack, 1)
    warning = stack.slack.messages(CHANNEL)[-1]
    assert "expires in 30 days" in warning.text
    assert (warning.thread_ts, warning.reply_broadcast) == (card.ts, False), "a reply, in the thread only"

    stack.clock.set(expires + MINUTE)
    await wait_until_sent(stack, 2)
    expired = stack.slack.messages(CHANNEL)[-1]
    assert "has expired" in expired.text
    assert (expired.thread_ts, expired.reply_broadcast) == (card.ts, True), "urgent: also in the channel"
    assert len(posts(stack)) == 3


async def test_a_new_journey_of_a_known_org_gets_a_card_of_its_own_which_becomes_the_orgs(stack):
    await stack.connect()
    first = await stack.status_message()
    [(first_journey,)] = stack.query("SELECT id FROM connections")
    await stack.connect()
    second = await stack.status_message(count=2)
    assert second.ts != first.ts and "connected to Quality Clouds" in second.text
    # Both journeys began at the same moment of the test's clock: the new one is the one that is not the first.
    [(latest,)] = stack.query("SELECT id FROM connections WHERE id != :first", {"first": first_journey})
    assert card_key(stack) == f"status:{latest}"

    await confirm_disconnect(stack, f"disconnect-org {stack.org.id[:15]}", shown="Disconnect *Acme Corp*")
    await private_answer(stack, "is disconnected")
    notice = await stack.slack.wait_for(
        lambda: next((m for m in stack.slack.messages(CHANNEL) if "disconnected" in m.text), None),
        what="the disconnect notice")
    assert notice.thread_ts == second.ts, "threaded under the org's current card"


async def test_an_org_connected_before_cards_hears_of_it_top_level(stack):
    created, _ = await connect_with_quality_clouds_token(stack)
    stack.query("UPDATE orgs SET card_key = NULL")  # as migrated from a version without cards
    stack.clock.set(created + 60 * DAY + MINUTE)
    await wait_until_sent(stack, 1)
    warning = stack.slack.messages(CHANNEL)[-1]
    assert "expires in 30 days" in warning.text and warning.thread_ts is None


@pytest.mark.parametrize("orphan_replies", ["refuse", "top_level"])
async def test_a_reply_whose_card_was_deleted_still_reaches_the_channel(stack, orphan_replies):
    """Slack does not document a reply to a deleted message: the stand-in refuses it by default and can post
    it top-level instead; either way the warning reaches the channel, once."""
    stack.slack.orphan_replies = orphan_replies
    created, _ = await connect_with_quality_clouds_token(stack)
    card = stack.slack.messages(CHANNEL)[0]
    card.deleted = True  # someone deleted the card in Slack
    stack.clock.set(created + 60 * DAY + MINUTE)
    await wait_until_sent(stack, 1)
    await stack.settle()
    [warning] = stack.slack.messages(CHANNEL)
    assert "expires in 30 days" in warning.text and warning.thread_ts is None
    refused = [call for call in stack.slack.calls_to("chat.postMessage") if not call.ok]
    assert len(refused) == (1 if orphan_replies == "refuse" else 0)


async def test_the_reveal_is_the_hand_off_to_quality_clouds_new_instance_form(stack):
    await stack.connect()
    await stack.status_message()
    offer = await stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals() if "Reveal" in str(e.blocks)])
    await stack.slack.click(stack.events_url, message=offer[0], action_id="reveal_credentials", user_id=ADMIN)
    [view] = await stack.slack.wait_for(lambda: stack.slack.opened_views)
    fields = {}
    for block in view.view["blocks"]:
        text = block.get("text", {}).get("text", "")
        if "```" in text:
            label, value = text.split("\n", 1)
            fields[label.strip("*")] = value.strip("`")
    key = stack.org.external_client_apps["QualityClouds"]["ExtlClntAppGlobalOauthSettings"]["consumerKey"]
    assert fields == {
        "Description": "Acme Corp (Production)", "Org URL": stack.org.my_domain_url, "Consumer Key": key,
        "Consumer Secret": stack.org.consumer_secret("QualityClouds"), "Login URL": "Production",
        "Environment": "Production",
    }
    assert "allow-list Quality Clouds' IP addresses" in str(view.view)
