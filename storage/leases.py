"""Leases (SPEC §10): a named right to do one piece of work, held by one process until it expires.

Whoever holds a lease renews it while it works; a process that died stops renewing and another takes the lease
once it has expired. Taking and renewing are one statement, so two processes asking at once never both get it.
Names are built here (`journey`, `rotation`, `org`, `token_refresh`, `SCHEDULER`), so every reader agrees on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.sql import Db
from storage.timestamps import from_db_time, to_db_time

SCHEDULER = "scheduler"
"""The periodic work of `qc-bot serve` (org checks, the expiry scan, pruning): one replica at a time."""


JOURNEY = "journey:"
"""The prefix of a journey's lease; the connection id follows."""
ROTATION = "rotation:"
"""The prefix of a credential rotation's lease; the rotation id follows."""


def journey(connection_id: str) -> str:
    return JOURNEY + connection_id


def rotation(rotation_id: str) -> str:
    return ROTATION + rotation_id


def org(*, team_id: str, org_id: str) -> str:
    """The right to change one org's app (a journey's deploy): one piece of work at a time, on any replica."""
    return f"org:{team_id}:{org_id}"


def token_refresh(*, team_id: str, org_id: str) -> str:
    return f"refresh:{team_id}:{org_id}"


@dataclass(frozen=True, kw_only=True)
class Lease:
    name: str
    holder: str
    expires_at: datetime


class LeaseRepository:
    def __init__(self, db: Db) -> None:
        self._db = db

    def acquire(self, name: str, *, holder: str, now: datetime, until: datetime) -> bool:
        """Take the lease `name` for `holder` until `until`, or renew it if `holder` has it already; False while
        another holder's lease has not expired."""
        cursor = self._db.execute(
            "INSERT INTO leases (name, holder, expires_at, acquired_at) VALUES (:name, :holder, :until, :now)"
            " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,"
            " acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at"
            " ELSE excluded.acquired_at END"
            " WHERE leases.holder = excluded.holder OR leases.expires_at <= :now",
            {"name": name, "holder": holder, "until": to_db_time(until), "now": to_db_time(now)},
        )
        return cursor.rowcount == 1

    def release(self, name: str, *, holder: str) -> bool:
        """Give up `name` if `holder` still has it (another may have taken it over after it expired)."""
        return self._db.execute("DELETE FROM leases WHERE name = :name AND holder = :holder",
                                {"name": name, "holder": holder}).rowcount == 1

    def get(self, name: str) -> Lease | None:
        row = self._db.execute("SELECT name, holder, expires_at FROM leases WHERE name = :name",
                               {"name": name}).fetchone()
        return None if row is None else Lease(name=row.name, holder=row.holder, expires_at=from_db_time(row.expires_at))

