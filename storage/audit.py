"""The append-only audit log (SPEC §6): who did what to which org, and how it ended.

Triggers in the schema refuse UPDATE always, and DELETE of any entry that no recorded export covers: the one
way out is `prune_exported`, after an operator exported the entries (`qc-bot audit-export`), and the record of
that export (range, count, digest, file) is append-only too. Entries never hold a secret, not even masked:
`append` refuses a detail that contains one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.redaction import contains_secret
from storage.sql import Db
from storage.timestamps import to_db_time


@dataclass(frozen=True, kw_only=True)
class AuditRange:
    """The entries from `first_id` to `last_id` (inclusive): `entries` of them."""

    first_id: int
    last_id: int
    entries: int


class AuditLog:
    def __init__(self, db: Db) -> None:
        self._db = db

    def append(
        self,
        *,
        at: datetime,
        team_id: str | None,
        actor: str,
        action: str,
        outcome: str,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        detail_json = None if detail is None else json.dumps(detail, sort_keys=True)
        if detail_json is not None and contains_secret(detail_json):
            raise ValueError(f"refusing to write a secret into the audit log ({action})")
        self._db.execute(
            "INSERT INTO audit_log (at, team_id, actor, action, target, outcome, detail)"
            " VALUES (:at, :team_id, :actor, :action, :target, :outcome, :detail)",
            {"at": to_db_time(at), "team_id": team_id, "actor": actor, "action": action, "target": target,
             "outcome": outcome, "detail": detail_json},
        )

    def entries(self, *, team_id: str | None = None, action: str | None = None) -> list[dict[str, Any]]:
        values = {name: value for name, value in (("team_id", team_id), ("action", action)) if value is not None}
        clauses = [f"{name} = :{name}" for name in values]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return [_decoded(row) for row in self._db.query(f"SELECT * FROM audit_log{where} ORDER BY id", values)]

    def range_before(self, before: datetime) -> AuditRange | None:
        """Every entry up to the last one written before `before`, or None when there is none.

        A range of ids rather than a set of times: entries are only ever appended, so the range holds still
        while it is exported, and what is pruned afterwards is exactly what was exported.
        """
        first_id, last_id = self._db.execute(
            "SELECT MIN(id), MAX(id) FROM audit_log WHERE id <= (SELECT MAX(id) FROM audit_log WHERE at < :before)",
            {"before": to_db_time(before)}).one()
        if last_id is None:
            return None
        entries = self._db.execute("SELECT COUNT(*) FROM audit_log WHERE id BETWEEN :first_id AND :last_id",
                                   {"first_id": first_id, "last_id": last_id}).scalar_one()
        return AuditRange(first_id=first_id, last_id=last_id, entries=entries)

    def entries_in(self, selected: AuditRange) -> Iterator[dict[str, Any]]:
        for row in self._db.query("SELECT * FROM audit_log WHERE id BETWEEN :first_id AND :last_id ORDER BY id",
                                  {"first_id": selected.first_id, "last_id": selected.last_id}):
            yield _decoded(row)

    def prune_exported(self, exported: AuditRange, *, sha256: str, destination: str, now: datetime) -> int:
        """Record the export of `exported` and delete exactly its entries; return how many were deleted.

        The schema refuses the record unless it names every entry of the range, and refuses the deletion of any
        entry that no record covers.
        """
        self._db.execute(
            "INSERT INTO audit_exports (exported_at, first_id, last_id, entries, sha256, destination)"
            " VALUES (:now, :first_id, :last_id, :entries, :sha256, :destination)",
            {"now": to_db_time(now), "first_id": exported.first_id, "last_id": exported.last_id,
             "entries": exported.entries, "sha256": sha256, "destination": destination})
        return self._db.execute("DELETE FROM audit_log WHERE id BETWEEN :first_id AND :last_id",
                                {"first_id": exported.first_id, "last_id": exported.last_id}).rowcount


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    row["detail"] = None if row["detail"] is None else json.loads(row["detail"])
    return row
