"""Connection records: one per `/qc connect-org` journey, with the status of SPEC §1.

Status changes are compare-and-set (`transition`), so two workers — or a worker and a restart —
can never both move the same journey forward.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.failures import Failure
from bot.redaction import Secret
from storage import leases
from storage.crypto import SecretBox
from storage.sql import Db, in_list
from storage.timestamps import from_db_time, from_db_time_optional, to_db_time

ConnectionStatus = Literal[
    "pending_auth", "awaiting_confirmation", "authorized", "provisioning", "provisioned", "failed"]
ProofStatus = Literal["proving", "proved", "failed", "not_run"]
"""The live sign-in of a provisioned connection (SPEC §2 "Live proof"); `proving` until it has an outcome."""
Environment = Literal["production", "sandbox", "my_domain"]
FINAL_STATUSES: frozenset[str] = frozenset({"provisioned", "failed"})


@dataclass(frozen=True, kw_only=True)
class Connection:
    id: str
    team_id: str
    enterprise_id: str | None
    user_id: str
    channel_id: str
    environment: Environment
    login_url: str
    run_as: str | None
    status: ConnectionStatus
    failure_code: Failure | None
    failure_message: str | None
    org_id: str | None
    app_kind: str | None
    checklist: list[dict[str, Any]] | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    pending_deploy_id: str | None = None
    resumes: int = 0
    proof_status: ProofStatus | None = None
    proof_started_at: datetime | None = None
    proof_attempts: int = 0
    proof_problem: str | None = None
    proof_detail: str | None = None
    status_view: dict[str, Any] | None = None
    """The facts the channel status message was drawn from (no secrets: masks only), to draw it again."""
    confirm_by: datetime | None = None
    """While `awaiting_confirmation`: until when the requester may confirm."""


class ConnectionRepository:
    def __init__(self, db: Db, secret_box: SecretBox) -> None:
        self._db = db
        self._box = secret_box

    def create(
        self,
        *,
        connection_id: str,
        team_id: str,
        enterprise_id: str | None,
        user_id: str,
        channel_id: str,
        environment: Environment,
        login_url: str,
        run_as: str | None,
        now: datetime,
    ) -> Connection:
        # created_at is the one order of journeys on every engine ("the latest for an org"; SQLite's rowid is
        # its own): one created in the same microsecond as the team's last (a frozen clock) is stamped just after
        [(last,)] = self._db.execute("SELECT MAX(created_at) FROM connections WHERE team_id = :team_id",
                                     {"team_id": team_id}).fetchall()
        created_at = now if last is None else max(now, from_db_time(last) + timedelta(microseconds=1))
        self._db.execute(
            "INSERT INTO connections (id, team_id, enterprise_id, user_id, channel_id, environment, login_url,"
            " run_as, status, created_at, updated_at) VALUES (:id, :team_id, :enterprise_id, :user_id, :channel_id,"
            " :environment, :login_url, :run_as, 'pending_auth', :created_at, :now)",
            {"id": connection_id, "team_id": team_id, "enterprise_id": enterprise_id, "user_id": user_id,
             "channel_id": channel_id, "environment": environment, "login_url": login_url, "run_as": run_as,
             "created_at": to_db_time(created_at), "now": to_db_time(now)},
        )
        connection = self.get(connection_id)
        assert connection is not None
        return connection

    def get(self, connection_id: str) -> Connection | None:
        rows = list(self._db.query("SELECT * FROM connections WHERE id = :id", {"id": connection_id}))
        return _to_connection(rows[0]) if rows else None

    def transition(
        self,
        connection_id: str,
        *,
        expected: Iterable[ConnectionStatus],
        to: ConnectionStatus,
        now: datetime,
        org_id: str | None = None,
        app_kind: str | None = None,
        checklist: list[dict[str, Any]] | None = None,
        failure_code: Failure | None = None,
        failure_message: str | None = None,
    ) -> bool:
        """Move to `to` only if the current status is one of `expected`; True if this call moved it."""
        expected = list(expected)
        assignments = ["status = :to", "updated_at = :now"]
        values: dict[str, Any] = {"to": to, "now": to_db_time(now), "id": connection_id}
        for column, value in (
            ("org_id", org_id),
            ("app_kind", app_kind),
            ("checklist", None if checklist is None else json.dumps(checklist)),
            ("failure_code", failure_code),
            ("failure_message", failure_message),
        ):
            if value is not None:
                assignments.append(f"{column} = :{column}")
                values[column] = value
        if to != "awaiting_confirmation":
            assignments.append("held_authorization_enc = NULL")  # held tokens never outlive the wait
        if to in FINAL_STATUSES:
            assignments.append("finished_at = :now")
        statuses, status_values = in_list("expected", expected)
        cursor = self._db.execute(
            f"UPDATE connections SET {', '.join(assignments)} WHERE id = :id AND status IN ({statuses})",
            values | status_values,
        )
        return cursor.rowcount == 1

    def latest_for_org(
        self, *, team_id: str, org_id: str, status: ConnectionStatus | None = None
    ) -> Connection | None:
        """The most recent journey that reached this org (with `status`, when given)."""
        params = {"team": team_id, "org": org_id} | ({} if status is None else {"status": status})
        status_clause = "" if status is None else " AND status = :status"
        rows = list(self._db.query(
            f"SELECT * FROM connections WHERE team_id = :team AND org_id = :org{status_clause}"
            " ORDER BY created_at DESC, id DESC LIMIT 1", params))
        return _to_connection(rows[0]) if rows else None

    def hold_for_confirmation(
        self, connection_id: str, *, org_id: str, held: Secret, confirm_by: datetime, now: datetime
    ) -> bool:
        """Move a `pending_auth` journey to `awaiting_confirmation`, keeping the authorization it received
        (tokens included) encrypted until the requester decides; False if it had moved on."""
        cursor = self._db.execute(
            "UPDATE connections SET status = 'awaiting_confirmation', org_id = :org_id, held_authorization_enc = :held,"
            " confirm_by = :confirm_by, updated_at = :now WHERE id = :id AND status = 'pending_auth'",
            {"org_id": org_id, "held": self._box.encrypt(held), "confirm_by": to_db_time(confirm_by),
             "now": to_db_time(now), "id": connection_id},
        )
        return cursor.rowcount == 1

    def held_authorization(self, connection_id: str) -> Secret | None:
        row = self._db.execute("SELECT held_authorization_enc FROM connections WHERE id = :id",
                               {"id": connection_id}).fetchone()
        return self._box.decrypt_optional(row[0]) if row else None

    def confirmation_lapsed(self, *, now: datetime) -> list[Connection]:
        """Journeys whose requester did not confirm in time."""
        rows = self._db.query(
            "SELECT * FROM connections WHERE status = 'awaiting_confirmation' AND confirm_by <= :now"
            " ORDER BY confirm_by, id",
            {"now": to_db_time(now)},
        )
        return [_to_connection(row) for row in rows]

    def touch(self, connection_id: str, *, now: datetime) -> None:
        """Record progress that does not change the status (the age sweeps look at `updated_at`)."""
        self._db.execute("UPDATE connections SET updated_at = :now WHERE id = :id",
                         {"now": to_db_time(now), "id": connection_id})

    def set_pending_deploy(self, connection_id: str, *, deploy_id: str | None) -> None:
        """Remember the deploy in flight, so a restarted process waits for it instead of deploying again."""
        self._db.execute("UPDATE connections SET pending_deploy_id = :deploy_id WHERE id = :id",
                         {"deploy_id": deploy_id, "id": connection_id})

    def count_resume(self, connection_id: str) -> int:
        """Record that a restarted process picked the journey up again; return how often that happened."""
        [(resumes,)] = self._db.execute("UPDATE connections SET resumes = resumes + 1 WHERE id = :id RETURNING resumes",
                                        {"id": connection_id}).fetchall()
        return int(resumes)

    def start_proof(
        self, connection_id: str, *, status: ProofStatus, now: datetime, status_view: dict[str, Any],
        problem: str | None = None,
    ) -> None:
        """Record that the live sign-in begins now (`proving`), or why it cannot run (`not_run`)."""
        self._db.execute(
            "UPDATE connections SET proof_status = :status, proof_started_at = :now, proof_attempts = 0,"
            " proof_problem = :problem, proof_detail = NULL, status_view = :status_view WHERE id = :id",
            {"status": status, "now": to_db_time(now), "problem": problem,
             "status_view": json.dumps(status_view, sort_keys=True), "id": connection_id},
        )

    def count_proof_attempt(self, connection_id: str) -> None:
        self._db.execute("UPDATE connections SET proof_attempts = proof_attempts + 1 WHERE id = :id",
                         {"id": connection_id})

    def finish_proof(
        self, connection_id: str, *, status: ProofStatus, problem: str | None, detail: str | None
    ) -> bool:
        """End a proof that is still `proving`; True if this call ended it (a racing worker's call is refused)."""
        return self._db.execute(
            "UPDATE connections SET proof_status = :status, proof_problem = :problem, proof_detail = :detail"
            " WHERE id = :id AND proof_status = 'proving'",
            {"status": status, "problem": problem, "detail": detail, "id": connection_id},
        ).rowcount == 1

    def adoptable(self, *, now: datetime, reclaiming: str | None = None) -> list[Connection]:
        """Journeys under way (authorized, provisioning, or proving the sign-in) that no live process holds the
        lease of: their process died, or they were never picked up; with `reclaiming` (a claim id), also those
        whose lease that holder has (its previous process, before a restart). Oldest first."""
        rows = self._db.query(
            "SELECT connections.* FROM connections LEFT JOIN leases ON leases.name = :prefix || connections.id"
            " WHERE (connections.status IN ('authorized', 'provisioning') OR connections.proof_status = 'proving')"
            " AND (leases.name IS NULL OR leases.expires_at <= :now OR leases.holder = :reclaiming)"
            " ORDER BY connections.created_at, connections.id",
            {"prefix": leases.JOURNEY, "now": to_db_time(now), "reclaiming": reclaiming},
        )
        return [_to_connection(row) for row in rows]

    def pending_auth_since(self, *, before: datetime) -> list[Connection]:
        """Journeys still waiting for Salesforce's answer whose last change is older than `before`."""
        rows = self._db.query(
            "SELECT * FROM connections WHERE status = 'pending_auth' AND updated_at < :before ORDER BY updated_at, id",
            {"before": to_db_time(before)},
        )
        return [_to_connection(row) for row in rows]


def _to_connection(record: dict[str, Any]) -> Connection:
    return Connection(
        id=record["id"],
        team_id=record["team_id"],
        enterprise_id=record["enterprise_id"],
        user_id=record["user_id"],
        channel_id=record["channel_id"],
        environment=record["environment"],
        login_url=record["login_url"],
        run_as=record["run_as"],
        status=record["status"],
        failure_code=Failure.stored(record["failure_code"]),
        failure_message=record["failure_message"],
        org_id=record["org_id"],
        app_kind=record["app_kind"],
        checklist=None if record["checklist"] is None else json.loads(record["checklist"]),
        created_at=from_db_time(record["created_at"]),
        updated_at=from_db_time(record["updated_at"]),
        finished_at=from_db_time_optional(record["finished_at"]),
        pending_deploy_id=record["pending_deploy_id"],
        resumes=record["resumes"],
        proof_status=record["proof_status"],
        proof_started_at=from_db_time_optional(record["proof_started_at"]),
        proof_attempts=record["proof_attempts"],
        proof_problem=record["proof_problem"],
        proof_detail=record["proof_detail"],
        status_view=None if record["status_view"] is None else json.loads(record["status_view"]),
        confirm_by=from_db_time_optional(record["confirm_by"]),
    )
