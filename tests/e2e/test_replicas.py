"""Several replicas on one database (SPEC §10), against the real bot over HTTP and the Salesforce stand-in: a journey
whose lease another replica holds is left to it while the lease lives and adopted once it lapses; two journeys of
one org, on two replicas or on one, deploy one after the other; an org lease whose holder died holds up a journey,
a rotation (its retirement too) or a disconnect that deletes the app only until it lapses; two replicas refreshing
one org's rotating token at once make one refresh call between them."""

import asyncio
import re
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urljoin

import aiohttp
import pytest
from aiohttp import web

from bot.app import create_web_app
from bot.config import load_settings
from bot.leases import Leases
from bot.messages import ACTION_RETIRE_OLD_CREDENTIALS
from bot.orgs.access import org_access
from bot.redaction import Secret
from bot.timings import fast_timings
from standins.salesforce import FakeSalesforce
from storage import leases
from storage.crypto import SecretBox
from storage.database import Store
from tests.support.ports import free_port
from tests.support.stack import ADMIN, BOT_CLIENT_ID, CARD_SETTING_UP, CHANNEL, Stack


def waits_for_the_org(stack: Stack, work: str) -> bool:
    """The log says that a `work` (`journey`, `rotation`, `retire`, `disconnect`) found its org's lease held and
    waits (bot.leases)."""
    return re.search(rf"\b{work}:\w+ waits for lease org:", stack.log_text()) is not None


@pytest.fixture
async def other_replica_store(tmp_path):
    """What another replica opens: the same database, a store of its own."""
    stores = []

    async def open_for(stack):
        store = Store(url=stack.database_url, secret_box=SecretBox(keys=[Secret(stack.encryption_key)]))
        await store.open()
        stores.append(store)
        return store

    yield open_for
    for store in stores:
        await store.close()


@pytest.fixture
async def second_replica():
    """Another replica of the stack's bot, in this process (so it runs on the stack's clock): its own store, claim
    id and port, the same database and stand-ins. The public URL stays the stack's, where Salesforce sends the
    browser back; a test sends a callback here instead, as a load balancer would."""
    runners: list[web.AppRunner] = []

    async def start(stack: Stack) -> str:
        settings = load_settings(environ={**stack.bot_environment(), "QC_INSTANCE_ID": "replica-b"}, dotenv=None)
        runner = web.AppRunner(await create_web_app(settings, clock=stack.clock, timings=stack.timings))
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def authorize_through(stack: Stack, bot_url: str) -> None:
    """The admin runs `connect-org` and signs in; Salesforce's answer reaches the bot at `bot_url`."""
    at_salesforce = await stack.browse(await stack.request_link(), max_hops=2)  # the bot's page, then Salesforce's
    callback = at_salesforce.final.location
    assert callback is not None and callback.startswith(stack.bot_url + "/salesforce/oauth/callback"), callback
    answered = await stack.browse(bot_url + callback.removeprefix(stack.bot_url), max_hops=1)
    assert answered.final.status == 200, answered.final.body


def overlapping_deploys(salesforce: FakeSalesforce) -> list[tuple[str, str]]:
    """Pairs of deploys that were in flight at once, read from the stand-in's log of answered requests: a deploy is
    in flight from its answered `deploy` until a `checkDeployStatus` answers that it is done."""
    in_flight: list[str] = []
    overlaps: list[tuple[str, str]] = []
    for record in salesforce.requests:
        if record.operation == "deploy" and record.status == 200:
            match = re.search(rb"<id>(\w+)</id>", record.response_body)
            assert match is not None
            overlaps += [(other, match.group(1).decode()) for other in in_flight]
            in_flight.append(match.group(1).decode())
        elif record.operation == "checkDeployStatus" and b"<done>true</done>" in record.response_body:
            match = re.search(rb"<met:asyncProcessId>(\w+)</met:asyncProcessId>", record.request_body)
            assert match is not None
            in_flight = [deploy for deploy in in_flight if deploy != match.group(1).decode()]
    return overlaps


