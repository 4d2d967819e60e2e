"""Two real `qc-bot serve` replicas on one PostgreSQL database behind a round-robin proxy (SPEC §8, issue 14):
slash commands spread over both and each is answered once; the replica provisioning a journey is SIGKILLed
mid-deploy and the other finishes it (one app, one deploy, one card); two journeys of one org, one on each
replica, deploy one after the other, and the one waiting for the org is adopted when its replica is killed; the
scheduler's leader is SIGKILLed and the expiry warnings still go out, each once. Counted where it shows: at the
fake Salesforce and the fake Slack.

PostgreSQL only (two processes on one SQLite file is not a supported deployment): skipped with a reason where
Debian's postgresql is not installed, a failure under CI.
"""

import asyncio
import re
from datetime import timedelta

import pytest

from tests.e2e.test_replicas import authorize_through, overlapping_deploys
from tests.support.replicas import ReplicaSet
from tests.support.stack import CHANNEL

ECA = "QualityClouds"
LEASES = {"QC_LEASE_SECONDS": "2"}
"""Leases of 2 s (renewed, and lapsed ones looked for, every 2/3 s): a dead replica's work is taken over within
about 3 s instead of production's 20."""
ADMINS = [f"USCALE{number:04d}" for number in range(6)]
ADMINS_CHANNEL = "CSCALE0001"
TOKEN_OWNERS = ("ann@acme.example", "ben@acme.example", "cat@acme.example")


@pytest.fixture
async def replica_set(tmp_path, postgres_url):
    replicas = ReplicaSet(tmp_path, database_url=postgres_url, env=LEASES)
    await replicas.start(in_process=False)
    yield replicas
    await replicas.stop()


def add_admins(replicas: ReplicaSet) -> None:
    for number, user in enumerate(ADMINS):
        replicas.slack.add_user(user_id=user, name=f"admin{number}", real_name=f"Admin {number}", is_admin=True,
                                email=f"admin{number}@acme.example")
    replicas.slack.add_channel(channel_id=ADMINS_CHANNEL, name="scale-out", members=ADMINS)


async def test_slash_commands_spread_over_both_replicas_and_each_is_answered_once(replica_set):
    add_admins(replica_set)
    deliveries = await asyncio.gather(*(replica_set.slack.send_slash_command(
        replica_set.events_url, text="connect-org", user_id=user, channel_id=ADMINS_CHANNEL) for user in ADMINS))
    assert [delivery.status for delivery in deliveries] == [200] * len(ADMINS)
    # The first command of each admin asks Slack who they are, so the link comes through response_url.
    await replica_set.slack.wait_for(lambda: all(
        any("/salesforce/oauth/start" in answer.text for answer in replica_set.slack.ephemerals(user))
        for user in ADMINS), timeout=30, what="a link for every admin")
    await replica_set.settle()
    assert {user: len(replica_set.slack.ephemerals(user)) for user in ADMINS} == dict.fromkeys(ADMINS, 1)
    proxy = replica_set.proxy
    assert proxy is not None
    assert [proxy.answered_by(replica.url, path="/slack/events") for replica in replica_set.replicas] == [3, 3]


async def test_the_replica_provisioning_is_killed_mid_deploy_and_the_other_finishes(replica_set):
    proxy = replica_set.proxy
    assert proxy is not None
    replica_set.org.deploy_polls_until_done = 0
    hold = replica_set.salesforce.inject_hold("/services/Soap/m/", body_contains="checkDeployStatus")
    visit = await replica_set.browse(await replica_set.request_link())
    assert visit.final.status == 200, visit.final.body
    await hold.wait_arrived(timeout=30)
    [(holder,)] = replica_set.query("SELECT holder FROM leases WHERE name LIKE 'journey:%'")
    provisioning = replica_set.replica_named(holder)
    await replica_set.kill(provisioning)
    [(status, pending_deploy)] = replica_set.query("SELECT status, pending_deploy_id FROM connections")
    assert status == "provisioning" and pending_deploy, "the deploy in flight is on record"
    hold.release()

    card = await replica_set.status_message(timeout=45)
    assert "connected to Quality Clouds" in card.text, card.text
    await replica_set.slack.wait_for(
        lambda: replica_set.query("SELECT status FROM connections") == [("provisioned",)],
        what="the connection provisioned by the survivor", timeout=30)
    await replica_set.settle()
    assert list(replica_set.org.external_client_apps) == [ECA]
    assert len(replica_set.app_deploys()) == 1, "the survivor waits for the deploy in flight, never sends another"
    assert len(replica_set.slack.messages(CHANNEL)) == 1
    assert len([call for call in replica_set.slack.calls_to("chat.postMessage") if call.ok]) == 1
    assert {(call.params["channel"], call.params["ts"]) for call in replica_set.slack.calls_to("chat.update")} <= {
        (CHANNEL, card.ts)}, "the card is only edited in place"
    # The load balancer takes the dead replica out on its own (round robin sends one of two there first): both
    # commands are answered, by the survivor.
    before = len(replica_set.slack.ephemerals())
    for answered in (1, 2):
        assert (await replica_set.slash("status")).status == 200
        await replica_set.slack.wait_for(
            lambda count=before + answered: len(replica_set.slack.ephemerals()) >= count, what="the answer")
    assert proxy.dropped == [provisioning.url]


