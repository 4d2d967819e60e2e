import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import ManualClock
from bot.redaction import Secret
from bot.slack.clients import SingleWorkspaceClients, slack_retry_handlers
from bot.slack.outbox import SlackDelivery
from bot.timings import fast_timings
from standins.slack import FakeSlack
from storage.crypto import SecretBox
from storage.database import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
async def fake_slack():
    async with FakeSlack(signing_secret="signing-secret") as fake:
        fake.add_user(user_id="UADMIN", name="ada", is_admin=True)
        fake.add_channel(channel_id="CQC", name="salesforce", members=["UADMIN"])
        yield fake


@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def delivery(fake_slack, store, clock):
    timings = fast_timings()
    client = AsyncWebClient(token=fake_slack.team.bot_token, base_url=fake_slack.api_url,
                            retry_handlers=slack_retry_handlers(timings.slack_retry))
    return SlackDelivery(store=store, clients=SingleWorkspaceClients(client), clock=clock, timings=timings,
                         sender="serve")


async def enqueue(store, key="status:1", user_id=None, now=NOW):
    return await store.run(lambda repos: repos.notifications.enqueue(
        dedupe_key=key, team_id="T", channel_id="CQC", user_id=user_id,
        payload={"text": "hello", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]},
        now=now))


async def notification(store, key="status:1"):
    return await store.run(lambda repos: repos.notifications.get(key))


async def test_a_queued_message_is_posted_once_and_marked_with_its_ts(fake_slack, store, delivery):
    assert await enqueue(store)
    assert not await enqueue(store), "the same dedupe key must not queue twice"
    assert await delivery.deliver_due() == 1
    assert await delivery.deliver_due() == 0
    posted = fake_slack.messages("CQC")
    assert [message.text for message in posted] == ["hello"]
    assert (await notification(store)).message_ts == posted[0].ts


async def test_ephemeral_messages_go_to_their_user_only(fake_slack, store, delivery):
    await enqueue(store, key="reveal:1", user_id="UADMIN")
    await delivery.deliver_due()
    assert fake_slack.messages("CQC") == []
    assert [ephemeral.text for ephemeral in fake_slack.ephemerals("UADMIN")] == ["hello"]


async def test_rate_limits_are_waited_out_by_the_client(fake_slack, store, delivery):
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=0, count=2)
    await enqueue(store)
    assert await delivery.deliver_due() == 1
    assert len(fake_slack.calls_to("chat.postMessage")) == 3


async def test_a_message_slack_keeps_refusing_is_kept_and_retried_later(fake_slack, store, delivery, clock):
    fake_slack.fail_next("chat.postMessage", status=503, count=3)
    await enqueue(store)
    assert await delivery.deliver_due() == 0
    pending = await notification(store)
    assert pending.status == "pending" and pending.attempts == 1 and pending.next_attempt_at > NOW
    assert await delivery.deliver_due() == 0, "not due yet"
    clock.advance(timedelta(seconds=2))
    assert await delivery.deliver_due() == 1
    assert (await notification(store)).status == "sent"
    assert [message.text for message in fake_slack.messages("CQC")] == ["hello"]


async def test_permanent_refusals_end_as_undeliverable(fake_slack, store, delivery):
    fake_slack.fail_next("chat.postMessage", error="channel_not_found")
    await enqueue(store)
    assert await delivery.deliver_due() == 0
    failed = await notification(store)
    assert failed.status == "undeliverable" and failed.last_error == "channel_not_found"


async def test_the_outbox_refuses_a_payload_holding_a_secret(store):
    secret = Secret("consumer-secret-that-must-stay-private")
    with pytest.raises(ValueError, match="contains a secret"):
        await store.run(lambda repos: repos.notifications.enqueue(
            dedupe_key="x", team_id="T", channel_id="C", payload={"text": secret.reveal()}, now=NOW))


class GatedClients:
    """The workspace's client, handed out only when the test opens the gate: a send caught mid-flight."""

    def __init__(self, client):
        self.client = client
        self.asked = asyncio.Event()
        self.gate = asyncio.Event()

    async def for_team(self, team_id):
        self.asked.set()
        await self.gate.wait()
        return self.client


async def stop_while_posting(fake_slack, store, clock, timings) -> tuple[GatedClients, asyncio.Task[None]]:
    """Two messages due; the first is being posted (held at the gate) when the outbox is told to stop."""
    clients = GatedClients(AsyncWebClient(token=fake_slack.team.bot_token, base_url=fake_slack.api_url))
    delivery = SlackDelivery(store=store, clients=clients, clock=clock, timings=timings, sender="serve")
    await enqueue(store)
    await enqueue(store, key="status:2")
    delivery.start()
    await asyncio.wait_for(clients.asked.wait(), timeout=5)
    return clients, asyncio.create_task(delivery.stop())


