"""Counts read when `/metrics` is scraped (bot.ops.metrics): cheap aggregate reads, no rows leave the database."""

from __future__ import annotations

import sqlite_utils


class GaugeRepository:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self._db = db

    def pending_messages(self) -> int:
        """Slack messages in the outbox that are waiting to be sent (due now or later)."""
        row = self._db.execute("SELECT COUNT(*) FROM notifications WHERE status = :status",
                               {"status": "pending"}).fetchone()
        return int(row[0])
