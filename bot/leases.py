"""This process's leases (storage.leases, SPEC §10): taken for a piece of work, renewed in the background while
the work goes on, given up when it ends.

Lease times are on the bot's clock (tests move a `ManualClock` to make a lease lapse); the renewal cadence is real
time, like every other wait of a running server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from bot.clock import Clock
from bot.retry import Backoff
from bot.timings import Timings
from storage.database import Store

logger = logging.getLogger(__name__)


class HeldLease:
    """A lease this process took; `lost` once a renewal found that another process has it now."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lost = False


class LeaseBusy(Exception):
    """Another holder kept the lease for longer than the caller would wait."""


class Leases:
    def __init__(self, *, store: Store, clock: Clock, holder: str, timings: Timings) -> None:
        """`holder` is this process's claim id (`Settings.instance_id`)."""
        self.holder = holder
        self._store = store
        self._clock = clock
        self._ttl = timings.lease_ttl
        self.renew_seconds = timings.lease_renew_seconds
        # A waiter looks again soon at first (a holder about to finish), then once per renewal: it learns of a
        # lapsed or released lease within one renewal period, and a long wait costs one statement per period.
        self._waiting = Backoff(initial=self.renew_seconds / 8, maximum=self.renew_seconds, jitter=0.0)

    async def acquire(self, name: str, *, holder: str | None = None) -> bool:
        """Take (or renew) `name` for this process (or `holder`); False while another holder has it."""
        now = self._clock.now()
        return await self._store.run(lambda repos: repos.leases.acquire(
            name, holder=holder or self.holder, now=now, until=now + self._ttl))

    async def release(self, name: str, *, holder: str | None = None) -> None:
        await self._store.run(lambda repos: repos.leases.release(name, holder=holder or self.holder))

    @contextlib.asynccontextmanager
    async def holding(self, name: str, *, cancel_on_loss: bool = False) -> AsyncIterator[HeldLease | None]:
        """Hold `name` while the block runs (None: another process has it, do nothing), renewing it every
        `renew_seconds`, and give it up at the end, so another replica can go on at once.

        `cancel_on_loss` cancels the block when a renewal finds the lease taken over (this process stalled past
        the lease and another adopted the work), and the block then ends quietly; otherwise the block is told
        through `HeldLease.lost` and decides where to stop.
        """
        if not await self.acquire(name):
            yield None
            return
        async with self._held(name, holder=self.holder, cancel_on_loss=cancel_on_loss) as lease:
            yield lease

    @contextlib.asynccontextmanager
    async def waiting_for(self, name: str, *, work: str, wait_seconds: float | None = None,
                          cancel_on_loss: bool = True) -> AsyncIterator[HeldLease]:
        """Hold `name` for `work` while the block runs, first waiting as long as anyone else holds it: another
        replica, or another task of this process. The looks are spaced by a back-off bounded by the renewal
        period. Without `wait_seconds` the wait has no deadline of its own, because the holder bounds it: a live one
        renews only while its own (bounded) work goes on, a dead one's lease lapses after `lease_ttl`; with it,
        `LeaseBusy` after that long. `cancel_on_loss` as for `holding`; the wait, an `asyncio.sleep`, ends at once
        when the task is cancelled (a shutdown)."""
        # Unlike `holding`, held under a name of this call's own: two tasks of this process are told apart, even two
        # for the same work (a drift repair's own task, and the adoption that found its journey before it began).
        holder = f"{self.holder}/{work}/{uuid.uuid4().hex[:8]}"
        loop = asyncio.get_running_loop()
        deadline = None if wait_seconds is None else loop.time() + wait_seconds
        retry = 0
        while not await self.acquire(name, holder=holder):
            if deadline is not None and loop.time() >= deadline:
                raise LeaseBusy(name)
            if retry == 0:
                logger.info("%s waits for lease %s, which other work holds", work, name)
            delay = self._waiting.delay(retry)
            await asyncio.sleep(delay if deadline is None else min(delay, max(deadline - loop.time(), 0.0)))
            retry += 1
        async with self._held(name, holder=holder, cancel_on_loss=cancel_on_loss) as lease:
            yield lease

    @contextlib.asynccontextmanager
    async def _held(self, name: str, *, holder: str, cancel_on_loss: bool) -> AsyncIterator[HeldLease]:
        """Renew `name`, which `holder` has just taken, while the block runs, and give it up at the end."""
        lease = HeldLease(name)
        worker = asyncio.current_task()
        assert worker is not None

        async def renew() -> bool:
            if await self.acquire(name, holder=holder):
                return True
            logger.warning("Lease %s was taken over by another replica; this one stops that work", name)
            lease.lost = True
            if cancel_on_loss:
                worker.cancel()
            return False

        try:
            async with renewed_every(seconds=self.renew_seconds, renew=renew, what=f"lease {name}"):
                yield lease
        except asyncio.CancelledError:
            # Cancelled by the renewal alone (not also by a shutdown): the work belongs to another replica now.
            if not (lease.lost and cancel_on_loss and worker.uncancel() == 0):
                raise
        finally:
            if not lease.lost:
                try:
                    await self.release(name, holder=holder)
                except Exception:
                    # It lapses by itself. Raising here would hide why the block ended: a shutdown's cancellation,
                    # swallowed, would leave the loop around this block running forever.
                    logger.warning("Could not give up lease %s; it lapses by itself", name, exc_info=True)


@contextlib.asynccontextmanager
async def renewed_every(*, seconds: float, renew: Callable[[], Awaitable[bool]], what: str) -> AsyncIterator[None]:
    """Call `renew` every `seconds` while the block runs, until it answers False (the claim or lease is lost); one
    that raises (a slow or unreachable database) is logged, and the next may still come in time.

    At the end a renewal under way is waited for, never cancelled: cancelled, its statement would still run to its
    end in the store's thread, and could land after the release that follows the block, holding again what was
    just given up."""
    stop = asyncio.Event()

    async def renewing() -> None:
        while True:
            try:
                await asyncio.wait_for(stop.wait(), timeout=seconds)
                return
            except TimeoutError:
                pass
            try:
                if not await renew():
                    return
            except Exception:
                logger.warning("Could not renew %s; trying again", what, exc_info=True)

    renewal = asyncio.create_task(renewing(), name=f"renew {what}")
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(renewal, return_exceptions=True)