@pytest.mark.parametrize("second", ["on another replica", "on the same replica"])
async def test_two_journeys_of_one_org_deploy_one_after_the_other(make_stack, second_replica, second, database_url):
    if second == "on another replica" and database_url.startswith("sqlite"):
        # Replicas share PostgreSQL (README, "Running two replicas"): two busy apps on one SQLite file starve each
        # other's writes under load ("database is locked"), which says nothing about the org's lease.
        pytest.skip("several replicas run on PostgreSQL only")
    # The first journey's first deploy stays in flight until the test lets it go, however busy the machine.
    stack = await make_stack(timings=replace(fast_timings(), deploy_poll=replace(fast_timings().deploy_poll,
                                                                                 deadline=120.0)))
    other_url = await second_replica(stack) if second == "on another replica" else stack.bot_url
    stack.org.deploy_polls_until_done = 10**6

    await authorize_through(stack, stack.bot_url)
    await stack.slack.wait_for(lambda: stack.org.deploys, timeout=30, what="the first journey's first deploy")
    await authorize_through(stack, other_url)
    await stack.slack.wait_for(lambda: waits_for_the_org(stack, "journey"), timeout=30,
                               what="the second journey to wait for the org")
    assert len(stack.org.deploys) == 1, "nothing deployed beside the deploy in flight"
    assert stack.query("SELECT status FROM connections ORDER BY created_at, id") == [("provisioning",),
                                                                                      ("authorized",)]

    stack.org.deploy_polls_until_done = 2
    await stack.slack.wait_for(
        lambda: stack.query("SELECT status FROM connections WHERE status <> 'provisioned'") == [], timeout=30,
        what="both journeys to end")
    assert overlapping_deploys(stack.salesforce) == []
    assert list(stack.org.external_client_apps) == ["QualityClouds"], "one app"
    await stack.slack.wait_for(lambda: stack.query("SELECT COUNT(*) FROM leases WHERE name LIKE 'org:%'") == [(0,)],
                               timeout=30, what="the org's lease given up after the second journey")


async def test_an_org_lease_whose_holder_died_holds_a_journey_up_only_until_it_lapses(
        make_stack, other_replica_store):
    stack = await make_stack()
    other = await other_replica_store(stack)
    dead = Leases(store=other, clock=stack.clock, holder="dead-replica", timings=stack.timings)
    assert await dead.acquire(leases.org(team_id=stack.slack.team.team_id, org_id=stack.org.id))

    await stack.connect()
    await stack.slack.wait_for(lambda: waits_for_the_org(stack, "journey"), timeout=30,
                               what="the journey to wait for the org")
    assert stack.query("SELECT status FROM connections") == [("authorized",)]
    assert stack.org.deploys == []

    stack.clock.advance(stack.timings.lease_ttl)
    status = await stack.status_message()
    assert "connected to Quality Clouds" in status.text
    assert len(stack.app_deploys()) == 1


async def test_a_rotation_waits_for_the_orgs_lease_too(make_stack, other_replica_store):
    stack = await make_stack()
    await stack.connect()
    await stack.status_message()
    stack.clock.advance(timedelta(minutes=2))  # the new app's credentials have propagated: the proof ends
    await stack.slack.wait_for(lambda: stack.query("SELECT proof_status FROM connections") == [("proved",)],
                               timeout=30, what="the connection's sign-in proved")
    stack.org.credentials_propagation = timedelta(0)
    other = await other_replica_store(stack)
    dead = Leases(store=other, clock=stack.clock, holder="dead-replica", timings=stack.timings)
    assert await dead.acquire(leases.org(team_id=stack.slack.team.team_id, org_id=stack.org.id))

    await stack.slash("rotate-secret Acme Corp")
    await stack.slack.wait_for(lambda: waits_for_the_org(stack, "rotation"), timeout=30,
                               what="the rotation to wait for the org")
    assert stack.query("SELECT step FROM rotations") == [("started",)]
    assert stack.org.staged == {}, "nothing staged in Salesforce while another holds the org"

    stack.clock.advance(stack.timings.lease_ttl)
    done = await stack.slack.wait_for(
        lambda: next((m for m in stack.slack.messages(CHANNEL) if "rotated the consumer key and secret" in m.text),
                     None), timeout=30, what="the rotation's outcome")
    assert stack.query("SELECT step FROM rotations") == [("proven",)]

    # Retiring the old credentials turns the same org setting on and off: it waits for the org too.
    assert await dead.acquire(leases.org(team_id=stack.slack.team.team_id, org_id=stack.org.id))
    await stack.slack.click(stack.events_url, message=done, action_id=ACTION_RETIRE_OLD_CREDENTIALS, user_id=ADMIN)
    await stack.slack.wait_for(lambda: waits_for_the_org(stack, "retire"), timeout=30,
                               what="the retirement to wait for the org")
    assert len(stack.org.staged) == 1, "the old credentials stay while another holds the org"
    stack.clock.advance(stack.timings.lease_ttl)
    await stack.slack.wait_for(lambda: stack.query("SELECT step FROM rotations") == [("retired",)], timeout=30,
                               what="the retirement once the lease lapsed")
    assert stack.org.staged == {}


