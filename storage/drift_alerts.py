"""Drift alerts (SPEC §4a): which drift of an org's app from SPEC §2 was announced, and how it ended.

A drift is an org, a setting and the value the org has for it (kept as a digest, so a change to another wrong
value is a new drift). The table, not the outbox, decides what is new: a drift open here was announced, so it is
never announced again, however often or concurrently it is seen; once resolved, the same value coming back is
news again. Its alert goes out under an outbox key named after the row (`storage.outbox_keys.drift_alert`), in
the same transaction that opens the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from storage.sql import Db
from storage.timestamps import from_db_time, from_db_time_optional, to_db_time, to_db_time_optional

Resolution = Literal["resolved", "repaired", "superseded"]


@dataclass(frozen=True, kw_only=True)
class DriftAlert:
    id: int
    team_id: str
    org_id: str
    setting: str
    observed_digest: str
    expected: str
    observed: str
    changed_by: str | None
    changed_at: datetime | None
    opened_at: datetime
    repair_by: str | None
    """The Slack user whose Repair is running for this drift (cleared when it ends without fixing it)."""
    repair_started_at: datetime | None
    resolved_at: datetime | None
    resolution: Resolution | None


class DriftAlertRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def open_for_org(self, *, team_id: str, org_id: str) -> list[DriftAlert]:
        rows = self._db.query("SELECT * FROM drift_alerts WHERE team_id = :team_id AND org_id = :org_id"
                              " AND resolved_at IS NULL ORDER BY id", {"team_id": team_id, "org_id": org_id})
        return [_to_alert(row) for row in rows]

    def get(self, alert_id: int) -> DriftAlert | None:
        rows = list(self._db.query("SELECT * FROM drift_alerts WHERE id = :id", {"id": alert_id}))
        return _to_alert(rows[0]) if rows else None

    def open(self, *, team_id: str, org_id: str, setting: str, observed_digest: str, expected: str, observed: str,
             changed_by: str | None, changed_at: datetime | None, now: datetime) -> DriftAlert | None:
        """Open a drift; None when one is open for this setting already (a racing check opened it)."""
        opened = self._db.execute(
            "INSERT INTO drift_alerts (team_id, org_id, setting, observed_digest, expected, observed, changed_by,"
            " changed_at, opened_at) VALUES (:team_id, :org_id, :setting, :observed_digest, :expected, :observed,"
            " :changed_by, :changed_at, :now) ON CONFLICT DO NOTHING RETURNING id",
            {"team_id": team_id, "org_id": org_id, "setting": setting, "observed_digest": observed_digest,
             "expected": expected, "observed": observed, "changed_by": changed_by,
             "changed_at": to_db_time_optional(changed_at), "now": to_db_time(now)}).fetchall()
        return self.get(opened[0][0]) if opened else None

    def close(self, alert_id: int, *, resolution: Resolution, now: datetime) -> bool:
        """End an open drift; False if it had ended already."""
        cursor = self._db.execute(
            "UPDATE drift_alerts SET resolved_at = :now, resolution = :resolution WHERE id = :id"
            " AND resolved_at IS NULL",
            {"now": to_db_time(now), "resolution": resolution, "id": alert_id})
        return cursor.rowcount == 1

    def start_repair(self, *, team_id: str, org_id: str, user_id: str, now: datetime,
                     stale_before: datetime) -> list[DriftAlert]:
        """Claim the org's open drifts for one repair; empty when there are none, or another repair started after
        `stale_before` holds them."""
        cursor = self._db.execute(
            "UPDATE drift_alerts SET repair_by = :user_id, repair_started_at = :now WHERE team_id = :team_id"
            " AND org_id = :org_id AND resolved_at IS NULL AND NOT EXISTS (SELECT 1 FROM drift_alerts"
            " WHERE team_id = :team_id AND org_id = :org_id AND resolved_at IS NULL"
            " AND repair_started_at > :stale_before)",
            {"user_id": user_id, "now": to_db_time(now), "team_id": team_id, "org_id": org_id,
             "stale_before": to_db_time(stale_before)})
        if cursor.rowcount == 0:
            return []
        return self.open_for_org(team_id=team_id, org_id=org_id)

    def end_repair(self, *, team_id: str, org_id: str) -> None:
        """Release the open drifts a repair that did not fix them claimed, so Repair can be pressed again."""
        self._db.execute("UPDATE drift_alerts SET repair_by = NULL, repair_started_at = NULL"
                         " WHERE team_id = :team_id AND org_id = :org_id AND resolved_at IS NULL",
                         {"team_id": team_id, "org_id": org_id})


def _to_alert(row: dict[str, Any]) -> DriftAlert:
    return DriftAlert(
        id=row["id"], team_id=row["team_id"], org_id=row["org_id"], setting=row["setting"],
        observed_digest=row["observed_digest"], expected=row["expected"], observed=row["observed"],
        changed_by=row["changed_by"], changed_at=from_db_time_optional(row["changed_at"]),
        opened_at=from_db_time(row["opened_at"]), repair_by=row["repair_by"],
        repair_started_at=from_db_time_optional(row["repair_started_at"]),
        resolved_at=from_db_time_optional(row["resolved_at"]), resolution=row["resolution"],
    )
