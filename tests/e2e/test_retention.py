"""Retention over HTTP with a controlled clock (SPEC §7): `qc-bot serve` prunes what ended more than
QC_RETENTION_DAYS ago, keeps what is live or still decides something, and a warning never comes twice."""

from datetime import timedelta

from tests.e2e.test_expiry_warnings import (
    DAY,
    MINUTE,
    channel_texts,
    connect_with_quality_clouds_token,
    wait_for_channel_messages,
    wait_until_sent,
)
from tests.e2e.test_status_and_disconnect import confirm_disconnect, private_answer

TABLES = ("oauth_links", "oauth_states", "reveals", "connections", "notifications", "orgs", "tracked_tokens")


def counts(stack):
    return {table: stack.query(f"SELECT COUNT(*) FROM {table}")[0][0] for table in TABLES}


def keys(stack):
    return [row[0].split(":")[0] for row in stack.query("SELECT dedupe_key FROM notifications ORDER BY id")]


async def test_pruning_keeps_what_is_live_and_never_sends_a_warning_twice(make_stack):
    stack = await make_stack(env={"QC_RETENTION_DAYS": "1"})
    created, _ = await connect_with_quality_clouds_token(stack)
    expires = created + 90 * DAY  # QC_REFRESH_TOKEN_POLICY's default lifetime
    await stack.settle()
    assert sorted(keys(stack)) == ["outcome", "proof", "reveal", "status"]
    before = counts(stack)
    assert before["oauth_links"] == before["oauth_states"] == before["reveals"] == before["connections"] == 1

    stack.clock.set(expires - 30 * DAY + MINUTE)
    assert "expires in 30 days" in (await wait_for_channel_messages(stack, 2))[-1]
    await wait_until_sent(stack, 1)
    await stack.slack.wait_for(lambda: counts(stack)["oauth_links"] == 0, what="the used link pruned")
    # Someone opens a link and leaves at Salesforce's login page: a link, a state and a journey that lapses.
    await stack.browse(await stack.request_link(), max_hops=1)
    assert counts(stack)["oauth_links"] == 1

    # Two days on, the one-time values and the journey's sent messages are gone; the org, its tokens, its journey
    # (the dashboard reads it), its card (the warning's thread) and the 30-day warning (its expiry is still ahead)
    # stay. The lapsed journey ended just now (and told its requester so): it stays for the retention period.
    stack.clock.advance(2 * DAY)
    expected = {**before, "oauth_links": 0, "oauth_states": 0, "reveals": 0, "connections": 2, "notifications": 3}
    await stack.slack.wait_for(lambda: counts(stack) == expected, what=f"pruned down to {expected}")
    assert sorted(keys(stack)) == ["expiry", "status", "status"]
    assert stack.query("SELECT card_key FROM orgs")[0][0] in [row[0] for row in stack.query(
        "SELECT dedupe_key FROM notifications")]
    await stack.slash("status")
    assert "QualityClouds" in str((await private_answer(stack, "Nearest expiry")).body)

    # Disconnecting forgets the token's warning schedule; connecting again tracks the same token afresh. Its
    # 30-day warning is found due again, and its kept outbox row is what stops it from going out twice.
    await confirm_disconnect(stack, f"disconnect-org {stack.org.id[:15]}", shown="Disconnect *Acme Corp*")
    await private_answer(stack, "is disconnected")
    seen = len(channel_texts(stack))
    await stack.connect()
    await stack.slack.wait_for(lambda: stack.query("SELECT 1 FROM tracked_tokens WHERE kind = 'app'"),
                               what="the token tracked again")
    await stack.settle()
    assert sum("access to Acme Corp expires in" in text for text in channel_texts(stack)) == 1
    assert len(channel_texts(stack)) >= seen + 1  # the new status message

    # Past the expiry: the remaining warnings each once; a retention period after the expiry they are pruned too,
    # and nothing comes again.
    stack.clock.set(expires + MINUTE)
    await stack.slack.wait_for(lambda: any("has expired" in text for text in channel_texts(stack)[seen:]),
                               what="the expiry notice")
    await stack.settle()
    sent = channel_texts(stack)
    stack.clock.set(expires + 2 * DAY)
    await stack.slack.wait_for(lambda: "expiry" not in keys(stack), what="the warnings pruned")
    stack.clock.advance(timedelta(hours=2))
    await stack.settle()
    assert channel_texts(stack) == sent
    assert counts(stack)["orgs"] == 1 and counts(stack)["tracked_tokens"] >= 1