async def test_stopping_lets_the_message_in_flight_finish_and_be_marked_sent(fake_slack, store, clock):
    clients, stopping = await stop_while_posting(fake_slack, store, clock, fast_timings())
    clients.gate.set()
    await stopping
    assert (await notification(store)).status == "sent", "a restart must not post it again"
    assert (await notification(store, "status:2")).status == "sent", "what is due is flushed before the end"
    assert [message.text for message in fake_slack.messages("CQC")] == ["hello", "hello"]


async def test_stopping_starts_no_message_in_the_second_half_of_the_drain_time(fake_slack, store, clock):
    timings = replace(fast_timings(), delivery_drain_seconds=0.4)
    clients, stopping = await stop_while_posting(fake_slack, store, clock, timings)
    await asyncio.sleep(0.3)  # the scenario: Slack is slow past the cut-off (half of the 0.4 s drain time)
    clients.gate.set()
    await stopping
    assert (await notification(store)).status == "sent", "the message in flight still finishes"
    assert (await notification(store, "status:2")).status == "pending", "nothing starts after the cut-off"


async def test_a_message_claimed_by_another_process_is_left_to_it(fake_slack, store, delivery):
    await enqueue(store)
    pending = await notification(store)
    assert await store.run(lambda repos: repos.notifications.claim(pending.id, now=NOW,
                                                                   until=NOW + timedelta(minutes=2),
                                                                   by="check-expiry"))
    assert await delivery.deliver_due() == 0
    assert fake_slack.messages("CQC") == []


async def test_a_starting_server_releases_only_its_own_claims(store):
    await enqueue(store, key="status:1")
    await enqueue(store, key="status:2")
    first, second = await notification(store, "status:1"), await notification(store, "status:2")
    until = NOW + timedelta(minutes=2)
    await store.run(lambda repos: repos.notifications.claim(first.id, now=NOW, until=until, by="serve"))
    await store.run(lambda repos: repos.notifications.claim(second.id, now=NOW, until=until, by="check-expiry"))
    assert await store.run(lambda repos: repos.notifications.release_claims(by="serve")) == 1
    due = await store.run(lambda repos: [n.dedupe_key for n in repos.notifications.claim_due(
        now=NOW, until=until, by="serve", limit=10)])
    assert due == ["status:1"], "the message check-expiry is posting stays its own"


# -- edits of delivered messages (chat.update) --------------------------------------------------------------


def said(text):
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


async def enqueue_update(store, *, key="proof:1", of="status:1", text="edited", now=NOW):
    return await store.run(lambda repos: repos.notifications.enqueue_update(
        dedupe_key=key, of=of, payload=said(text), now=now))


async def test_an_edit_of_a_delivered_message_updates_it_in_place_once(fake_slack, store, delivery):
    await enqueue(store)
    await delivery.deliver_due()
    assert await enqueue_update(store)
    assert not await enqueue_update(store, text="again"), "the same edit is queued once"
    assert await delivery.deliver_due() == 1
    assert await delivery.deliver_due() == 0
    [message] = fake_slack.messages("CQC")
    assert message.text == "edited"
    [update] = fake_slack.calls_to("chat.update")
    assert (update.params["channel"], update.params["ts"]) == ("CQC", message.ts)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert (await notification(store, "proof:1")).status == "sent"


async def test_an_edit_queued_before_the_post_folds_into_it(fake_slack, store, delivery):
    await enqueue(store)
    await enqueue_update(store)
    assert (await notification(store, "proof:1")).status == "sent", "nothing is left to edit later"
    await delivery.deliver_due()
    assert [message.text for message in fake_slack.messages("CQC")] == ["edited"]
    assert fake_slack.calls_to("chat.update") == [], "one post with the latest content, no edit"


