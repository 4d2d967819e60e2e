"""This process's leases (storage.leases, SPEC §10): taken for a piece of work, renewed in the background while
the work goes on, given up when it ends.

Lease times are on the bot's clock (tests move a `ManualClock` to make a lease lapse); the renewal cadence is real
time, like every other wait of a running server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from bot.clock import Clock
from bot.timings import Timings
from storage.database import Store

logger = logging.getLogger(__name__)


class HeldLease:
    """A lease this process took; `lost` once a renewal found that another process has it now."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lost = False


class Leases:
    def __init__(self, *, store: Store, clock: Clock, holder: str, timings: Timings) -> None:
        """`holder` is this process's claim id (`Settings.instance_id`)."""
        self.holder = holder
        self._store = store
        self._clock = clock
        self._ttl = timings.lease_ttl
        self.renew_seconds = timings.lease_renew_seconds

    async def acquire(self, name: str) -> bool:
        """Take (or renew) `name` for this process; False while another process holds it."""
        now = self._clock.now()
        return await self._store.run(lambda repos: repos.leases.acquire(
            name, holder=self.holder, now=now, until=now + self._ttl))

    async def release(self, name: str) -> None:
        await self._store.run(lambda repos: repos.leases.release(name, holder=self.holder))

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
        lease = HeldLease(name)
        worker = asyncio.current_task()
        assert worker is not None
        renewal = asyncio.create_task(self._renew(lease, worker if cancel_on_loss else None), name=f"lease-{name}")
        try:
            yield lease
        except asyncio.CancelledError:
            # Cancelled by the renewal alone (not also by a shutdown): the work belongs to another replica now.
            if not (lease.lost and cancel_on_loss and worker.uncancel() == 0):
                raise
        finally:
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
            if not lease.lost:
                await self.release(name)

    async def _renew(self, lease: HeldLease, worker: asyncio.Task[object] | None) -> None:
        while True:
            await asyncio.sleep(self.renew_seconds)
            try:
                renewed = await self.acquire(lease.name)
            except Exception:
                # A slow or unreachable database: the next renewal may still come in time.
                logger.warning("Could not renew lease %s; trying again", lease.name, exc_info=True)
                continue
            if not renewed:
                logger.warning("Lease %s was taken over by another replica; this one stops that work", lease.name)
                lease.lost = True
                if worker is not None:
                    worker.cancel()
                return
