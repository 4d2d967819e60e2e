"""Leases, so several replicas can share one database (SPEC §10).

A lease is a named, expiring right to do one piece of work: `scheduler` (the periodic work), `journey:<connection
id>` and `rotation:<rotation id>` (a journey or rotation under way), `refresh:<team>:<org>` (a refresh of that
org's rotating token). The holder renews it while it works; a replica that dies stops renewing, and another
takes the lease once `expires_at` has passed. Times are ISO TEXT like every other timestamp, so they compare as
strings on both engines.
"""

from __future__ import annotations

from storage.migrations.ddl import execute_script

revision = "0014"
down_revision = "0013"

SCRIPT = """
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    acquired_at TEXT NOT NULL
);
CREATE INDEX leases_by_until ON leases (expires_at);
"""


def upgrade() -> None:
    execute_script(SCRIPT)