async def test_a_disconnect_that_deletes_the_app_waits_for_the_orgs_lease(make_stack, other_replica_store):
    stack = await make_stack()
    await stack.connect()
    await stack.status_message()
    await stack.settle()
    other = await other_replica_store(stack)
    dead = Leases(store=other, clock=stack.clock, holder="dead-replica", timings=stack.timings)
    assert await dead.acquire(leases.org(team_id=stack.slack.team.team_id, org_id=stack.org.id))

    await stack.slash("disconnect-org Acme Corp delete-app")
    confirmation = await stack.slack.wait_for(
        lambda: [e for e in stack.slack.ephemerals(ADMIN) if "disconnect_org_confirm" in str(e.blocks)],
        what="the confirmation")
    await stack.slack.click(stack.events_url, message=confirmation[-1], action_id="disconnect_org_confirm",
                            user_id=ADMIN)
    await stack.slack.wait_for(lambda: waits_for_the_org(stack, "disconnect"), timeout=30,
                               what="the disconnect to wait for the org")
    assert "QualityClouds" in stack.org.external_client_apps, "nothing deleted while another holds the org"
    assert stack.query("SELECT status FROM orgs") == [("connected",)]

    stack.clock.advance(stack.timings.lease_ttl)
    await stack.slack.wait_for(lambda: stack.query("SELECT status FROM orgs") == [("disconnected",)], timeout=30,
                               what="the disconnect to finish once the lease lapsed")
    assert stack.org.external_client_apps == {}


async def test_a_replica_restarted_under_its_name_takes_back_its_journey_at_once(make_stack, other_replica_store):
    stack = await make_stack(env={"QC_INSTANCE_ID": "replica-a"})
    stack.salesforce.inject_delay("/services/Soap", seconds=0.3, count=None)
    await stack.browse(await stack.request_link())
    await stack.slack.wait_for(lambda: stack.salesforce.calls("readMetadata"), what="provisioning to start")
    await stack.stop_bot()
    [(connection_id, status)] = stack.query("SELECT id, status FROM connections")
    assert status == "provisioning"
    # The previous process was killed holding the journey's lease (a graceful stop gives it up).
    other = await other_replica_store(stack)
    previous = Leases(store=other, clock=stack.clock, holder="replica-a", timings=stack.timings)
    assert await previous.acquire(leases.journey(connection_id))
    stranger = Leases(store=other, clock=stack.clock, holder="replica-b", timings=stack.timings)
    assert not await stranger.acquire(leases.journey(connection_id)), "the lease is alive for anyone else"

    stack.salesforce.clear_injections()
    await stack.start_bot()  # the clock stands still: the lease never lapses, the restart takes it back
    status = await stack.status_message()
    assert "connected to Quality Clouds" in status.text
    assert stack.query("SELECT status FROM connections") == [("provisioned",)]
    assert list(stack.org.external_client_apps) == ["QualityClouds"]


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
                               leases=Leases(store=store, clock=stack.clock, holder=f"replica-{index}",
                                             timings=stack.timings))
                    for index, store in enumerate(stores)]
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
