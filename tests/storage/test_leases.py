"""Several replicas on one database (SPEC §10), at the storage layer: two `Store`s opened on the same database, as two
processes would, each asserting that a piece of work goes to exactly one of them."""

import asyncio
from datetime import timedelta

import pytest

from storage import leases
from storage.database import Store
from tests.storage.conftest import NOW

TTL = timedelta(seconds=15)


@pytest.fixture
async def replicas(database_url, secret_box):
    """Two stores on one database (`database_url`, each engine), as two replicas open it."""
    stores = [Store(url=database_url, secret_box=secret_box) for _ in range(2)]
    for store in stores:
        await store.open()
    yield stores
    for store in stores:
        await store.close()


async def acquire(store, name, holder, *, now=NOW):
    return await store.run(lambda repos: repos.leases.acquire(name, holder=holder, now=now, until=now + TTL))


async def test_a_lease_has_one_holder_until_it_expires_and_then_the_first_who_asks(replicas):
    a, b = replicas
    assert await acquire(a, leases.SCHEDULER, "a")
    assert not await acquire(b, leases.SCHEDULER, "b"), "held and not expired"
    assert await acquire(a, leases.SCHEDULER, "a", now=NOW + timedelta(seconds=10)), "its holder renews it"
    assert not await acquire(b, leases.SCHEDULER, "b", now=NOW + timedelta(seconds=20)), "renewed until 25 s"
    assert await acquire(b, leases.SCHEDULER, "b", now=NOW + timedelta(seconds=25)), "a lapsed lease is taken over"
    assert not await acquire(a, leases.SCHEDULER, "a", now=NOW + timedelta(seconds=26)), (
        "the old holder, back from a stall, finds it lost the lease")
    lease = await a.run(lambda repos: repos.leases.get(leases.SCHEDULER))
    assert (lease.holder, lease.expires_at) == ("b", NOW + timedelta(seconds=25) + TTL)


async def test_only_the_holder_releases_a_lease_and_a_released_lease_is_free_at_once(replicas):
    a, b = replicas
    assert await acquire(a, leases.journey("c1"), "a")
    assert not await b.run(lambda repos: repos.leases.release(leases.journey("c1"), holder="b"))
    assert not await acquire(b, leases.journey("c1"), "b")
    assert await a.run(lambda repos: repos.leases.release(leases.journey("c1"), holder="a"))
    assert await acquire(b, leases.journey("c1"), "b")


async def test_two_replicas_asking_at_once_never_both_get_a_lease(replicas):
    a, b = replicas
    for round_ in range(20):
        name = leases.token_refresh(team_id="T1", org_id=f"00D{round_}")
        won = await asyncio.gather(acquire(a, name, "a"), acquire(b, name, "b"))
        assert sorted(won) == [False, True], (round_, won)


async def enqueue_many(store, count):
    def queue(repos):
        for index in range(count):
            repos.notifications.enqueue(dedupe_key=f"status:{index}", team_id="T1", channel_id="C1",
                                        payload={"text": f"message {index}"}, now=NOW)

    await store.run(queue)


async def test_two_outboxes_claiming_batches_at_once_take_each_message_exactly_once(replicas):
    a, b = replicas
    await enqueue_many(a, 45)

    async def claim_all(store, by):
        taken = []
        while batch := await store.run(lambda repos: repos.notifications.claim_due(
                now=NOW, until=NOW + timedelta(minutes=2), by=by, limit=4)):
            taken += [notification.dedupe_key for notification in batch]
            await asyncio.sleep(0)
        return taken

    first, second = await asyncio.gather(claim_all(a, "a"), claim_all(b, "b"))
    assert not set(first) & set(second), "no message claimed by both"
    assert sorted(first + second) == sorted(f"status:{index}" for index in range(45))


async def test_a_batch_comes_in_sending_order_and_leaves_messages_others_hold(replicas):
    a, b = replicas
    await enqueue_many(a, 3)
    held = await b.run(lambda repos: repos.notifications.get("status:0"))
    assert await b.run(lambda repos: repos.notifications.claim(held.id, now=NOW, until=NOW + timedelta(minutes=2),
                                                               by="b"))
    batch = await a.run(lambda repos: repos.notifications.claim_due(now=NOW, until=NOW + timedelta(minutes=2),
                                                                    by="a", limit=10))
    assert [notification.dedupe_key for notification in batch] == ["status:1", "status:2"]
    assert await a.run(lambda repos: repos.notifications.claim(batch[0].id, now=NOW, until=NOW + timedelta(minutes=3),
                                                               by="a")), "its own claim is extended before sending"
    assert not await a.run(lambda repos: repos.notifications.claim(held.id, now=NOW, until=NOW + timedelta(minutes=3),
                                                                   by="a"))
    released = await a.run(lambda repos: repos.notifications.release_claims(by="a", ids=[batch[1].id, held.id]))
    assert released == 1, "a replica gives back only its own claims"


async def create_journey(store, connection_id, *, status):
    def create(repos):
        repos.connections.create(connection_id=connection_id, team_id="T1", enterprise_id=None, user_id="U1",
                                 channel_id="C1", environment="production", login_url="https://login.salesforce.com",
                                 run_as=None, now=NOW)
        if status != "pending_auth":
            repos.connections.transition(connection_id, expected=["pending_auth"], to=status, now=NOW)

    await store.run(create)


async def test_journeys_under_way_are_adoptable_only_while_nobody_holds_their_lease(replicas):
    a, b = replicas
    await create_journey(a, "c1", status="authorized")
    await create_journey(a, "c2", status="provisioning")
    await create_journey(a, "c3", status="pending_auth")
    await create_journey(a, "c4", status="failed")

    async def adoptable(now=NOW):
        return [connection.id for connection in await b.run(lambda repos: repos.connections.adoptable(now=now))]

    assert await adoptable() == ["c1", "c2"], "only journeys a replica works on; not waiting or ended ones"
    assert await acquire(a, leases.journey("c1"), "a")
    assert await adoptable() == ["c2"], "a live lease keeps c1 with its replica"
    assert await adoptable(NOW + TTL) == ["c1", "c2"], "once the lease lapsed, c1 is adopted"


async def test_rotations_under_way_are_adoptable_only_while_nobody_holds_their_lease(replicas):
    a, b = replicas

    await create_journey(a, "c1", status="provisioned")

    def begin(repos):
        for rotation_id, org_id in (("r1", "00D1"), ("r2", "00D2")):
            repos.rotations.create(rotation_id=rotation_id, team_id="T1", org_id=org_id, user_id="U1",
                                   channel_id="C1", connection_id="c1", incident=False, now=NOW)

    await a.run(begin)
    assert await acquire(a, leases.rotation("r1"), "a")
    found = await b.run(lambda repos: [rotation.id for rotation in repos.rotations.adoptable(now=NOW)])
    assert found == ["r2"]
    found = await b.run(lambda repos: [rotation.id for rotation in repos.rotations.adoptable(now=NOW + TTL)])
    assert found == ["r1", "r2"]
