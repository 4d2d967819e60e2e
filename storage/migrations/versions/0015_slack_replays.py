"""The replay check of `POST /slack/events`, shared by replicas (SPEC §6, §10).

One row per signed request already accepted (`signature:<X-Slack-Signature>`) and per Events API `event_id`
already handled (`event:<id>`), until the request could no longer be valid. A replica admits a request by
inserting its keys: a key already there and not yet expired means another replica (or this one) answered it.
Only PostgreSQL deployments use it (one SQLite file serves one process, which keeps the check in memory); the
table is made on both engines, as every table is.
"""

from __future__ import annotations

from storage.migrations.ddl import execute_script

revision = "0015"
down_revision = "0014"

SCRIPT = """
CREATE TABLE slack_replays (
    request_key TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
CREATE INDEX slack_replays_by_expiry ON slack_replays (expires_at);
"""


def upgrade() -> None:
    execute_script(SCRIPT)
