"""The outbox of Slack messages (SPEC §7): a message is stored before it is sent and marked sent only
after Slack confirmed it, so a crash or a Slack outage delays a message but never drops or repeats it.

`dedupe_key` names what a message is about (e.g. `status:<connection id>`; every format is built and
documented in storage.outbox_keys); enqueueing the same key twice keeps the first, which is what makes
"exactly one status message" hold across restarts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlite_utils

from bot.redaction import contains_secret
from storage import outbox_keys
from storage.timestamps import from_db_time, to_db_time

NotificationStatus = Literal["pending", "sent", "undeliverable"]


@dataclass(frozen=True, kw_only=True)
class Notification:
    id: int
    dedupe_key: str
    team_id: str
    channel_id: str
    user_id: str | None
    payload: dict[str, Any]
    status: NotificationStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    message_ts: str | None
    fallback_user_id: str | None = None
    """Who gets the message directly if the channel refuses it for good (the bot was removed, say)."""


class NotificationRepository:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self._db = db

    def enqueue(
        self,
        *,
        dedupe_key: str,
        team_id: str,
        channel_id: str,
        payload: dict[str, Any],
        now: datetime,
        user_id: str | None = None,
        fallback_user_id: str | None = None,
    ) -> bool:
        """Store a message to send; False if one with this key exists already (it is not replaced)."""
        payload_json = json.dumps(payload, sort_keys=True)
        if contains_secret(payload_json):
            raise ValueError(f"refusing to queue a Slack message that contains a secret ({dedupe_key})")
        cursor = self._db.execute(
            "INSERT INTO notifications (dedupe_key, team_id, channel_id, user_id, payload, status,"
            " next_attempt_at, created_at, fallback_user_id) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)"
            " ON CONFLICT (dedupe_key) DO NOTHING",
            [dedupe_key, team_id, channel_id, user_id, payload_json, to_db_time(now), to_db_time(now),
             fallback_user_id],
        )
        return cursor.rowcount == 1

    def due(self, *, now: datetime, limit: int = 50) -> list[Notification]:
        rows = self._db.query(
            "SELECT * FROM notifications WHERE status = 'pending' AND next_attempt_at <= ?"
            " AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY next_attempt_at, id LIMIT ?",
            [to_db_time(now), to_db_time(now), limit],
        )
        return [_to_notification(row) for row in rows]

    def next_attempt_at(self) -> datetime | None:
        row = self._db.execute(
            "SELECT MIN(next_attempt_at) FROM notifications WHERE status = 'pending'"
        ).fetchone()
        return None if row[0] is None else from_db_time(row[0])

    def get(self, dedupe_key: str) -> Notification | None:
        rows = list(self._db.query("SELECT * FROM notifications WHERE dedupe_key = ?", [dedupe_key]))
        return _to_notification(rows[0]) if rows else None

    def claim(self, notification_id: int, *, now: datetime, until: datetime, by: str) -> bool:
        """Take a due message for one delivery attempt on behalf of `by`; False if another sender holds it.

        The claim lasts until the attempt is recorded, or at most until `until`: a sender that died
        mid-attempt never keeps a message from being sent (and a restarted server releases its own claims).
        """
        cursor = self._db.execute(
            "UPDATE notifications SET claimed_until = ?, claimed_by = ? WHERE id = ? AND status = 'pending'"
            " AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)",
            [to_db_time(until), by, notification_id, to_db_time(now), to_db_time(now)],
        )
        return cursor.rowcount == 1

    def release_claims(self, *, by: str) -> int:
        """Forget the claims of `by` (a server starting up: its previous process is gone). Claims of other
        senders, such as a `qc-bot check-expiry` posting right now, are left to run their course."""
        return self._db.execute(
            "UPDATE notifications SET claimed_until = NULL, claimed_by = NULL"
            " WHERE claimed_until IS NOT NULL AND claimed_by = ?", [by]).rowcount

    def cancel_org_warnings(self, *, team_id: str, org_id: str, reason: str) -> int:
        """Give up every unsent warning about one org (it was disconnected: what they warn about is gone),
        direct copies included; return how many there were."""
        return sum(self._cancel_pending(key_prefix=prefix, reason=reason)
                   for prefix in outbox_keys.org_warnings(team_id=team_id, org_id=org_id))

    def _cancel_pending(self, *, key_prefix: str, reason: str) -> int:
        cursor = self._db.execute(
            "UPDATE notifications SET status = 'undeliverable', last_error = ?"
            " WHERE status = 'pending' AND substr(dedupe_key, 1, ?) = ?",
            [reason, len(key_prefix), key_prefix],
        )
        return cursor.rowcount

    def mark_sent(self, notification_id: int, *, message_ts: str | None, now: datetime) -> None:
        self._db.execute(
            "UPDATE notifications SET status = 'sent', message_ts = ?, sent_at = ?, attempts = attempts + 1,"
            " last_error = NULL, claimed_until = NULL WHERE id = ?",
            [message_ts, to_db_time(now), notification_id],
        )

    def mark_retry(self, notification_id: int, *, error: str, next_attempt_at: datetime) -> None:
        self._db.execute(
            "UPDATE notifications SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,"
            " claimed_until = NULL WHERE id = ?",
            [error, to_db_time(next_attempt_at), notification_id],
        )

    def mark_undeliverable(self, notification_id: int, *, error: str) -> None:
        self._db.execute(
            "UPDATE notifications SET status = 'undeliverable', attempts = attempts + 1, last_error = ?,"
            " claimed_until = NULL WHERE id = ?",
            [error, notification_id],
        )


def _to_notification(row: dict[str, Any]) -> Notification:
    return Notification(
        id=row["id"],
        dedupe_key=row["dedupe_key"],
        team_id=row["team_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        payload=json.loads(row["payload"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=from_db_time(row["next_attempt_at"]),
        last_error=row["last_error"],
        message_ts=row["message_ts"],
        fallback_user_id=row["fallback_user_id"],
    )
