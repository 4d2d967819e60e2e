"""The periodic work runs on one replica at a time (SPEC §10): two schedulers on one database, each with its own
claim id, as two `qc-bot serve` replicas run them; lease times on a ManualClock the test moves."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import ManualClock
from bot.leases import Leases
from bot.ops.metrics import Metrics
from bot.ops.retention import Pruner
from bot.slack.clients import SingleWorkspaceClients
from bot.slack.outbox import SlackDelivery
from bot.timings import fast_timings
from bot.watch.expiry import ExpiryScanner
from bot.watch.org_check import OrgChecker
from bot.watch.scheduler import Scheduler
from storage import leases

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TIMINGS = fast_timings()


def replica(store, clock, name):
    delivery = SlackDelivery(store=store, clients=SingleWorkspaceClients(AsyncWebClient(token="xoxb-unused")),
                             clock=clock, timings=TIMINGS, sender=name)
    return Scheduler(
        checker=OrgChecker(store=store, clock=clock, steps=[], process=name, lease=TIMINGS.lease_ttl),
        scanner=ExpiryScanner(store=store, warn_days=(30, 7, 1)), delivery=delivery, clock=clock,
        scan_interval=timedelta(minutes=15), tick_seconds=TIMINGS.scheduler_tick_seconds,
        pruner=Pruner(store=store, retention=timedelta(days=30)), prune_interval=timedelta(hours=1),
        leases=Leases(store=store, clock=clock, holder=name, timings=TIMINGS), metrics=Metrics())


async def until(condition, *, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def holder(store):
    lease = await store.run(lambda repos: repos.leases.get(leases.SCHEDULER))
    return None if lease is None else lease.holder


async def test_a_crashed_leaders_lease_is_taken_over_once_it_lapses(store):
    clock = ManualClock(NOW)
    # The leader took the lease and died: it never renews it.
    assert await Leases(store=store, clock=clock, holder="dead", timings=TIMINGS).acquire(leases.SCHEDULER)
    standby = replica(store, clock, "b")
    standby.start()
    try:
        await asyncio.sleep(TIMINGS.lease_renew_seconds * 5)  # several tries, all while the lease is alive
        assert not standby.leading and await holder(store) == "dead"
        clock.advance(TIMINGS.lease_ttl)
        await until(lambda: standby.leading, what="the standby to take the lapsed lease")
        assert await holder(store) == "b"
    finally:
        await standby.stop()


async def test_one_of_two_replicas_leads_and_a_stalled_leader_stops_when_the_other_took_over(store):
    a_clock, b_clock = ManualClock(NOW), ManualClock(NOW)
    a, b = replica(store, a_clock, "a"), replica(store, b_clock, "b")
    a.start()
    await until(lambda: a.leading, what="the first replica to lead")
    b.start()
    try:
        await asyncio.sleep(TIMINGS.lease_renew_seconds * 5)
        assert a.leading and not b.leading, "one leader at a time"
        # `a` stalls: by the other replica's clock its last renewal is older than the lease.
        b_clock.advance(TIMINGS.lease_ttl + timedelta(seconds=1))
        await until(lambda: b.leading, what="the other replica to take over")
        await until(lambda: not a.leading, what="the stalled leader to notice and stop")
        assert await holder(store) == "b"
        await asyncio.sleep(TIMINGS.lease_renew_seconds * 5)
        assert b.leading and not a.leading, "the old leader does not take the lease back while it is renewed"
    finally:
        await a.stop()
        await b.stop()


async def test_a_leader_that_stops_gives_the_lease_up_so_another_leads_at_once(store):
    clock = ManualClock(NOW)
    a, b = replica(store, clock, "a"), replica(store, clock, "b")
    a.start()
    await until(lambda: a.leading, what="the first replica to lead")
    b.start()
    try:
        await a.stop()
        await until(lambda: b.leading, what="the other replica to lead without waiting for the lease to lapse")
    finally:
        await b.stop()