async def test_two_journeys_of_one_org_one_on_each_replica_deploy_one_after_the_other(replica_set):
    replica_set.org.deploy_polls_until_done = 0
    hold = replica_set.salesforce.inject_hold("/services/Soap/m/", body_contains="checkDeployStatus")
    first, second = replica_set.replicas
    await authorize_through(replica_set, first.url)
    await hold.wait_arrived(timeout=30)  # the first journey's first deploy is in flight

    await authorize_through(replica_set, second.url)
    await replica_set.slack.wait_for(lambda: "waits for lease org:" in second.log_text(), timeout=30,
                                     what="the second replica's journey to wait for the org")
    assert len(replica_set.org.deploys) == 1, "nothing deployed beside the deploy in flight"
    hold.release()

    await replica_set.slack.wait_for(
        lambda: replica_set.query("SELECT status FROM connections") == [("provisioned",)] * 2, timeout=45,
        what="both journeys provisioned")
    assert overlapping_deploys(replica_set.salesforce) == []
    assert list(replica_set.org.external_client_apps) == [ECA]


async def test_a_journey_waiting_for_its_org_on_a_replica_that_is_killed_is_adopted_by_the_other(replica_set):
    replica_set.org.deploy_polls_until_done = 0
    hold = replica_set.salesforce.inject_hold("/services/Soap/m/", body_contains="checkDeployStatus")
    first, second = replica_set.replicas
    await authorize_through(replica_set, first.url)
    await hold.wait_arrived(timeout=30)
    await authorize_through(replica_set, second.url)
    await replica_set.slack.wait_for(lambda: "waits for lease org:" in second.log_text(), timeout=30,
                                     what="the second replica's journey to wait for the org")

    [_, (waiting,)] = replica_set.query("SELECT id FROM connections ORDER BY created_at, id")
    assert replica_set.query("SELECT status FROM connections WHERE id = :id", {"id": waiting}) == [("authorized",)]

    await replica_set.kill(second)
    hold.release()
    await replica_set.slack.wait_for(
        lambda: replica_set.query("SELECT status FROM connections") == [("provisioned",)] * 2, timeout=45,
        what="both journeys provisioned by the survivor")
    assert f"Resuming connection {waiting}" in first.log_text(), "the waiting journey was adopted"
    assert overlapping_deploys(replica_set.salesforce) == []
    assert list(replica_set.org.external_client_apps) == [ECA]


def expiry_warnings(replicas: ReplicaSet) -> list[str]:
    """Whose QualityClouds token each expiry warning Slack took was about, one entry per post."""
    return [match.group(1) for call in replicas.slack.calls_to("chat.postMessage") if call.ok
            if (match := re.search(r"the QualityClouds app's refresh token for (\S+?)\b(?:\n|\*| )",
                                   str(call.params.get("text", ""))))]


async def test_the_scheduler_leader_is_killed_and_each_expiry_warning_still_goes_out_once(replica_set):
    org = replica_set.org
    org.deploy_polls_until_done = 0
    org.seed_external_client_app(ECA)
    # QC_REFRESH_TOKEN_POLICY's default lifetime is 90 days: these tokens have 12 hours left, one warning each.
    created = replica_set.clock.now() - timedelta(days=89, hours=12)
    for username in TOKEN_OWNERS:
        org.issue_app_token(ECA, user=org.add_user(username=username), created=created)
    [(leader_name,)] = await replica_set.slack.wait_for(
        lambda: replica_set.query("SELECT holder FROM leases WHERE name = 'scheduler'"), what="a scheduler leader")
    leader = replica_set.replica_named(leader_name)

    await replica_set.connect()
    await replica_set.status_message(timeout=30)
    # The leader ran its periodic work once at start-up, before the org existed, and looks again only after
    # scheduler_tick_seconds (30 s in production timings): the new org's first check is still to come.
    assert replica_set.query("SELECT last_synced_at FROM token_syncs") == [(None,)]
    await replica_set.kill(leader)

    [survivor] = replica_set.running()
    await replica_set.slack.wait_for(lambda: len(expiry_warnings(replica_set)) >= len(TOKEN_OWNERS),
                                     what="a warning for each token", timeout=30)
    # The warnings only: a message the leader was posting when it was killed (the card's edit with the sign-in
    # proof, say) waits out its claim of two minutes, since Slack may have posted it already (bot.slack.outbox).
    await replica_set.settle(messages_like="expiry:%")
    assert sorted(expiry_warnings(replica_set)) == sorted(TOKEN_OWNERS), "each token warned about exactly once"
    assert replica_set.query("SELECT holder FROM leases WHERE name = 'scheduler'") == [(survivor.name,)]
    assert [status for (status,) in replica_set.query(
        "SELECT status FROM notifications WHERE dedupe_key LIKE 'expiry:%'")] == ["sent"] * len(TOKEN_OWNERS)
