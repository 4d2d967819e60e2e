"""The replay check that replicas share (SPEC §6, §10): a signed Slack request, or an event, is admitted by one
replica only, however many replicas a replay reaches within Slack's five-minute window.

On PostgreSQL, the one engine several replicas share, each request's keys go to the table `slack_replays`
(storage/slack_replays.py) in one statement before Bolt sees the request. Requests that arrive while a statement
is in the database wait for the next one and go together: however busy the endpoint, one statement at a time
per replica, each admitting every request that came meanwhile. Each process keeps its own `ReplayCache` in front
of it (bot/slack/inbound.py), so a replay to the same replica costs nothing; a single SQLite process needs no
more than that cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from storage.database import Store

logger = logging.getLogger(__name__)

BATCH_REQUESTS = 64
"""Requests admitted by one statement at most (two keys each at most): a short statement, few distinct texts."""
PRUNE_ROWS = 20_000
"""Expired rows deleted per maintenance round (once a minute, per replica): far above the two keys per request
even a busy workspace sends in a minute, and a bounded statement."""
_WARNING_SECONDS = 60.0


class SharedReplays:
    def __init__(self, *, store: Store, answer_seconds: float, now: Callable[[], float] = time.time) -> None:
        """`answer_seconds`: how long a request waits for the database (`Timings.replay_check_seconds`)."""
        self._store = store
        self._answer_seconds = answer_seconds
        self._now = now
        self._waiting: list[tuple[Sequence[tuple[str, float]], asyncio.Future[bool]]] = []
        self._admitting: asyncio.Task[None] | None = None
        self._last_warning = -_WARNING_SECONDS

    async def admit(self, keys: Sequence[tuple[str, float]]) -> bool:
        """True if no replica has admitted any of `keys` (each (key, until epoch seconds)) before; they are now.

        Fails open: a database that does not answer within `answer_seconds`, or fails, admits the request (and
        says so in the log, once a minute at most). Refusing would drop Slack's real requests while the database
        is away, and this replica's own cache still refuses replays sent to it."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, answer))
        if self._admitting is None:
            self._admitting = asyncio.create_task(self._admit_waiting(), name="slack-replays")
        return await answer

    async def forget(self, keys: Sequence[str]) -> None:
        """Let Slack's resend of a request that failed here be processed (by any replica)."""
        try:
            async with asyncio.timeout(self._answer_seconds):
                await self._store.run_alone(lambda repos: repos.slack_replays.forget(keys))
        except Exception as exc:  # the resend is then answered as a replay: the same as a lost request
            self._warn(exc)

    async def prune(self) -> int:
        """Delete rows that expired (a bounded number); for the periodic maintenance, never the ack path."""
        now = datetime.fromtimestamp(self._now(), tz=UTC)
        return await self._store.run(lambda repos: repos.slack_replays.prune(now=now, limit=PRUNE_ROWS))

    async def _admit_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:BATCH_REQUESTS], self._waiting[BATCH_REQUESTS:]
                # A key twice in one batch (a request and its copy, both arrived meanwhile): the first has it.
                first_with: dict[str, int] = {}
                rows: list[tuple[str, datetime]] = []
                for number, (keys, _) in enumerate(batch):
                    for key, until in keys:
                        if first_with.setdefault(key, number) == number:
                            rows.append((key, datetime.fromtimestamp(until, tz=UTC)))
                admitted = await self._insert(rows)
                for number, (keys, answer) in enumerate(batch):
                    if not answer.done():  # its client may have gone
                        answer.set_result(all(key in admitted and first_with[key] == number for key, _ in keys))
        finally:
            self._admitting = None

    async def _insert(self, rows: list[tuple[str, datetime]]) -> set[str]:
        now = datetime.fromtimestamp(self._now(), tz=UTC)
        try:
            async with asyncio.timeout(self._answer_seconds):
                return await self._store.run_alone(lambda repos: repos.slack_replays.admit(rows, now=now))
        except Exception as exc:
            self._warn(exc)
            return {key for key, _ in rows}

    def _warn(self, exc: Exception) -> None:
        moment = time.monotonic()
        if moment - self._last_warning >= _WARNING_SECONDS:
            self._last_warning = moment
            logger.warning("The shared replay check did not answer (%s): requests are checked against this "
                           "replica's memory alone until it does", exc.__class__.__name__)
