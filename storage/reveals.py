"""One-time "Reveal credentials" grants: for one Slack user, one use, a short life (SPEC §1 step 6).

The grant id travels in a Slack button; it is not a secret by itself, because Slack signs the click
and the grant only answers the user it was made for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.failures import RevealProblem
from storage.sql import Db
from storage.timestamps import from_db_time, to_db_time


@dataclass(frozen=True)
class RevealGrant:
    connection_id: str | None
    problem: RevealProblem | None = None
    rotation_id: str | None = None
    """Set when the grant reveals a rotation's new credentials rather than the journey's."""


class RevealRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def create(
        self, *, reveal_id: str, connection_id: str, team_id: str, user_id: str, now: datetime, expires_at: datetime,
        rotation_id: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO reveals (id, connection_id, team_id, user_id, created_at, expires_at, rotation_id)"
            " VALUES (:id, :connection_id, :team_id, :user_id, :now, :expires_at, :rotation_id)",
            {"id": reveal_id, "connection_id": connection_id, "team_id": team_id, "user_id": user_id,
             "now": to_db_time(now), "expires_at": to_db_time(expires_at), "rotation_id": rotation_id},
        )

    def consume(self, *, reveal_id: str, team_id: str, user_id: str, now: datetime) -> RevealGrant:
        """Use the grant once; a click by anyone else is refused without using it up."""
        row = self._db.execute(
            "SELECT connection_id, team_id, user_id, expires_at, used_at, rotation_id FROM reveals WHERE id = :id",
            {"id": reveal_id},
        ).fetchone()
        if row is None:
            return RevealGrant(None, RevealProblem.UNKNOWN)
        connection_id, grant_team, grant_user, expires_at, used_at, rotation_id = row
        if (grant_team, grant_user) != (team_id, user_id):
            return RevealGrant(connection_id, RevealProblem.WRONG_USER, rotation_id)
        if used_at is not None:
            return RevealGrant(connection_id, RevealProblem.USED, rotation_id)
        if from_db_time(expires_at) <= now:
            return RevealGrant(connection_id, RevealProblem.EXPIRED, rotation_id)
        cursor = self._db.execute(
            "UPDATE reveals SET used_at = :now WHERE id = :id AND used_at IS NULL",
            {"now": to_db_time(now), "id": reveal_id},
        )
        return RevealGrant(connection_id, None if cursor.rowcount == 1 else RevealProblem.USED, rotation_id)

    def release(self, *, reveal_id: str, team_id: str, user_id: str) -> None:
        """Undo a use whose credentials never reached the user (Slack refused to show them)."""
        self._db.execute(
            "UPDATE reveals SET used_at = NULL WHERE id = :id AND team_id = :team_id AND user_id = :user_id",
            {"id": reveal_id, "team_id": team_id, "user_id": user_id},
        )
