"""Connected Salesforce orgs, one row per (Slack team, org): the bot's tokens and the app's credentials.

Every token and credential is stored encrypted (`*_enc`) and handed out only as `Secret`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.redaction import Secret
from storage.crypto import SecretBox
from storage.sql import Db
from storage.timestamps import from_db_time, from_db_time_optional, to_db_time

OrgStatus = Literal["connected", "broken", "disconnected"]


@dataclass(frozen=True, kw_only=True)
class OrgSummary:
    """An org as listings show it: listing orgs decrypts none of their tokens or credentials."""

    team_id: str
    org_id: str
    org_name: str
    is_sandbox: bool
    app_kind: str | None
    status: OrgStatus


@dataclass(frozen=True, kw_only=True)
class OrgRecord(OrgSummary):
    instance_url: str
    login_url: str
    channel_id: str
    connected_by: str
    salesforce_user_id: str
    salesforce_username: str
    access_token: Secret | None
    refresh_token: Secret | None
    token_issued_at: datetime | None
    consumer_key: Secret | None
    consumer_secret: Secret | None
    created_at: datetime
    updated_at: datetime
    card_key: str | None = None
    """The outbox key of the org's living card (its latest journey's status message); None for an org connected
    before cards existed. Later news about the org is threaded under it."""


SignInStatus = Literal["ok", "failing"]


@dataclass(frozen=True, kw_only=True)
class SignInState:
    """The last outcome of the repeated live sign-in with the app's credentials (bot.watch.sign_in)."""

    status: SignInStatus | None
    """None: not checked since the connection (its proof stands)."""
    problem: str | None
    detail: str | None
    checked_at: datetime | None
    episode: int
    """How many times the sign-in started failing: each failure's messages have keys of their own."""


