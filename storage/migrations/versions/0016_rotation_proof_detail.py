"""What Salesforce said when a rotation's new credentials did not sign in (`rotations.proof_detail`): the channel's
account of the rotation shows it, and is written again when the old credentials are retired (its Retire button
then goes), so the detail must outlive the first message."""

from __future__ import annotations

from storage.migrations.ddl import execute_script

revision = "0016"
down_revision = "0015"

SCRIPT = """
ALTER TABLE rotations ADD COLUMN proof_detail TEXT;
"""


def upgrade() -> None:
    execute_script(SCRIPT)
