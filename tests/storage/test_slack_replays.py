"""The shared replay memory (table `slack_replays`): a key is admitted once until it expires, whoever asks; an
expired key is admitted again even before it is pruned; pruning is bounded and takes the oldest first."""

from datetime import timedelta

from tests.storage.conftest import NOW


async def test_a_key_is_admitted_once_until_it_expires(store):
    later = NOW + timedelta(minutes=5)
    # As the gate does: one statement that commits on its own (no BEGIN/COMMIT around it on PostgreSQL).
    admitted = await store.run_alone(lambda repos: repos.slack_replays.admit(
        [("signature:a", later), ("event:E1", NOW + timedelta(minutes=10))], now=NOW))
    assert admitted == {"signature:a", "event:E1"}
    again = await store.run(lambda repos: repos.slack_replays.admit(
        [("signature:a", later), ("signature:b", later)], now=NOW + timedelta(minutes=4)))
    assert again == {"signature:b"}, "a key already there is not admitted, a new one beside it is"
    expired = await store.run(lambda repos: repos.slack_replays.admit(
        [("signature:a", later + timedelta(minutes=5))], now=later))
    assert expired == {"signature:a"}, "an expired row not yet pruned does not refuse its key"


async def test_a_forgotten_key_is_admitted_again(store):
    until = NOW + timedelta(minutes=5)
    await store.run(lambda repos: repos.slack_replays.admit([("signature:a", until), ("event:E1", until)], now=NOW))
    await store.run(lambda repos: repos.slack_replays.forget(["signature:a", "event:E1"]))
    assert await store.run(lambda repos: repos.slack_replays.admit([("event:E1", until)], now=NOW)) == {"event:E1"}


async def test_pruning_deletes_expired_rows_oldest_first_and_at_most_the_limit(store):
    rows = [(f"signature:{number}", NOW + timedelta(seconds=number)) for number in range(5)]
    await store.run(lambda repos: repos.slack_replays.admit(rows, now=NOW))
    pruned = await store.run(lambda repos: repos.slack_replays.prune(now=NOW + timedelta(seconds=3), limit=2))
    assert pruned == 2
    left = await store.run(lambda repos: [row["request_key"] for row in repos.db.query(
        "SELECT request_key FROM slack_replays ORDER BY request_key")])
    assert left == ["signature:2", "signature:3", "signature:4"]
    assert await store.run(lambda repos: repos.slack_replays.prune(now=NOW + timedelta(seconds=3), limit=10)) == 2
