"""The shared memory of Slack requests already accepted (table `slack_replays`), so that a captured request
replayed to another replica within its validity is refused there too (bot/slack/replays.py uses it).

Admitting is one statement whatever the number of keys: an insert that takes each new key, or a key whose row
has expired and not been pruned yet, and returns the keys it took. Never a read before the write: two replicas
inserting one key at the same moment are ordered by the primary key, and exactly one gets it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.sql import Db, in_list
from storage.timestamps import to_db_time


class SlackReplayRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def admit(self, keys: Sequence[tuple[str, datetime]], *, now: datetime) -> set[str]:
        """Remember each (key, until) not remembered yet, or remembered only until `now` or before; return those
        keys. Keys must be distinct (PostgreSQL refuses to upsert one row twice in a statement)."""
        if not keys:
            return set()
        values = ", ".join(f"(:key_{number}, :until_{number})" for number in range(len(keys)))
        params: dict[str, str] = {"now": to_db_time(now)}
        for number, (key, until) in enumerate(keys):
            params[f"key_{number}"], params[f"until_{number}"] = key, to_db_time(until)
        rows = self._db.execute(
            f"INSERT INTO slack_replays (request_key, expires_at) VALUES {values}"
            " ON CONFLICT (request_key) DO UPDATE SET expires_at = excluded.expires_at"
            " WHERE slack_replays.expires_at <= :now"
            " RETURNING request_key", params)
        return {row.request_key for row in rows}

    def forget(self, keys: Sequence[str]) -> None:
        """Forget keys admitted for a request that then failed, so Slack's resend of it is processed."""
        if keys:
            listed, values = in_list("key", keys)
            self._db.execute(f"DELETE FROM slack_replays WHERE request_key IN ({listed})", values)

    def prune(self, *, now: datetime, limit: int) -> int:
        """Delete up to `limit` rows that expired at `now` or before (the oldest first); return how many."""
        return self._db.execute(
            "DELETE FROM slack_replays WHERE request_key IN (SELECT request_key FROM slack_replays"
            " WHERE expires_at <= :now ORDER BY expires_at LIMIT :limit)",
            {"now": to_db_time(now), "limit": limit}).rowcount
