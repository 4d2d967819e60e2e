"""Counts read when `/metrics` is scraped (bot.ops.metrics): cheap aggregate reads, no rows leave the database."""

from __future__ import annotations

from storage.sql import Db


class GaugeRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def pending_messages(self) -> int:
        """Slack messages in the outbox that are waiting to be sent (due now or later)."""
        return int(self._db.execute("SELECT COUNT(*) FROM notifications WHERE status = 'pending'").scalar_one())
