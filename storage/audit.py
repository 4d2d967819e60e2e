"""The append-only audit log (SPEC §6): who did what to which org, and how it ended.

Triggers in the schema refuse UPDATE and DELETE. Entries never hold a secret, not even masked:
`append` refuses a detail that contains one.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.redaction import contains_secret
from storage.timestamps import to_db_time


class AuditLog:
    def __init__(self, db: sqlite_utils.Database) -> None:
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
            "INSERT INTO audit_log (at, team_id, actor, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [to_db_time(at), team_id, actor, action, target, outcome, detail_json],
        )

    def entries(self, *, team_id: str | None = None, action: str | None = None) -> list[dict[str, Any]]:
        clauses, values = [], []
        if team_id is not None:
            clauses.append("team_id = ?")
            values.append(team_id)
        if action is not None:
            clauses.append("action = ?")
            values.append(action)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = list(self._db.query(f"SELECT * FROM audit_log{where} ORDER BY id", values))
        for row in rows:
            row["detail"] = None if row["detail"] is None else json.loads(row["detail"])
        return rows