class OrgRepository:
    def __init__(self, db: Db, secret_box: SecretBox) -> None:
        self._db = db
        self._box = secret_box

    def save_authorization(
        self,
        *,
        team_id: str,
        org_id: str,
        org_name: str,
        is_sandbox: bool,
        instance_url: str,
        login_url: str,
        channel_id: str,
        connected_by: str,
        salesforce_user_id: str,
        salesforce_username: str,
        access_token: Secret,
        refresh_token: Secret | None,
        issued_at: datetime,
        now: datetime,
    ) -> None:
        """Insert or refresh the org after an authorization; the app's stored credentials are kept."""
        self._db.execute(
            """
            INSERT INTO orgs (team_id, org_id, org_name, is_sandbox, instance_url, login_url, channel_id,
                connected_by, salesforce_user_id, salesforce_username, access_token_enc, refresh_token_enc,
                token_issued_at, status, created_at, updated_at)
            VALUES (:team_id, :org_id, :org_name, :is_sandbox, :instance_url, :login_url, :channel_id,
                :connected_by, :salesforce_user_id, :salesforce_username, :access_token_enc, :refresh_token_enc,
                :token_issued_at, 'connected', :now, :now)
            ON CONFLICT (team_id, org_id) DO UPDATE SET
                org_name = excluded.org_name, is_sandbox = excluded.is_sandbox,
                instance_url = excluded.instance_url, login_url = excluded.login_url,
                channel_id = excluded.channel_id, connected_by = excluded.connected_by,
                salesforce_user_id = excluded.salesforce_user_id,
                salesforce_username = excluded.salesforce_username,
                access_token_enc = excluded.access_token_enc,
                refresh_token_enc = COALESCE(excluded.refresh_token_enc, orgs.refresh_token_enc),
                token_issued_at = excluded.token_issued_at, status = 'connected',
                updated_at = excluded.updated_at
            """,
            {"team_id": team_id, "org_id": org_id, "org_name": org_name, "is_sandbox": int(is_sandbox),
             "instance_url": instance_url, "login_url": login_url, "channel_id": channel_id,
             "connected_by": connected_by, "salesforce_user_id": salesforce_user_id,
             "salesforce_username": salesforce_username, "access_token_enc": self._box.encrypt(access_token),
             "refresh_token_enc": self._box.encrypt_optional(refresh_token), "token_issued_at": to_db_time(issued_at),
             "now": to_db_time(now)},
        )

    def save_access_token(
        self, *, team_id: str, org_id: str, access_token: Secret, refresh_token: Secret | None, now: datetime
    ) -> bool:
        """Store a refreshed access token (and a rotated refresh token, when Salesforce sent one); False, and
        nothing stored, if the org is no longer connected (it was disconnected while Salesforce answered)."""
        cursor = self._db.execute(
            "UPDATE orgs SET access_token_enc = :access_token_enc,"
            " refresh_token_enc = COALESCE(:refresh_token_enc, refresh_token_enc), updated_at = :now"
            " WHERE team_id = :team_id AND org_id = :org_id AND status = 'connected'",
            {"access_token_enc": self._box.encrypt(access_token),
             "refresh_token_enc": self._box.encrypt_optional(refresh_token), "now": to_db_time(now),
             "team_id": team_id, "org_id": org_id},
        )
        return cursor.rowcount == 1

    def save_app(
        self,
        *,
        team_id: str,
        org_id: str,
        app_kind: str,
        consumer_key: Secret,
        consumer_secret: Secret | None,
        now: datetime,
    ) -> None:
        self._db.execute(
            "UPDATE orgs SET app_kind = :app_kind, consumer_key_enc = :consumer_key_enc,"
            " consumer_secret_enc = :consumer_secret_enc, updated_at = :now"
            " WHERE team_id = :team_id AND org_id = :org_id",
            {"app_kind": app_kind, "consumer_key_enc": self._box.encrypt(consumer_key),
             "consumer_secret_enc": self._box.encrypt_optional(consumer_secret), "now": to_db_time(now),
             "team_id": team_id, "org_id": org_id},
        )

    def set_card(self, *, team_id: str, org_id: str, card_key: str) -> None:
        """A new journey's card becomes the org's: what happens to the org from now on is threaded under it."""
        self._db.execute("UPDATE orgs SET card_key = :card_key WHERE team_id = :team_id AND org_id = :org_id",
                         {"card_key": card_key, "team_id": team_id, "org_id": org_id})

    def card_key(self, *, team_id: str, org_id: str) -> str | None:
        row = self._db.execute("SELECT card_key FROM orgs WHERE team_id = :team_id AND org_id = :org_id",
                               {"team_id": team_id, "org_id": org_id}).fetchone()
        return None if row is None else row[0]

    def mark_broken(self, *, team_id: str, org_id: str, now: datetime) -> bool:
        """The bot's refresh token stopped working; True if this call moved the org from connected."""
        cursor = self._db.execute(
            "UPDATE orgs SET status = 'broken', updated_at = :now WHERE team_id = :team_id AND org_id = :org_id"
            " AND status = 'connected'",
            {"now": to_db_time(now), "team_id": team_id, "org_id": org_id},
        )
        return cursor.rowcount == 1

    def disconnect(self, *, team_id: str, org_id: str, now: datetime) -> bool:
        """Forget every stored token and credential of the org; True if this call disconnected it."""
        cursor = self._db.execute(
            "UPDATE orgs SET status = 'disconnected', access_token_enc = NULL, refresh_token_enc = NULL,"
            " consumer_key_enc = NULL, consumer_secret_enc = NULL, updated_at = :now"
            " WHERE team_id = :team_id AND org_id = :org_id AND status != 'disconnected'",
            {"now": to_db_time(now), "team_id": team_id, "org_id": org_id},
        )
        return cursor.rowcount == 1

    def sign_in_state(self, *, team_id: str, org_id: str) -> SignInState | None:
        rows = list(self._db.query(
            "SELECT sign_in_status, sign_in_problem, sign_in_detail, sign_in_checked_at, sign_in_episode FROM orgs"
            " WHERE team_id = :team_id AND org_id = :org_id", {"team_id": team_id, "org_id": org_id}))
        if not rows:
            return None
        row = rows[0]
        return SignInState(status=row["sign_in_status"], problem=row["sign_in_problem"],
                           detail=row["sign_in_detail"], checked_at=from_db_time_optional(row["sign_in_checked_at"]),
                           episode=row["sign_in_episode"])

    def save_sign_in(
        self, *, team_id: str, org_id: str, status: SignInStatus, problem: str | None, detail: str | None,
        episode: int, now: datetime,
    ) -> None:
        self._db.execute(
            "UPDATE orgs SET sign_in_status = :status, sign_in_problem = :problem, sign_in_detail = :detail,"
            " sign_in_checked_at = :now, sign_in_episode = :episode WHERE team_id = :team_id AND org_id = :org_id",
            {"status": status, "problem": problem, "detail": detail, "now": to_db_time(now), "episode": episode,
             "team_id": team_id, "org_id": org_id},
        )

    def for_team(self, *, team_id: str) -> list[OrgSummary]:
        """The team's orgs that are not disconnected, by name."""
        rows = self._db.query(
            "SELECT team_id, org_id, org_name, is_sandbox, app_kind, status FROM orgs"
            " WHERE team_id = :team_id AND status != 'disconnected'",
            {"team_id": team_id})
        summaries = [OrgSummary(team_id=row["team_id"], org_id=row["org_id"], org_name=row["org_name"],
                                is_sandbox=bool(row["is_sandbox"]), app_kind=row["app_kind"], status=row["status"])
                     for row in rows]
        # Sorted here, not by SQL: SQLite's lower() folds ASCII only and PostgreSQL orders by the database's
        # collation, so the same orgs would be listed in two orders; casefold is one order on both.
        return sorted(summaries, key=lambda org: (org.org_name.casefold(), org.org_id))

    def get(self, *, team_id: str, org_id: str) -> OrgRecord | None:
        rows = list(self._db.query("SELECT * FROM orgs WHERE team_id = :team_id AND org_id = :org_id",
                                   {"team_id": team_id, "org_id": org_id}))
        return self._to_record(rows[0]) if rows else None

    def _to_record(self, row: dict[str, Any]) -> OrgRecord:
        box = self._box
        return OrgRecord(
            team_id=row["team_id"],
            org_id=row["org_id"],
            org_name=row["org_name"],
            is_sandbox=bool(row["is_sandbox"]),
            instance_url=row["instance_url"],
            login_url=row["login_url"],
            channel_id=row["channel_id"],
            connected_by=row["connected_by"],
            salesforce_user_id=row["salesforce_user_id"],
            salesforce_username=row["salesforce_username"],
            access_token=box.decrypt_optional(row["access_token_enc"]),
            refresh_token=box.decrypt_optional(row["refresh_token_enc"]),
            token_issued_at=from_db_time_optional(row["token_issued_at"]),
            app_kind=row["app_kind"],
            consumer_key=box.decrypt_optional(row["consumer_key_enc"]),
            consumer_secret=box.decrypt_optional(row["consumer_secret_enc"]),
            status=row["status"],
            created_at=from_db_time(row["created_at"]),
            updated_at=from_db_time(row["updated_at"]),
            card_key=row["card_key"],
        )
