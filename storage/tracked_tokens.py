"""Refresh tokens under watch (SPEC §4) and the per-org schedule that keeps them in step with Salesforce.

`tracked_tokens` holds one row per watched token: the bot's own refresh token of each org, and the newest
refresh token the QualityClouds app holds for each Salesforce user (read from the org's `OauthToken`, and for
an External Client App from its Connect REST OAuth Usage).
Nothing secret is stored: a token is known by its owner, app and dates, never by its value.

Each row carries `next_warning_at`, the moment its next warning falls due (NULL: nothing more to say),
so finding what is due is one range query on a partial index, whatever the number of tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from storage.sql import Db
from storage.timestamps import from_db_time, from_db_time_optional, to_db_time, to_db_time_optional

TokenKind = Literal["bot", "app"]


@dataclass(frozen=True, kw_only=True)
class TrackedToken:
    key: str
    team_id: str
    org_id: str
    kind: TokenKind
    app_name: str
    salesforce_user_id: str | None
    salesforce_username: str | None
    policy: str
    """The refresh token policy in its Connected App form, e.g. `specific_lifetime:90:DAYS` or `infinite`."""
    issued_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    warned_days: int | None
    """The nearest threshold already warned about for this expiry (0: the expiry itself), None: none yet."""
    next_warning_at: datetime | None
    synced_at: datetime


@dataclass(frozen=True, kw_only=True)
class DueToken:
    """A token whose next warning is due, with what a warning needs to know about its org."""

    token: TrackedToken
    org_name: str
    channel_id: str
    connected_by: str
    """The Slack user who connected the org: hears the warning directly if the channel refuses it."""
    card_key: str | None
    """The outbox key of the org's card, in whose thread the warning goes."""


@dataclass(frozen=True, kw_only=True)
class WarningRecord:
    """The warning for `warned_days` was queued for the token `key` (whose expiry was `expires_at`)."""

    key: str
    expires_at: datetime
    warned_days: int
    next_warning_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class OrgSync:
    team_id: str
    org_id: str
    app_name: str | None
    app_policy: str | None
    next_sync_at: datetime | None
    last_synced_at: datetime | None
    last_error: str | None


# What is due, in due order, one batch at a time: written to fit the partial index `tracked_tokens_due` (the
# range and the order are its columns), which tests/bot/watch/test_expiry.py checks the plan uses.
DUE_TOKENS_SQL = """
    SELECT t.*, o.org_name AS org_name, o.channel_id AS channel_id, o.connected_by AS connected_by,
      o.card_key AS card_key
    FROM tracked_tokens AS t
    JOIN orgs AS o ON o.team_id = t.team_id AND o.org_id = t.org_id
    WHERE t.next_warning_at <= :as_of AND (t.next_warning_at, t.token_key) > (:after_at, :after_key)
      AND o.status != 'disconnected'
    ORDER BY t.next_warning_at, t.token_key
    LIMIT :limit
"""


def token_key(*, team_id: str, org_id: str, kind: TokenKind, salesforce_user_id: str | None = None) -> str:
    """`<team>:<org>:bot` or `<team>:<org>:app:<Salesforce user id>`. Expiry warnings carry the part after
    the org in their outbox keys (storage.outbox_keys), so this format is stored there too: keep it."""
    return f"{team_id}:{org_id}:bot" if kind == "bot" else f"{team_id}:{org_id}:app:{salesforce_user_id}"


class TrackedTokenRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    # -- the per-org sync schedule ---------------------------------------------------------------------

    def watch_org(self, *, team_id: str, org_id: str, now: datetime) -> None:
        """Sync this org soon (after an authorization), keeping what is known about its app."""
        self._db.execute(
            "INSERT INTO token_syncs (team_id, org_id, next_sync_at) VALUES (:team_id, :org_id, :now)"
            " ON CONFLICT (team_id, org_id) DO UPDATE SET next_sync_at = excluded.next_sync_at",
            {"team_id": team_id, "org_id": org_id, "now": to_db_time(now)},
        )

    def set_app(self, *, team_id: str, org_id: str, app_name: str, app_policy: str, now: datetime) -> None:
        """Record the app whose tokens to read and the policy set on it, and sync soon."""
        self._db.execute(
            "INSERT INTO token_syncs (team_id, org_id, app_name, app_policy, next_sync_at)"
            " VALUES (:team_id, :org_id, :app_name, :app_policy, :now)"
            " ON CONFLICT (team_id, org_id) DO UPDATE SET app_name = excluded.app_name,"
            " app_policy = excluded.app_policy, next_sync_at = excluded.next_sync_at",
            {"team_id": team_id, "org_id": org_id, "app_name": app_name, "app_policy": app_policy,
             "now": to_db_time(now)},
        )

    def claim_due(self, *, now: datetime, limit: int, by: str, until: datetime) -> list[OrgSync]:
        """Claim up to `limit` orgs whose check is due and that nobody else is checking (run in an immediate
        transaction: the read and the claim are one step for every other process)."""
        rows = list(self._db.query(
            "SELECT * FROM token_syncs WHERE next_sync_at <= :now AND (claimed_until IS NULL OR claimed_until <= :now)"
            " ORDER BY next_sync_at LIMIT :limit",
            {"now": to_db_time(now), "limit": limit},
        ))
        # Each claim repeats the read's condition, so an org another process claimed since the read (a database
        # whose transactions do not lock the read, such as PostgreSQL's read committed) is not taken twice.
        return [_to_sync(row) for row in rows if self._db.execute(
            "UPDATE token_syncs SET claimed_by = :by, claimed_until = :until WHERE team_id = :team_id"
            " AND org_id = :org_id AND next_sync_at <= :now AND (claimed_until IS NULL OR claimed_until <= :now)",
            {"by": by, "until": to_db_time(until), "team_id": row["team_id"], "org_id": row["org_id"],
             "now": to_db_time(now)}).rowcount == 1]

    def claim(self, *, team_id: str, org_id: str, now: datetime, by: str, until: datetime) -> OrgSync | None:
        """Claim one org's check whenever it is due; None if another process holds the claim (or the org has no
        schedule)."""
        cursor = self._db.execute(
            "UPDATE token_syncs SET claimed_by = :by, claimed_until = :until WHERE team_id = :team_id"
            " AND org_id = :org_id AND (claimed_until IS NULL OR claimed_until <= :now OR claimed_by = :by)",
            {"by": by, "until": to_db_time(until), "team_id": team_id, "org_id": org_id, "now": to_db_time(now)},
        )
        return self.sync_of(team_id=team_id, org_id=org_id) if cursor.rowcount == 1 else None

    def release(self, *, team_id: str, org_id: str, by: str) -> None:
        self._db.execute("UPDATE token_syncs SET claimed_by = NULL, claimed_until = NULL"
                         " WHERE team_id = :team_id AND org_id = :org_id AND claimed_by = :by",
                         {"team_id": team_id, "org_id": org_id, "by": by})

    def watched_orgs(self) -> list[tuple[str, str]]:
        """(team, org) of every org whose checks are scheduled: not those paused by a broken connection."""
        rows = self._db.query(
            "SELECT team_id, org_id FROM token_syncs WHERE next_sync_at IS NOT NULL ORDER BY team_id, org_id")
        return [(row["team_id"], row["org_id"]) for row in rows]

    def sync_of(self, *, team_id: str, org_id: str) -> OrgSync | None:
        rows = list(self._db.query("SELECT * FROM token_syncs WHERE team_id = :team_id AND org_id = :org_id",
                                   {"team_id": team_id, "org_id": org_id}))
        return _to_sync(rows[0]) if rows else None

    def record_sync(
        self, *, team_id: str, org_id: str, next_sync_at: datetime | None, now: datetime, error: str | None
    ) -> None:
        """Note a sync attempt; `next_sync_at` None pauses syncing until the org is authorized again."""
        # A failed sync keeps the time of the last one that worked. Decided here rather than by testing the
        # parameter in SQL: PostgreSQL cannot tell the type of a bare `:param IS NULL`.
        self._db.execute(
            "UPDATE token_syncs SET next_sync_at = :next_sync_at, last_synced_at = COALESCE(:synced_at,"
            " last_synced_at), last_error = :error WHERE team_id = :team_id AND org_id = :org_id",
            {"next_sync_at": to_db_time_optional(next_sync_at), "synced_at": to_db_time(now) if error is None else None,
             "error": error, "team_id": team_id, "org_id": org_id},
        )

    # -- tokens ----------------------------------------------------------------------------------------

    def save(self, token: TrackedToken) -> None:
        self._db.execute(
            """
            INSERT INTO tracked_tokens (token_key, team_id, org_id, kind, app_name, salesforce_user_id,
                salesforce_username, policy, issued_at, last_used_at, expires_at, warned_days, next_warning_at,
                synced_at)
            VALUES (:token_key, :team_id, :org_id, :kind, :app_name, :salesforce_user_id, :salesforce_username,
                :policy, :issued_at, :last_used_at, :expires_at, :warned_days, :next_warning_at, :synced_at)
            ON CONFLICT (token_key) DO UPDATE SET
                app_name = excluded.app_name, salesforce_user_id = excluded.salesforce_user_id,
                salesforce_username = excluded.salesforce_username, policy = excluded.policy,
                issued_at = excluded.issued_at, last_used_at = excluded.last_used_at,
                expires_at = excluded.expires_at, warned_days = excluded.warned_days,
                next_warning_at = excluded.next_warning_at, synced_at = excluded.synced_at
            """,
            {"token_key": token.key, "team_id": token.team_id, "org_id": token.org_id, "kind": token.kind,
             "app_name": token.app_name, "salesforce_user_id": token.salesforce_user_id,
             "salesforce_username": token.salesforce_username, "policy": token.policy,
             "issued_at": to_db_time(token.issued_at), "last_used_at": to_db_time_optional(token.last_used_at),
             "expires_at": to_db_time_optional(token.expires_at), "warned_days": token.warned_days,
             "next_warning_at": to_db_time_optional(token.next_warning_at),
             "synced_at": to_db_time(token.synced_at)},
        )

    def for_org(self, *, team_id: str, org_id: str) -> list[TrackedToken]:
        rows = self._db.query(
            "SELECT * FROM tracked_tokens WHERE team_id = :team_id AND org_id = :org_id ORDER BY token_key",
            {"team_id": team_id, "org_id": org_id})
        return [_to_token(row) for row in rows]

    def for_team(self, *, team_id: str) -> list[TrackedToken]:
        rows = self._db.query("SELECT * FROM tracked_tokens WHERE team_id = :team_id ORDER BY org_id, token_key",
                              {"team_id": team_id})
        return [_to_token(row) for row in rows]

    def remove(self, *, keys: Iterable[str]) -> None:
        self._db.execute_many("DELETE FROM tracked_tokens WHERE token_key = :token_key",
                              [{"token_key": key} for key in keys])

    def forget_org(self, *, team_id: str, org_id: str) -> int:
        """Stop watching an org entirely (it was disconnected); returns how many tokens were dropped."""
        org = {"team_id": team_id, "org_id": org_id}
        cursor = self._db.execute("DELETE FROM tracked_tokens WHERE team_id = :team_id AND org_id = :org_id", org)
        self._db.execute("DELETE FROM token_syncs WHERE team_id = :team_id AND org_id = :org_id", org)
        return cursor.rowcount

    def silence(self, key: str) -> None:
        """No more warnings for this token (the bot's access broke: the channel was told once)."""
        self._db.execute("UPDATE tracked_tokens SET next_warning_at = NULL WHERE token_key = :token_key",
                         {"token_key": key})

    # -- the expiry scan -------------------------------------------------------------------------------

    def due(self, *, as_of: datetime, after: tuple[datetime, str] | None, limit: int) -> list[DueToken]:
        """Tokens whose next warning is due by `as_of`, in due order, resuming after the `after` position.

        One range scan of the partial index `tracked_tokens_due` (plus a primary-key lookup of each org):
        the cost grows with what is due, not with how many tokens are watched.
        """
        after_at, after_key = (to_db_time(after[0]), after[1]) if after else ("", "")
        rows = self._db.query(
            DUE_TOKENS_SQL,
            {"as_of": to_db_time(as_of), "after_at": after_at, "after_key": after_key, "limit": limit},
        )
        return [DueToken(token=_to_token(row), org_name=row["org_name"], channel_id=row["channel_id"],
                         connected_by=row["connected_by"], card_key=row["card_key"]) for row in rows]

    def record_warnings(self, records: Sequence[WarningRecord]) -> None:
        """Note each queued warning (unless its token's expiry changed meanwhile), in one round trip."""
        self._db.execute_many(
            "UPDATE tracked_tokens SET warned_days = :warned_days, next_warning_at = :next_warning_at"
            " WHERE token_key = :token_key AND expires_at = :expires_at",
            [{"warned_days": record.warned_days, "next_warning_at": to_db_time_optional(record.next_warning_at),
              "token_key": record.key, "expires_at": to_db_time(record.expires_at)} for record in records],
        )

    def reschedule(self, next_warnings: Mapping[str, datetime | None]) -> None:
        """Move each token's (by key) next warning, in one round trip."""
        self._db.execute_many(
            "UPDATE tracked_tokens SET next_warning_at = :next_warning_at WHERE token_key = :token_key",
            [{"next_warning_at": to_db_time_optional(moment), "token_key": key}
             for key, moment in next_warnings.items()])


def _to_token(row: dict[str, Any]) -> TrackedToken:
    return TrackedToken(
        key=row["token_key"],
        team_id=row["team_id"],
        org_id=row["org_id"],
        kind=row["kind"],
        app_name=row["app_name"],
        salesforce_user_id=row["salesforce_user_id"],
        salesforce_username=row["salesforce_username"],
        policy=row["policy"],
        issued_at=from_db_time(row["issued_at"]),
        last_used_at=from_db_time_optional(row["last_used_at"]),
        expires_at=from_db_time_optional(row["expires_at"]),
        warned_days=row["warned_days"],
        next_warning_at=from_db_time_optional(row["next_warning_at"]),
        synced_at=from_db_time(row["synced_at"]),
    )


def _to_sync(row: dict[str, Any]) -> OrgSync:
    return OrgSync(
        team_id=row["team_id"],
        org_id=row["org_id"],
        app_name=row["app_name"],
        app_policy=row["app_policy"],
        next_sync_at=from_db_time_optional(row["next_sync_at"]),
        last_synced_at=from_db_time_optional(row["last_synced_at"]),
        last_error=row["last_error"],
    )
