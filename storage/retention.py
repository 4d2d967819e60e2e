"""Retention (SPEC §7 "nothing grows forever"): what a finished piece of work leaves behind is deleted once it
is older than the retention period, and nothing that still decides anything.

- one-time values (links opened, OAuth states, Slack install states, reveal grants) once their expiry is older
  than the cutoff: used or not, they can no longer be used, and a link or state past its expiry is refused
  before its row is looked at;
- outbox messages that were sent or given up, queued before the cutoff, except a status message that its
  journey's live sign-in will still edit. An expiry warning's row is the last
  guard against sending it twice (the tracked token's `warned_days` is the first), so it stays until the expiry
  it warns about is older than the cutoff too;
- journeys (connections) that ended before the cutoff once nothing refers to them, except each org's latest
  journey and latest successful one, which `/qc status` and Re-authorize read. The org itself (`orgs`), its
  tokens and the installations are durable and never pruned here; the audit log has its own retention
  (storage.audit);
- the journal of temporary org changes (storage.temporary_changes) once a change was restored, or reported as
  left behind, before the cutoff: a pending change is what a restarted process restores, so it always stays.
- credential rotations (storage.rotations) that ended before the cutoff: retired, failed, or proven with their
  old credentials' overlap over (an encrypted copy of a secret the org record holds anyway);
- drift alerts (storage.drift_alerts) that ended before the cutoff: an open one is what keeps its drift from
  being announced again, so it stays as long as the drift does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from storage import outbox_keys
from storage.sql import Db
from storage.timestamps import to_db_time


@dataclass(frozen=True, kw_only=True)
class Pruned:
    oauth_links: int = 0
    oauth_states: int = 0
    install_states: int = 0
    reveals: int = 0
    notifications: int = 0
    connections: int = 0
    temporary_org_changes: int = 0
    drift_alerts: int = 0
    rotations: int = 0

    def total(self) -> int:
        return sum(asdict(self).values())

    def counts(self) -> dict[str, int]:
        return asdict(self)


class Retention:
    def __init__(self, db: Db) -> None:
        self._db = db

    def prune(self, *, before: datetime) -> Pruned:
        """Delete what ended before `before` (now minus the retention period); return how many rows of each."""
        cutoff = to_db_time(before)
        expired = {
            table: self._db.execute(f"DELETE FROM {table} WHERE expires_at < :cutoff", {"cutoff": cutoff}).rowcount
            for table in ("oauth_links", "oauth_states", "slack_install_states", "reveals")
        }
        return Pruned(oauth_links=expired["oauth_links"], oauth_states=expired["oauth_states"],
                      install_states=expired["slack_install_states"], reveals=expired["reveals"],
                      notifications=self._prune_notifications(before=before),
                      connections=self._prune_connections(cutoff=cutoff),
                      temporary_org_changes=self._db.execute(
                          "DELETE FROM temporary_org_changes WHERE state IN ('restored', 'left')"
                          " AND updated_at < :cutoff", {"cutoff": cutoff}).rowcount,
                      drift_alerts=self._db.execute("DELETE FROM drift_alerts WHERE resolved_at < :cutoff",
                                                    {"cutoff": cutoff}).rowcount,
                      rotations=self._prune_rotations(cutoff=cutoff))

    def _prune_rotations(self, *, cutoff: str) -> int:
        # A proven rotation stays while its Retire button still decides something: until the old credentials'
        # overlap ended (no former set listed: nothing to retire). Its new secret is the org's now (kept on the
        # org); the row's copy goes with the row.
        return self._db.execute(
            """
            DELETE FROM rotations
            WHERE updated_at < :cutoff
              AND (step IN ('retired', 'failed')
                   OR (step = 'proven' AND (old_valid_until IS NULL OR old_valid_until < :cutoff)))
              AND NOT EXISTS (SELECT 1 FROM reveals WHERE rotation_id = rotations.id)
            """,
            {"cutoff": cutoff},
        ).rowcount

    def _prune_notifications(self, *, before: datetime) -> int:
        # A status message whose journey is still proving its sign-in will be edited with the outcome, and an
        # org's card holds the ts its thread replies need: both stay.
        finished = self._db.execute(
            "SELECT id, dedupe_key FROM notifications WHERE status IN ('sent', 'undeliverable')"
            " AND created_at < :cutoff"
            " AND dedupe_key NOT IN (SELECT :status || id FROM connections WHERE proof_status = 'proving')"
            " AND dedupe_key NOT IN (SELECT card_key FROM orgs WHERE card_key IS NOT NULL)",
            {"cutoff": to_db_time(before), "status": outbox_keys.connection_status("")}).fetchall()
        prunable = [row_id for row_id, key in finished
                    if (expiry := outbox_keys.expiry_named(key)) is None or expiry < before]
        self._db.execute_many("DELETE FROM notifications WHERE id = :id", [{"id": row_id} for row_id in prunable])
        return len(prunable)

    def _prune_connections(self, *, cutoff: str) -> int:
        # An org's latest journey, and its latest successful one, are those no later one (of that kind) follows:
        # journeys begun at the same instant all stay, whichever of them `/qc status` takes for the latest.
        return self._db.execute(
            """
            DELETE FROM connections
            WHERE status IN ('provisioned', 'failed') AND finished_at < :cutoff
              AND proof_status IS DISTINCT FROM 'proving'
              AND NOT EXISTS (SELECT 1 FROM temporary_org_changes
                              WHERE connection_id = connections.id AND state = 'pending')
              AND NOT EXISTS (SELECT 1 FROM oauth_links WHERE connection_id = connections.id)
              AND NOT EXISTS (SELECT 1 FROM oauth_states WHERE connection_id = connections.id)
              AND NOT EXISTS (SELECT 1 FROM reveals WHERE connection_id = connections.id)
              AND NOT EXISTS (SELECT 1 FROM notifications WHERE status = 'pending'
                              AND dedupe_key IN (:status || connections.id, :reveal || connections.id))
              AND (org_id IS NULL OR (
                  EXISTS (SELECT 1 FROM connections AS later
                          WHERE later.team_id = connections.team_id AND later.org_id = connections.org_id
                            AND later.created_at > connections.created_at)
                  AND (status != 'provisioned'
                       OR EXISTS (SELECT 1 FROM connections AS later
                                  WHERE later.team_id = connections.team_id AND later.org_id = connections.org_id
                                    AND later.status = 'provisioned' AND later.created_at > connections.created_at))))
            """,
            {"cutoff": cutoff, "status": outbox_keys.connection_status(""), "reveal": outbox_keys.reveal_offer("")},
        ).rowcount
