"""The periodic work of `qc-bot serve` (SPEC §4, §7): the check of each org (bot.watch.org_check: token sync,
sign-in), the expiry scan, and pruning what outlived the retention period.

It wakes every `Timings.scheduler_tick_seconds` and asks the bot's clock what is due: the orgs whose check
time came (stored per org, so a restart keeps the rhythm), then the expiry scan when `QC_EXPIRY_SCAN_MINUTES`
have passed since the last one, after any sync, and once at start-up (so downtime is caught up at once). Deciding by the
clock rather than by sleeping means tests move a `ManualClock` and the real code runs.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.ops.metrics import Metrics, ScheduledWork
from bot.ops.retention import Pruner
from bot.slack.outbox import SlackDelivery
from bot.watch.expiry import ExpiryScanner
from bot.watch.org_check import OrgChecker

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
        synced = 0
        while batch := await self._checker.check_due():
            synced += batch
        now = self._clock.now()
        if not synced and self._next_scan_at is not None and now < self._next_scan_at:
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

    async def _run(self) -> None:
        while True:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Scheduled token work failed; it runs again shortly")
            await asyncio.sleep(self._tick_seconds)
