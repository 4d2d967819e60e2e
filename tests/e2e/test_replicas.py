"""Several replicas on one database (SPEC §10), against the real bot over HTTP and the Salesforce stand-in: a journey
whose lease another replica holds is left to it while the lease lives and adopted once it lapses; two replicas
refreshing one org's rotating token at once make one refresh call between them."""

import asyncio
from urllib.parse import urljoin

import aiohttp
import pytest

from bot.leases import Leases
from bot.orgs.access import org_access
from bot.redaction import Secret
from storage import leases
from storage.crypto import SecretBox
from storage.database import Store, sqlite_url
from tests.support.stack import BOT_CLIENT_ID, CARD_SETTING_UP, CHANNEL


@pytest.fixture
async def other_replica_store(tmp_path):
    """What another replica opens: the same database, a store of its own."""
    stores = []

    async def open_for(stack):
        store = Store(url=sqlite_url(stack.db_path), secret_box=SecretBox(keys=[Secret(stack.encryption_key)]))
        await store.open()
        stores.append(store)
        return store

    yield open_for
    for store in stores:
        await store.close()


async def test_a_journey_leased_by_another_replica_is_left_to_it_and_adopted_once_the_lease_lapses(
        make_stack, other_replica_store):
    stack = await make_stack()
    other = await other_replica_store(stack)
    before_salesforce = await stack.browse(await stack.request_link(), max_hops=2)
    assert before_salesforce.final.status == 302, "stopped at the redirect to Salesforce's authorize page"
    [(connection_id,)] = stack.query("SELECT id FROM connections")
    # Another replica holds the journey's lease (it took the journey over, then died without renewing).
    dead = Leases(store=other, clock=stack.clock, holder="dead-replica", timings=stack.timings)
    assert await dead.acquire(leases.journey(connection_id))

    visit = await stack.browse(urljoin(before_salesforce.final.url, before_salesforce.final.location))
    assert visit.final.status == 200
    [card] = await stack.slack.wait_for(lambda: stack.slack.messages(CHANNEL), what="the card")
    assert card.text.startswith(CARD_SETTING_UP)
    # A window of ten adoption rounds in which nothing may happen: the lease is alive.
    await asyncio.sleep(stack.timings.adopt_interval_seconds * 10)
    assert stack.query("SELECT status FROM connections") == [("authorized",)]
    assert stack.app_deploys() == []

    stack.clock.advance(stack.timings.lease_ttl)
    status = await stack.status_message()
    assert "connected to Quality Clouds" in status.text
    await stack.settle()
    assert len(stack.app_deploys()) == 1, "adopted once, deployed once"
    assert len([call for call in stack.slack.calls_to("chat.postMessage") if call.ok]) == 1, "one card"
    lease = await other.run(lambda repos: repos.leases.get(leases.journey(connection_id)))
    assert lease is None or lease.holder == stack.settings.instance_id, "the bot holds it while it proves the sign-in"


async def test_two_replicas_refreshing_one_orgs_rotating_token_at_once_call_salesforce_once(
        make_stack, other_replica_store):
    stack = await make_stack()
    stack.salesforce.clients[BOT_CLIENT_ID].rotate_refresh_tokens = True  # each refresh token works once
    await stack.connect()
    await stack.status_message()
    [(team_id, org_id)] = stack.query("SELECT team_id, org_id FROM orgs")
    stores = [await other_replica_store(stack), await other_replica_store(stack)]
    async with aiohttp.ClientSession() as session:
        replicas = [org_access(stack.settings, session=session, timings=stack.timings, store=store, clock=stack.clock,
                               holder=f"replica-{index}") for index, store in enumerate(stores)]
        org = await stores[0].run(lambda repos: repos.orgs.get(team_id=team_id, org_id=org_id))
        refreshes_before = len(stack.salesforce.calls("token:refresh_token"))

        first, second = await asyncio.gather(*(replica.refresh(org) for replica in replicas))

        assert len(stack.salesforce.calls("token:refresh_token")) == refreshes_before + 1
        assert first == second, "the replica that waited uses the token the other one stored"
        stored = await stores[1].run(lambda repos: repos.orgs.get(team_id=team_id, org_id=org_id))
        assert stored.status == "connected" and stored.refresh_token != org.refresh_token, "the rotated token is kept"
        await replicas[1].refresh(stored)  # the stored token still works: no replica used a stale one
        assert len(stack.salesforce.calls("token:refresh_token")) == refreshes_before + 2

        # Two tasks of one replica (a journey's session and a check, say) are no different.
        latest = await stores[0].run(lambda repos: repos.orgs.get(team_id=team_id, org_id=org_id))
        await asyncio.gather(replicas[0].refresh(latest), replicas[0].refresh(latest))
        assert len(stack.salesforce.calls("token:refresh_token")) == refreshes_before + 3
