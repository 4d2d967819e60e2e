"""Rotations of an org's External Client App credentials (`/qc rotate-secret`, SPEC §4b), one row each.

A rotation moves forward one step at a time with a compare-and-set, so a step is taken once even when a
resumed process and a click race. The new key and secret are written encrypted in the same statement that
records them as staged: nothing is shown before they are safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.redaction import Secret
from storage import leases
from storage.crypto import SecretBox
from storage.sql import Db, in_list
from storage.timestamps import from_db_time, from_db_time_optional, to_db_time, to_db_time_optional

RotationStep = Literal["started", "staging", "staged", "revealed", "promoted", "proven", "retired", "failed"]
UNDER_WAY: tuple[RotationStep, ...] = ("started", "staging", "staged", "revealed", "promoted")
_UNDER_WAY_IN, _UNDER_WAY_PARAMS = in_list("under_way", UNDER_WAY)


class RotationUnderWay(Exception):
    """The org already has a rotation that has not been promoted yet."""


@dataclass(frozen=True, kw_only=True)
class Rotation:
    id: str
    team_id: str
    org_id: str
    user_id: str
    channel_id: str
    connection_id: str
    incident: bool
    step: RotationStep
    staged_url: str | None
    new_key: Secret | None
    new_secret: Secret | None
    old_key: Secret | None
    old_valid_until: datetime | None
    proof_problem: str | None
    proof_detail: str | None
    failure: str | None
    failure_detail: str | None
    resumes: int
    created_at: datetime
    updated_at: datetime


class RotationRepository:
    def __init__(self, db: Db, secret_box: SecretBox) -> None:
        self._db = db
        self._box = secret_box

    def create(
        self, *, rotation_id: str, team_id: str, org_id: str, user_id: str, channel_id: str, connection_id: str,
        incident: bool, now: datetime,
    ) -> None:
        """Raises `RotationUnderWay` when the org has one under way already."""
        if self._db.execute(
            f"SELECT 1 FROM rotations WHERE team_id = :team_id AND org_id = :org_id AND step IN ({_UNDER_WAY_IN})",
            {"team_id": team_id, "org_id": org_id, **_UNDER_WAY_PARAMS},
        ).fetchall():
            raise RotationUnderWay(org_id)
        self._db.execute(
            "INSERT INTO rotations (id, team_id, org_id, user_id, channel_id, connection_id, incident, step,"
            " created_at, updated_at) VALUES (:id, :team_id, :org_id, :user_id, :channel_id, :connection_id,"
            " :incident, 'started', :now, :now)",
            {"id": rotation_id, "team_id": team_id, "org_id": org_id, "user_id": user_id, "channel_id": channel_id,
             "connection_id": connection_id, "incident": int(incident), "now": to_db_time(now)},
        )

    def get(self, rotation_id: str) -> Rotation | None:
        rows = list(self._db.query("SELECT * FROM rotations WHERE id = :id", {"id": rotation_id}))
        return self._to_rotation(rows[0]) if rows else None

    def adoptable(self, *, now: datetime, reclaiming: str | None = None) -> list[Rotation]:
        """Rotations before their proof that no live process holds the lease of (with `reclaiming`, a claim id:
        or whose lease that holder has, its previous process's), oldest first (ties by id)."""
        rows = self._db.query(
            "SELECT rotations.* FROM rotations LEFT JOIN leases ON leases.name = :prefix || rotations.id"
            f" WHERE rotations.step IN ({_UNDER_WAY_IN})"
            " AND (leases.name IS NULL OR leases.expires_at <= :now OR leases.holder = :reclaiming)"
            " ORDER BY rotations.created_at, rotations.id",
            {**_UNDER_WAY_PARAMS, "prefix": leases.ROTATION, "now": to_db_time(now), "reclaiming": reclaiming})
        return [self._to_rotation(row) for row in rows]

    def advance(self, rotation_id: str, *, expected: RotationStep, to: RotationStep, now: datetime,
                **fields: Any) -> bool:
        """Move from `expected` to `to`, writing `fields` (secrets encrypted); False if it had moved on."""
        columns: dict[str, Any] = {}
        for name, value in fields.items():
            if isinstance(value, Secret) or name.endswith(("_key", "_secret")):
                columns[f"{name}_enc"] = self._box.encrypt_optional(value)
            elif isinstance(value, datetime):
                columns[name] = to_db_time_optional(value)
            elif isinstance(value, bool):
                columns[name] = int(value)
            else:
                columns[name] = value
        # Column values are bound as `set_<column>`, apart from the statement's own parameters.
        assignments = "".join(f", {column} = :set_{column}" for column in columns)
        cursor = self._db.execute(
            f"UPDATE rotations SET step = :to, updated_at = :now{assignments} WHERE id = :id AND step = :expected",
            {"to": to, "now": to_db_time(now), **{f"set_{column}": value for column, value in columns.items()},
             "id": rotation_id, "expected": expected},
        )
        return cursor.rowcount == 1

    def count_resume(self, rotation_id: str) -> int:
        row = self._db.execute("UPDATE rotations SET resumes = resumes + 1 WHERE id = :id RETURNING resumes",
                               {"id": rotation_id}).fetchone()
        return int(row[0]) if row else 0

    def _to_rotation(self, row: dict[str, Any]) -> Rotation:
        box = self._box
        return Rotation(
            id=row["id"], team_id=row["team_id"], org_id=row["org_id"], user_id=row["user_id"],
            channel_id=row["channel_id"], connection_id=row["connection_id"], incident=bool(row["incident"]),
            step=row["step"], staged_url=row["staged_url"], new_key=box.decrypt_optional(row["new_key_enc"]),
            new_secret=box.decrypt_optional(row["new_secret_enc"]), old_key=box.decrypt_optional(row["old_key_enc"]),
            old_valid_until=from_db_time_optional(row["old_valid_until"]), proof_problem=row["proof_problem"],
            proof_detail=row["proof_detail"], failure=row["failure"], failure_detail=row["failure_detail"],
            resumes=row["resumes"],
            created_at=from_db_time(row["created_at"]), updated_at=from_db_time(row["updated_at"]),
        )