async def test_an_edit_waits_while_its_original_is_being_posted(fake_slack, store, delivery, clock):
    await enqueue(store)
    # Another sender holds the original mid-post: folding now could lose the edit, so it must wait.
    assert await store.run(lambda repos: repos.notifications.claim(
        1, now=NOW, until=NOW + timedelta(seconds=30), by="check-expiry"))
    await enqueue_update(store)
    assert await delivery.deliver_due() == 0
    waiting = await notification(store, "proof:1")
    assert waiting.status == "pending" and waiting.attempts == 0, "waiting is not a failed attempt"
    clock.advance(timedelta(seconds=31))  # the other sender's claim lapses: the original goes out first
    await delivery.deliver_due()
    clock.advance(timedelta(seconds=2))
    await delivery.deliver_due()
    assert [message.text for message in fake_slack.messages("CQC")] == ["edited"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 1 and len(fake_slack.calls_to("chat.update")) == 1


async def test_a_later_edit_supersedes_an_earlier_one_not_yet_sent(fake_slack, store, delivery):
    await enqueue(store)
    await delivery.deliver_due()
    await enqueue_update(store, key="proof:1:a", text="first edit")
    await enqueue_update(store, key="proof:1:b", text="second edit")
    await delivery.deliver_due()
    assert [message.text for message in fake_slack.messages("CQC")] == ["second edit"]
    assert len(fake_slack.calls_to("chat.update")) == 1
    assert (await notification(store, "proof:1:a")).last_error == "superseded"


async def test_an_edit_slack_refuses_for_good_ends_undeliverable(fake_slack, store, delivery):
    await enqueue(store)
    await delivery.deliver_due()
    fake_slack.fail_next("chat.update", error="message_not_found")
    await enqueue_update(store)
    assert await delivery.deliver_due() == 0
    refused = await notification(store, "proof:1")
    assert refused.status == "undeliverable" and refused.last_error == "message_not_found"


async def test_an_edit_of_a_message_that_went_out_directly_edits_the_direct_copy(fake_slack, store, delivery):
    fake_slack.fail_next("chat.postMessage", error="not_in_channel")
    await store.run(lambda repos: repos.notifications.enqueue(
        dedupe_key="status:1", team_id="T", channel_id="CQC", payload=said("hello"), now=NOW,
        fallback_user_id="UADMIN"))
    await delivery.deliver_due()
    await delivery.deliver_due()
    direct = await notification(store, "status:1:direct")
    assert direct.status == "sent" and direct.message_channel != "UADMIN", "Slack's DM channel, not the user"
    await enqueue_update(store)
    assert await delivery.deliver_due() == 1
    [update] = fake_slack.calls_to("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (direct.message_channel, direct.message_ts)
    assert "couldn't post this in <#CQC>" in update.params["text"], "the edit keeps saying why it came directly"


async def enqueue_for(store, *, requester="UADMIN"):
    """The status message of a journey: a channel message whose requester is told if it cannot be shown."""
    await store.run(lambda repos: repos.notifications.enqueue(
        dedupe_key="status:1", team_id="T", channel_id="CQC", payload=said("*Acme* is connected"), now=NOW,
        fallback_user_id=requester))


async def test_a_message_refused_as_invalid_goes_out_as_plain_text_and_its_requester_is_told(
        fake_slack, store, delivery):
    fake_slack.fail_next("chat.postMessage", error="invalid_blocks")
    await enqueue_for(store)
    await delivery.deliver_due()
    await delivery.deliver_due()
    [message] = fake_slack.messages("CQC")
    assert message.text == "*Acme* is connected" and message.blocks == []
    sent = await notification(store)
    assert sent.status == "sent" and sent.attempts == 2 and sent.message_ts == message.ts
    assert sent.payload == {"text": "*Acme* is connected", "blocks": []}, "the compact copy took its place"
    [note] = fake_slack.ephemerals("UADMIN")
    assert "Slack refused a message" in note.text and "<#CQC>" in note.text


async def test_an_edit_refused_as_invalid_replaces_the_message_with_plain_text(fake_slack, store, delivery):
    await enqueue_for(store)
    await delivery.deliver_due()
    fake_slack.fail_next("chat.update", error="invalid_blocks")
    await enqueue_update(store, text="edited, with blocks Slack refuses")
    await delivery.deliver_due()
    await delivery.deliver_due()
    [message] = fake_slack.messages("CQC")
    assert message.text == "edited, with blocks Slack refuses"
    assert message.blocks == [], "the old blocks would still show the old state"
    assert "Slack refused a message" in fake_slack.ephemerals("UADMIN")[0].text


async def test_plain_text_slack_still_refuses_ends_undeliverable_without_a_loop(fake_slack, store, delivery):
    fake_slack.fail_next("chat.postMessage", error="msg_too_long", count=2)
    await enqueue_for(store)
    await delivery.deliver_due()
    await delivery.deliver_due()
    assert await delivery.deliver_due() == 0
    refused = await notification(store)
    assert refused.status == "undeliverable" and refused.last_error == "msg_too_long"
    assert len(fake_slack.calls_to("chat.postMessage")) == 2


async def test_a_private_message_refused_as_invalid_reaches_its_user_as_plain_text(fake_slack, store, delivery):
    fake_slack.fail_next("chat.postEphemeral", error="invalid_blocks")
    await enqueue(store, key="reveal:1", user_id="UADMIN")
    await delivery.deliver_due()
    await delivery.deliver_due()
    assert [(e.text, e.blocks) for e in fake_slack.ephemerals("UADMIN")] == [("hello", [])]


# -- replies in a card's thread -----------------------------------------------------------------------------


async def enqueue_reply(store, *, key="expiry:T:00D:bot:1:30", thread_of="status:1", broadcast=False):
    return await store.run(lambda repos: repos.notifications.enqueue(
        dedupe_key=key, team_id="T", channel_id="CQC", payload=said("a warning"), now=NOW, thread_of=thread_of,
        broadcast=broadcast))


async def test_a_reply_waits_for_its_card_then_goes_in_its_thread(fake_slack, store, delivery, clock):
    await enqueue(store)
    assert await store.run(lambda repos: repos.notifications.claim(
        1, now=NOW, until=NOW + timedelta(seconds=30), by="check-expiry"))  # the card is on its way elsewhere
    await enqueue_reply(store, broadcast=True)
    assert await delivery.deliver_due() == 0
    waiting = await notification(store, "expiry:T:00D:bot:1:30")
    assert waiting.status == "pending" and waiting.attempts == 0, "waiting for the card is not a failed attempt"
    clock.advance(timedelta(seconds=31))
    await delivery.deliver_due()
    clock.advance(timedelta(seconds=2))
    await delivery.deliver_due()
    card, reply = fake_slack.messages("CQC")
    assert (reply.text, reply.thread_ts, reply.reply_broadcast) == ("a warning", card.ts, True)


async def test_a_reply_whose_card_never_reached_the_channel_goes_top_level(fake_slack, store, delivery):
    fake_slack.fail_next("chat.postMessage", error="is_archived")
    await enqueue(store)
    await delivery.deliver_due()
    await enqueue_reply(store)
    await delivery.deliver_due()
    [reply] = fake_slack.messages("CQC")
    assert reply.text == "a warning" and reply.thread_ts is None


@pytest.mark.parametrize("orphan_replies", ["refuse", "top_level"])
async def test_a_reply_whose_card_was_deleted_in_slack_goes_top_level_once(fake_slack, store, delivery,
                                                                           orphan_replies):
    fake_slack.orphan_replies = orphan_replies
    await enqueue(store)
    await delivery.deliver_due()
    fake_slack.messages("CQC")[0].deleted = True
    await enqueue_reply(store)
    assert await delivery.deliver_due() == 1
    [reply] = fake_slack.messages("CQC")
    assert reply.thread_ts is None and (await notification(store, "expiry:T:00D:bot:1:30")).status == "sent"


# -- several replicas (SPEC §10) ----------------------------------------------------------------------------


async def test_two_replicas_deliver_every_message_exactly_once_between_them(fake_slack, store, clock,
                                                                           database_url):
    # The other replica's store on the same database (outbox rows hold nothing encrypted: any key reads them).
    other_store = Store(url=database_url, secret_box=SecretBox(keys=[Secret(Fernet.generate_key().decode())]))
    await other_store.open()
    try:
        for index in range(30):
            await enqueue(store, key=f"status:{index}")
        pending = "SELECT COUNT(*) FROM notifications WHERE status = 'pending'"
        assert await other_store.run(lambda repos: repos.db.execute(pending).scalar_one()) == 30, "one database"
        timings = fast_timings()
        replicas = [
            SlackDelivery(store=each, clock=clock, timings=timings, sender=f"replica-{index}",
                          clients=SingleWorkspaceClients(AsyncWebClient(token=fake_slack.team.bot_token,
                                                                        base_url=fake_slack.api_url)))
            for index, each in enumerate((store, other_store))]
        sent = await asyncio.gather(*(replica.deliver_due() for replica in replicas))
        assert sum(sent) == 30
        assert len(fake_slack.messages("CQC")) == 30, "no message posted twice, none left out"
        assert len(fake_slack.calls_to("chat.postMessage")) == 30
    finally:
        await other_store.close()


async def test_a_stopped_replicas_unbegun_batch_goes_out_from_another_once_its_reservation_lapses(
        fake_slack, store, clock, delivery):
    for index in range(3):
        await enqueue(store, key=f"status:{index}")
    # A replica claimed the batch and died before posting any of it.
    batch = await store.run(lambda repos: repos.notifications.claim_due(
        now=NOW, until=NOW + fast_timings().lease_ttl, by="dead-replica", limit=20))
    assert len(batch) == 3
    assert await delivery.deliver_due() == 0, "reserved for the other replica"
    clock.advance(fast_timings().lease_ttl)
    assert await delivery.deliver_due() == 3
    assert len(fake_slack.messages("CQC")) == 3
