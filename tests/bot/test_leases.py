"""A process's hold on a lease (bot.leases): renewed while the work runs, given up at its end, and the work
stopped when another replica took the lease over (this one stalled past it)."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock
from bot.leases import LeaseBusy, Leases
from bot.timings import fast_timings
from storage import leases

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TIMINGS = fast_timings()
JOURNEY = leases.journey("c1")


async def holder(store):
    lease = await store.run(lambda repos: repos.leases.get(JOURNEY))
    return None if lease is None else lease.holder


async def test_work_under_a_lease_is_stopped_when_another_replica_took_it_over(store):
    a_clock, b_clock = ManualClock(NOW), ManualClock(NOW)
    a = Leases(store=store, clock=a_clock, holder="a", timings=TIMINGS)
    b = Leases(store=store, clock=b_clock, holder="b", timings=TIMINGS)
    started, ended = asyncio.Event(), []

    async def work():
        async with a.holding(JOURNEY, cancel_on_loss=True) as lease:
            assert lease is not None
            started.set()
            await asyncio.Event().wait()  # a long deploy
        ended.append("quietly")

    task = asyncio.create_task(work())
    await started.wait()
    assert not await b.acquire(JOURNEY), "renewed and alive"
    b_clock.advance(TIMINGS.lease_ttl + timedelta(seconds=1))  # `a` stalled: by b's clock its lease lapsed
    assert await b.acquire(JOURNEY)
    await asyncio.wait_for(task, timeout=5)
    assert ended == ["quietly"], "the work stops without an error"
    assert await holder(store) == "b", "and the lease stays with the replica that took it over"


async def test_a_lease_is_given_up_when_its_work_ends_or_is_cancelled_by_a_shutdown(store):
    clock = ManualClock(NOW)
    a = Leases(store=store, clock=clock, holder="a", timings=TIMINGS)
    async with a.holding(JOURNEY) as lease:
        assert lease is not None and await holder(store) == "a"
    assert await holder(store) is None

    started = asyncio.Event()

    async def work():
        async with a.holding(JOURNEY, cancel_on_loss=True):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(work())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await holder(store) is None, "a shutdown hands the work to another replica at once"


async def test_work_waiting_for_a_lease_goes_on_when_the_holder_gives_it_up_even_in_one_process(
        store, caplog):
    caplog.set_level(logging.INFO, logger="bot.leases")
    clock = ManualClock(NOW)
    a = Leases(store=store, clock=clock, holder="a", timings=TIMINGS)
    org = leases.org(team_id="T1", org_id="00DA")
    order: list[str] = []
    first_in, first_may_end = asyncio.Event(), asyncio.Event()

    async def first():
        async with a.waiting_for(org, work="first"):
            order.append("first began")
            first_in.set()
            await first_may_end.wait()
            order.append("first ended")

    async def second():
        async with a.waiting_for(org, work="second"):
            order.append("second began")

    one = asyncio.create_task(first())
    await first_in.wait()
    two = asyncio.create_task(second())
    # The second task of the same process waits: it is told apart from the first, though the process is one.
    async with asyncio.timeout(5):
        while "second waits for lease org:T1:00DA" not in caplog.text:
            await asyncio.sleep(0.01)
    assert order == ["first began"]
    first_may_end.set()
    await asyncio.wait_for(asyncio.gather(one, two), timeout=5)
    assert order == ["first began", "first ended", "second began"]
    assert await store.run(lambda repos: repos.leases.get(org)) is None, "given up at the end"

    # Two tasks for the same work (a repair's own, and an adoption that found it a moment before) are told apart too.
    caplog.clear()
    inside: list[str] = []
    one_in = asyncio.Event()

    async def same_work(name):
        async with a.waiting_for(org, work="repair"):
            inside.append(f"{name} in")
            one_in.set()
            while name == "one" and "repair waits for lease" not in caplog.text:
                await asyncio.sleep(0.01)
            inside.append(f"{name} out")

    async with asyncio.timeout(5):
        one = asyncio.create_task(same_work("one"))
        await one_in.wait()
        await asyncio.gather(one, same_work("two"))
    assert inside == ["one in", "one out", "two in", "two out"]


async def test_a_bounded_wait_gives_up_while_another_holds_the_lease_and_takes_it_once_released(store):
    clock = ManualClock(NOW)
    other = Leases(store=store, clock=clock, holder="other-replica", timings=TIMINGS)
    waiting = Leases(store=store, clock=clock, holder="this-replica", timings=TIMINGS)
    assert await other.acquire(JOURNEY)
    with pytest.raises(LeaseBusy):
        async with waiting.waiting_for(JOURNEY, work="refresh:o1", wait_seconds=0.2):
            pytest.fail("held by another: the block must not run")
    assert await holder(store) == "other-replica"
    await other.release(JOURNEY)
    async with waiting.waiting_for(JOURNEY, work="refresh:o1", wait_seconds=0.2) as lease:
        assert not lease.lost and (await holder(store)).startswith("this-replica/refresh:o1/")
    assert await holder(store) is None, "given up at the end"
