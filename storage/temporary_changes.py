"""The journal of temporary changes to a customer org (an org setting, a permission set) that qc-bot makes only
while it reads an External Client App's credentials. A change is journaled before it is made and closed once
it is restored (or reported as left behind), so a process killed in between restores it when it resumes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from storage.sql import Db
from storage.timestamps import to_db_time

ChangeKind = Literal["org_setting", "permission_set"]
ChangeEnd = Literal["restored", "left"]


@dataclass(frozen=True)
class TemporaryChange:
    id: int
    kind: ChangeKind
    name: str
    """The setting's field name, or the permission set's API name."""
    old_value: str | None
    """The setting's value before the change (`true`/`false`); None for a permission set (it did not exist)."""


class TemporaryChangeRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def record(
        self, *, connection_id: str, team_id: str, org_id: str, kind: ChangeKind, name: str, old_value: str | None,
        now: datetime,
    ) -> TemporaryChange:
        [(change_id,)] = self._db.execute(
            "INSERT INTO temporary_org_changes (connection_id, team_id, org_id, kind, name, old_value, state,"
            " created_at, updated_at) VALUES (:connection_id, :team_id, :org_id, :kind, :name, :old_value,"
            " 'pending', :now, :now) RETURNING id",
            {"connection_id": connection_id, "team_id": team_id, "org_id": org_id, "kind": kind, "name": name,
             "old_value": old_value, "now": to_db_time(now)},
        ).fetchall()
        return TemporaryChange(id=change_id, kind=kind, name=name, old_value=old_value)

    def pending(self, connection_id: str) -> list[TemporaryChange]:
        """The changes of a connection not yet restored, oldest first."""
        rows = self._db.execute(
            "SELECT id, kind, name, old_value FROM temporary_org_changes "
            " WHERE connection_id = :connection_id AND state = 'pending' ORDER BY id",
            {"connection_id": connection_id},
        ).fetchall()
        return [TemporaryChange(id=row[0], kind=row[1], name=row[2], old_value=row[3]) for row in rows]

    def close(self, change_id: int, *, end: ChangeEnd, now: datetime) -> None:
        self._db.execute(
            "UPDATE temporary_org_changes SET state = :end, updated_at = :now WHERE id = :id AND state = 'pending'",
            {"end": end, "now": to_db_time(now), "id": change_id},
        )
