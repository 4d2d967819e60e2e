"""The periodic work of `qc-bot serve` (SPEC §4, §7): the check of each org (bot.watch.org_check: token sync,
sign-in), the expiry scan, and pruning what outlived the retention period.

It wakes every `Timings.scheduler_tick_seconds` and asks the bot's clock what is due: the orgs whose check
time came (stored per org, so a restart keeps the rhythm), then the expiry scan when `QC_EXPIRY_SCAN_MINUTES`
have passed since the last one, after any sync, and once at start-up (so downtime is caught up at once). Deciding by the
clock rather than by sleeping means tests move a `ManualClock` and the real code runs.

With several replicas on one database, only the one holding the lease `scheduler` (storage.leases) does this work;
the others try to take the lease every `Timings.lease_renew_seconds`, so one of them goes on within a lease's
lifetime after the holder crashed or stalled. A holder that finds its lease taken over finishes the org checks
it has begun (each under its own per-org claim; stopping a token refresh half-way could lose a rotated token)
and starts nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.leases import HeldLease, Leases
from bot.ops.metrics import Metrics, ScheduledWork
from bot.ops.retention import Pruner
from bot.slack.outbox import SlackDelivery
from bot.watch.expiry import ExpiryScanner
from bot.watch.org_check import OrgChecker
from storage import leases

logger = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        *,
        checker: OrgChecker,
        scanner: ExpiryScanner,
        delivery: SlackDelivery,
        clock: Clock,
        scan_interval: timedelta,
        tick_seconds: float,
        pruner: Pruner,
        prune_interval: timedelta,
        metrics: Metrics,
        leases: Leases,
    ) -> None:
        """`metrics` learns how late each scan and pruning started after it was due (its lag)."""
        self._checker = checker
        self._scanner = scanner
        self._delivery = delivery
        self._clock = clock
        self._scan_interval = scan_interval
        self._tick_seconds = tick_seconds
        self._next_scan_at: datetime | None = None
        self._pruner = pruner
        self._prune_interval = prune_interval
        self._next_prune_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._metrics = metrics
        self._leases = leases
        self._lease: HeldLease | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run_due(self) -> None:
        """Run whatever is due now: org checks first, then the scan, also at once after any sync, so a token
        found already past a threshold is warned about without waiting for the next scan; and pruning, at
        start-up and then every `prune_interval`."""
        await self._prune_if_due()
        # The scan is as of the moment the checks began, never later: an org whose check came due by then has been
        # checked first, so a token its check found dead is announced once, as a broken connection, and not also
        # by an expiry notice of a scan that read the clock after the check had looked.
        now = self._clock.now()
        synced = 0
        while self._leading() and (batch := await self._checker.check_due()):
            synced += batch
        if not self._leading() or (not synced and self._next_scan_at is not None and now < self._next_scan_at):
            return
        self._started(work="expiry_scan", due_at=self._next_scan_at, now=now)
        queued = await self._scanner.scan(as_of=now, now=now)
        self._next_scan_at = now + self._scan_interval
        if queued:
            logger.info("Expiry scan queued %d warning(s)", queued)
            self._delivery.wake()

    async def _prune_if_due(self) -> None:
        now = self._clock.now()
        if self._next_prune_at is not None and now < self._next_prune_at:
            return
        self._started(work="prune", due_at=self._next_prune_at, now=now)
        self._next_prune_at = now + self._prune_interval
        try:
            await self._pruner.prune(now=now)
        except Exception:
            # Token syncs and warnings matter more than tidying up: they go on, and pruning is tried next time.
            logger.exception("Pruning failed; it is tried again in %s", self._prune_interval)

    def _started(self, *, work: ScheduledWork, due_at: datetime | None, now: datetime) -> None:
        """Record the run; its lag only if it ran because it was due (not the first one at start-up, nor a scan
        brought forward by a sync)."""
        lag = (now - due_at).total_seconds() if due_at is not None and now >= due_at else None
        self._metrics.scheduled_run(work=work, lag_seconds=lag, started_at=now.timestamp())

    @property
    def leading(self) -> bool:
        """Whether this replica holds the scheduler's lease and runs the periodic work now."""
        return self._lease is not None and not self._lease.lost

    def _leading(self) -> bool:
        """Whether this replica may start more periodic work (always, when run outside `start`)."""
        return self._lease is None or not self._lease.lost

    async def _run(self) -> None:
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Taking the scheduler's lease failed; trying again shortly")
            await asyncio.sleep(self._leases.renew_seconds)

    async def _lead(self) -> None:
        """Run the periodic work for as long as this replica holds the scheduler's lease."""
        async with self._leases.holding(leases.SCHEDULER) as lease:
            if lease is None:
                return
            logger.info("This replica runs the periodic work now")
            self._lease = lease
            # Another replica may have scanned a moment ago; a scan is cheap and its warnings go out once anyway.
            self._next_scan_at = self._next_prune_at = None
            try:
                while not lease.lost:
                    try:
                        await self.run_due()
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        logger.exception("Scheduled token work failed; it runs again shortly")
                    await asyncio.sleep(self._tick_seconds)
            finally:
                self._lease = None
