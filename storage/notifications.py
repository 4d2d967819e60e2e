"""The outbox of Slack messages (SPEC §7): a message is stored before it is sent and marked sent only
after Slack confirmed it, so a crash or a Slack outage delays a message but never drops or repeats it.

An outbox row may also be an *edit* of another (`update_of` names the original's dedupe key): it is sent
as `chat.update` of the message Slack posted for the original (its `message_channel` and `message_ts`),
exactly once like any other row. Queued while the original has not gone out yet, it is folded into the
original instead (which then goes out with the new content), so Slack sees one post, never a post and an
edit racing it.

`dedupe_key` names what a message is about (e.g. `status:<connection id>`; every format is built and
documented in storage.outbox_keys); enqueueing the same key twice keeps the first, which is what makes
"exactly one status message" hold across restarts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.redaction import contains_secret
from storage import outbox_keys
from storage.sql import Db, in_list
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
    message_channel: str | None = None
    """The channel Slack says it posted the message in (a direct message's is not the user id it was sent to)."""
    update_of: str | None = None
    """Set on an edit: the dedupe key of the message it edits."""
    thread_of: str | None = None
    """Set on a reply: the dedupe key of the message (an org's card) in whose thread it goes."""
    broadcast: bool = False
    """A reply that the whole channel should see too (`reply_broadcast`)."""


@dataclass(frozen=True, kw_only=True)
class NewMessage:
    """A message to queue (see `NotificationRepository.enqueue` for what each field means)."""

    dedupe_key: str
    team_id: str
    channel_id: str
    payload: dict[str, Any]
    user_id: str | None = None
    fallback_user_id: str | None = None
    thread_of: str | None = None
    broadcast: bool = False


_ENQUEUE_SQL = (
    "INSERT INTO notifications (dedupe_key, team_id, channel_id, user_id, payload, status,"
    " next_attempt_at, created_at, fallback_user_id, thread_of, broadcast)"
    " VALUES (:dedupe_key, :team_id, :channel_id, :user_id, :payload, 'pending', :now, :now,"
    " :fallback_user_id, :thread_of, :broadcast) ON CONFLICT (dedupe_key) DO NOTHING"
)


_CLAIM_SQL = (
    "UPDATE notifications SET claimed_until = :until, claimed_by = :by WHERE id = :id AND status = 'pending'"
    " AND next_attempt_at <= :now AND (claimed_until IS NULL OR claimed_until <= :now OR claimed_by = :by)"
)


def _claim_params(notification_id: int, now: datetime, until: datetime, by: str) -> dict[str, Any]:
    return {"until": to_db_time(until), "by": by, "id": notification_id, "now": to_db_time(now)}


_CANCEL_PENDING_SQL = (
    "UPDATE notifications SET status = 'undeliverable', last_error = :reason"
    " WHERE status = 'pending' AND substr(dedupe_key, 1, :prefix_length) = :prefix"
)


def _cancel_params(key_prefix: str, reason: str) -> dict[str, Any]:
    return {"reason": reason, "prefix_length": len(key_prefix), "prefix": key_prefix}


def _enqueued_row(message: NewMessage, *, now: datetime) -> dict[str, Any]:
    payload_json = json.dumps(message.payload, sort_keys=True)
    if contains_secret(payload_json):
        raise ValueError(f"refusing to queue a Slack message that contains a secret ({message.dedupe_key})")
    return {"dedupe_key": message.dedupe_key, "team_id": message.team_id, "channel_id": message.channel_id,
            "user_id": message.user_id, "payload": payload_json, "now": to_db_time(now),
            "fallback_user_id": message.fallback_user_id, "thread_of": message.thread_of,
            "broadcast": int(message.broadcast)}


class NotificationRepository:
    def __init__(self, db: Db) -> None:
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
        thread_of: str | None = None,
        broadcast: bool = False,
    ) -> bool:
        """Store a message to send; False if one with this key exists already (it is not replaced). With
        `thread_of` it is a reply in the thread of that message (see `thread_target`)."""
        message = NewMessage(dedupe_key=dedupe_key, team_id=team_id, channel_id=channel_id, payload=payload,
                             user_id=user_id, fallback_user_id=fallback_user_id, thread_of=thread_of,
                             broadcast=broadcast)
        return self._db.execute(_ENQUEUE_SQL, _enqueued_row(message, now=now)).rowcount == 1

    def enqueue_many(self, messages: Sequence[NewMessage], *, now: datetime) -> set[str]:
        """Store several messages as `enqueue` does each, in two round trips whatever their number (a scan that
        queues hundreds of warnings at once); return the keys of those stored now. Call it in an immediate
        transaction: the keys queued earlier are read first, and no other immediate writer can add one between."""
        rows = [_enqueued_row(message, now=now) for message in messages]
        listed, keys = in_list("key", [message.dedupe_key for message in messages])
        queued_before = {row[0] for row in self._db.execute(
            f"SELECT dedupe_key FROM notifications WHERE dedupe_key IN ({listed})", keys)}
        self._db.execute_many(_ENQUEUE_SQL, rows)
        return {message.dedupe_key for message in messages} - queued_before

    def enqueue_update(self, *, dedupe_key: str, of: str, payload: dict[str, Any], now: datetime) -> bool:
        """Queue an edit of the message queued under `of`, replacing its whole content with `payload`; False if
        an edit under `dedupe_key` exists already. Not yet claimed for posting, the original takes the new
        content itself and the edit is recorded as done; otherwise the edit waits its turn (`update_target`)."""
        payload_json = json.dumps(payload, sort_keys=True)
        if contains_secret(payload_json):
            raise ValueError(f"refusing to queue a Slack message that contains a secret ({dedupe_key})")
        original = self.get(of)
        if original is None:
            raise ValueError(f"no message {of} to update ({dedupe_key})")
        folded = self._db.execute(
            "UPDATE notifications SET payload = :payload WHERE dedupe_key = :original AND status = 'pending'"
            " AND (claimed_until IS NULL OR claimed_until <= :now)"
            " AND NOT EXISTS (SELECT 1 FROM notifications WHERE dedupe_key = :edit)",
            {"payload": payload_json, "original": of, "now": to_db_time(now), "edit": dedupe_key},
        ).rowcount == 1
        cursor = self._db.execute(
            "INSERT INTO notifications (dedupe_key, team_id, channel_id, user_id, payload, status,"
            " next_attempt_at, created_at, sent_at, update_of) VALUES (:dedupe_key, :team_id, :channel_id,"
            " :user_id, :payload, :status, :now, :now, :sent_at, :update_of) ON CONFLICT (dedupe_key) DO NOTHING",
            {"dedupe_key": dedupe_key, "team_id": original.team_id, "channel_id": original.channel_id,
             "user_id": original.user_id, "payload": payload_json, "status": "sent" if folded else "pending",
             "now": to_db_time(now), "sent_at": to_db_time(now) if folded else None, "update_of": of},
        )
        return cursor.rowcount == 1

    def update_target(self, update: Notification) -> UpdateTarget:
        """Where an edit stands: the message to edit, or why it must wait or cannot happen.

        An original that went to a person directly (its channel refused it) is edited there. Edits of one
        message go out in the order they were queued; one that a later edit already superseded is skipped."""
        assert update.update_of is not None
        newer = self._db.execute(
            "SELECT COUNT(*) FROM notifications WHERE update_of = :original AND id > :id"
            " AND status != 'undeliverable'",
            {"original": update.update_of, "id": update.id}).scalar_one()
        if newer:
            return UpdateTarget(superseded=True)
        older = self._db.execute(
            "SELECT COUNT(*) FROM notifications WHERE update_of = :original AND id < :id AND status = 'pending'",
            {"original": update.update_of, "id": update.id}).scalar_one()
        original = self.get(update.update_of)
        refused_by = None
        if original is not None and original.status == "undeliverable":
            refused_by = original.last_error
            original = self.get(outbox_keys.direct(update.update_of)) or original
        if original is None or original.status == "undeliverable":
            return UpdateTarget(gone=True)
        if older or original.status == "pending":
            return UpdateTarget()
        return UpdateTarget(original=original, channel_refused=refused_by)

    def thread_target(self, reply: Notification) -> UpdateTarget:
        """Where a reply stands: the message whose thread it goes in (`original`), or that it must wait for it
        (nothing set: the card is still on its way), or that it goes top-level (`gone`: the card was never
        posted in the reply's channel, a channel that refused it included)."""
        assert reply.thread_of is not None
        parent = self.get(reply.thread_of)
        if parent is None or parent.status == "undeliverable":
            return UpdateTarget(gone=True)
        if parent.status == "pending":
            return UpdateTarget()
        if parent.message_ts is None or (parent.message_channel or parent.channel_id) != reply.channel_id:
            return UpdateTarget(gone=True)
        return UpdateTarget(original=parent)

    def claim_due(self, *, now: datetime, until: datetime, by: str, limit: int) -> list[Notification]:
        """Claim up to `limit` due messages for `by` in one statement and return them in sending order.

        On PostgreSQL the selecting subquery skips rows another replica's claim is locking at this moment, so two
        replicas claiming at once neither wait for each other nor take the same message; on SQLite the write
        lock serialises them. Each claim still lasts only until `until` (see `claim`).
        """
        skip_locked = " FOR UPDATE SKIP LOCKED" if self._db.engine == "postgresql" else ""
        rows = self._db.query(
            "UPDATE notifications SET claimed_until = :until, claimed_by = :by WHERE id IN ("
            " SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= :now"
            " AND (claimed_until IS NULL OR claimed_until <= :now) ORDER BY next_attempt_at, id LIMIT :limit"
            f"{skip_locked}) AND status = 'pending' AND (claimed_until IS NULL OR claimed_until <= :now)"
            " RETURNING *",
            {"until": to_db_time(until), "by": by, "now": to_db_time(now), "limit": limit},
        )
        claimed = [_to_notification(row) for row in rows]
        return sorted(claimed, key=lambda notification: (notification.next_attempt_at, notification.id))

    def next_attempt_at(self) -> datetime | None:
        earliest = self._db.execute("SELECT MIN(next_attempt_at) FROM notifications WHERE status = 'pending'"
                                    ).scalar_one()
        return None if earliest is None else from_db_time(earliest)

    def get(self, dedupe_key: str) -> Notification | None:
        rows = list(self._db.query("SELECT * FROM notifications WHERE dedupe_key = :dedupe_key",
                                   {"dedupe_key": dedupe_key}))
        return _to_notification(rows[0]) if rows else None

    def claim_fresh(self, notification_id: int, *, now: datetime, until: datetime, by: str) -> Notification | None:
        """`claim`, and the message as it is now (an edit may have been folded into it since it was read)."""
        rows = list(self._db.query(_CLAIM_SQL + " RETURNING *", _claim_params(notification_id, now, until, by)))
        return _to_notification(rows[0]) if rows else None

    def claim(self, notification_id: int, *, now: datetime, until: datetime, by: str) -> bool:
        """Take a due message for one delivery attempt on behalf of `by`, or extend the claim `by` holds on it
        already (`claim_due`); False if another sender holds it.

        The claim lasts until the attempt is recorded, or at most until `until`: a sender that died
        mid-attempt never keeps a message from being sent (a restarted server with a fixed QC_INSTANCE_ID
        releases its own claims at once; other claims lapse).
        """
        return self._db.execute(_CLAIM_SQL, _claim_params(notification_id, now, until, by)).rowcount == 1

    def release_claims(self, *, by: str, ids: Sequence[int] | None = None) -> int:
        """Forget the claims of `by` (on all its messages, or on `ids`): a server starting up under the claim id
        of its previous process, or one stopping before it got to the messages it claimed. Claims of other
        senders (another replica, a `qc-bot check-expiry` posting right now) are left to run their course."""
        if ids is not None and not ids:
            return 0
        listed, id_values = in_list("id", ids or ())
        only = "" if ids is None else f" AND id IN ({listed})"
        return self._db.execute(
            "UPDATE notifications SET claimed_until = NULL, claimed_by = NULL"
            f" WHERE claimed_until IS NOT NULL AND status = 'pending' AND claimed_by = :by{only}",
            {"by": by, **id_values}).rowcount

    def cancel_org_warnings(self, *, team_id: str, org_id: str, reason: str) -> int:
        """Give up every unsent warning about one org (it was disconnected: what they warn about is gone),
        direct copies included; return how many there were."""
        return sum(self._cancel_pending(key_prefix=prefix, reason=reason)
                   for prefix in outbox_keys.org_warnings(team_id=team_id, org_id=org_id))

    def cancel_token_warnings(self, *, team_id: str, org_id: str, token_keys: Iterable[str], reason: str) -> None:
        """Give up every unsent expiry warning about these tracked tokens (revoked: they expire no more), direct
        copies included, in one round trip."""
        prefixes = [outbox_keys.token_expiry_warnings(team_id=team_id, org_id=org_id, token_key=key)
                    for key in token_keys]
        self._db.execute_many(_CANCEL_PENDING_SQL, [_cancel_params(prefix, reason) for prefix in prefixes])

    def _cancel_pending(self, *, key_prefix: str, reason: str) -> int:
        return self._db.execute(_CANCEL_PENDING_SQL, _cancel_params(key_prefix, reason)).rowcount

    def mark_sent(
        self, notification_id: int, *, message_ts: str | None, now: datetime, message_channel: str | None = None
    ) -> None:
        self._db.execute(
            "UPDATE notifications SET status = 'sent', message_ts = :message_ts, message_channel = :message_channel,"
            " sent_at = :now, attempts = attempts + 1, last_error = NULL, claimed_until = NULL WHERE id = :id",
            {"message_ts": message_ts, "message_channel": message_channel, "now": to_db_time(now),
             "id": notification_id},
        )

    def postpone(self, notification_id: int, *, until: datetime) -> None:
        """Put a message back unclaimed, to be looked at again at `until`; not a failed attempt."""
        self._db.execute(
            "UPDATE notifications SET next_attempt_at = :until, claimed_until = NULL WHERE id = :id",
            {"until": to_db_time(until), "id": notification_id},
        )

    def mark_retry(self, notification_id: int, *, error: str, next_attempt_at: datetime) -> None:
        self._db.execute(
            "UPDATE notifications SET attempts = attempts + 1, last_error = :error, next_attempt_at = :next_attempt_at,"
            " claimed_until = NULL WHERE id = :id",
            {"error": error, "next_attempt_at": to_db_time(next_attempt_at), "id": notification_id},
        )

    def replace_payload(self, notification_id: int, *, payload: dict[str, Any], error: str,
                        next_attempt_at: datetime) -> None:
        """Send a message with other content in its place (Slack refused the first as invalid): a failed
        attempt, and the same message for everything that follows it (edits, its `message_ts`)."""
        payload_json = json.dumps(payload, sort_keys=True)
        if contains_secret(payload_json):
            raise ValueError(f"refusing to queue a Slack message that contains a secret ({notification_id})")
        self._db.execute(
            "UPDATE notifications SET payload = :payload, attempts = attempts + 1, last_error = :error,"
            " next_attempt_at = :next_attempt_at, claimed_until = NULL WHERE id = :id",
            {"payload": payload_json, "error": error, "next_attempt_at": to_db_time(next_attempt_at),
             "id": notification_id},
        )

    def mark_undeliverable(self, notification_id: int, *, error: str) -> None:
        self._db.execute(
            "UPDATE notifications SET status = 'undeliverable', attempts = attempts + 1, last_error = :error,"
            " claimed_until = NULL WHERE id = :id",
            {"error": error, "id": notification_id},
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
        message_channel=row["message_channel"],
        update_of=row["update_of"],
        thread_of=row["thread_of"],
        broadcast=bool(row["broadcast"]),
    )


@dataclass(frozen=True, kw_only=True)
class UpdateTarget:
    """`NotificationRepository.update_target`: `original` to edit now; else the edit waits (nothing set), is
    `superseded` by a later edit, or its original is `gone` (never delivered anywhere)."""

    original: Notification | None = None
    superseded: bool = False
    gone: bool = False
    channel_refused: str | None = None
    """Slack's error when `original` is the direct copy of a message its channel refused: an edit keeps saying so."""
