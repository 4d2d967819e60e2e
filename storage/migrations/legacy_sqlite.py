"""The SQLite-only migrations qc-bot shipped before it ran on PostgreSQL too (sqlite-utils `Migrations`,
recorded in `_sqlite_migrations`), kept unchanged so that a SQLite database made by any earlier release is
brought to their last step, 0013, in place; the Alembic revision `0013` starts from exactly that schema (see
`storage.migrations`). Never add a migration here.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils
from sqlite_utils import Migrations

from storage.migrations.ddl import split_statements

MIGRATIONS = Migrations("qc-bot")
TABLE = "_sqlite_migrations"
"""Where sqlite-utils recorded the legacy migrations; dropped once the database is stamped with the baseline."""


def finish(path: str) -> None:
    """Apply what is left of the legacy history to the SQLite file at `path`, if it was made by it."""
    connection = sqlite3.connect(path, timeout=30)
    try:
        db = sqlite_utils.Database(connection)
        if db[TABLE].exists():
            MIGRATIONS.apply(db)
    finally:
        connection.close()


@MIGRATIONS(name="0001_connect_org")
def _connect_org(db: sqlite_utils.Database) -> None:
    _execute_all(
        db,
        """
        CREATE TABLE connections (
            id TEXT PRIMARY KEY,
            team_id TEXT NOT NULL,
            enterprise_id TEXT,
            user_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            environment TEXT NOT NULL CHECK (environment IN ('production', 'sandbox', 'my_domain')),
            login_url TEXT NOT NULL,
            run_as TEXT,
            status TEXT NOT NULL CHECK (
                status IN ('pending_auth', 'authorized', 'provisioning', 'provisioned', 'failed')),
            failure_code TEXT,
            failure_message TEXT,
            org_id TEXT,
            app_kind TEXT,
            checklist TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX connections_by_status ON connections (status, updated_at);
        CREATE INDEX connections_by_org ON connections (team_id, org_id);

        CREATE TABLE orgs (
            team_id TEXT NOT NULL,
            org_id TEXT NOT NULL,
            org_name TEXT NOT NULL,
            is_sandbox INTEGER NOT NULL,
            instance_url TEXT NOT NULL,
            login_url TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            connected_by TEXT NOT NULL,
            salesforce_user_id TEXT NOT NULL,
            salesforce_username TEXT NOT NULL,
            access_token_enc TEXT,
            refresh_token_enc TEXT,
            token_issued_at TEXT,
            app_kind TEXT,
            consumer_key_enc TEXT,
            consumer_secret_enc TEXT,
            status TEXT NOT NULL CHECK (status IN ('connected', 'broken', 'disconnected')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (team_id, org_id)
        );

        CREATE TABLE oauth_links (
            link_digest TEXT PRIMARY KEY,
            connection_id TEXT NOT NULL REFERENCES connections (id),
            expires_at TEXT NOT NULL,
            used_at TEXT
        );

        CREATE TABLE oauth_states (
            state_digest TEXT PRIMARY KEY,
            connection_id TEXT NOT NULL REFERENCES connections (id),
            code_verifier_enc TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        );

        CREATE TABLE reveals (
            id TEXT PRIMARY KEY,
            connection_id TEXT NOT NULL REFERENCES connections (id),
            team_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        );

        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY,
            dedupe_key TEXT NOT NULL UNIQUE,
            team_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            user_id TEXT,
            payload TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'undeliverable')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            message_ts TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX notifications_due ON notifications (status, next_attempt_at);

        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            team_id TEXT,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT,
            outcome TEXT NOT NULL,
            detail TEXT
        );
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        """,
    )


@MIGRATIONS(name="0002_token_lifecycle")
def _token_lifecycle(db: sqlite_utils.Database) -> None:
    # token_syncs: per org, which app's OauthToken rows to read, under which policy, and when to sync next
    # (NULL = paused, e.g. while the bot's own access is broken). tracked_tokens: one row per refresh token
    # watched (the bot's own per org; the QualityClouds app's newest per Salesforce user), with the moment
    # its next warning falls due, so an expiry scan is one range query on tracked_tokens_due.
    # notifications.claimed_until: a message being posted by one process (`serve` or `check-expiry`) is not
    # taken by another at the same time.
    _execute_all(
        db,
        """
        CREATE TABLE token_syncs (
            team_id TEXT NOT NULL,
            org_id TEXT NOT NULL,
            app_name TEXT,
            app_policy TEXT,
            next_sync_at TEXT,
            last_synced_at TEXT,
            last_error TEXT,
            PRIMARY KEY (team_id, org_id),
            FOREIGN KEY (team_id, org_id) REFERENCES orgs (team_id, org_id)
        );
        CREATE INDEX token_syncs_due ON token_syncs (next_sync_at) WHERE next_sync_at IS NOT NULL;

        CREATE TABLE tracked_tokens (
            token_key TEXT PRIMARY KEY,
            team_id TEXT NOT NULL,
            org_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('bot', 'app')),
            app_name TEXT NOT NULL,
            salesforce_user_id TEXT,
            salesforce_username TEXT,
            policy TEXT NOT NULL,
            issued_at TEXT NOT NULL,
            last_used_at TEXT,
            expires_at TEXT,
            warned_days INTEGER,
            next_warning_at TEXT,
            synced_at TEXT NOT NULL,
            FOREIGN KEY (team_id, org_id) REFERENCES orgs (team_id, org_id)
        );
        CREATE INDEX tracked_tokens_due ON tracked_tokens (next_warning_at, token_key)
            WHERE next_warning_at IS NOT NULL;
        CREATE INDEX tracked_tokens_by_org ON tracked_tokens (team_id, org_id);

        INSERT INTO token_syncs (team_id, org_id, next_sync_at)
            SELECT team_id, org_id, updated_at FROM orgs WHERE status = 'connected';

        ALTER TABLE notifications ADD COLUMN claimed_until TEXT;
        """,
    )


@MIGRATIONS(name="0003_installations")
def _installations(db: sqlite_utils.Database) -> None:
    """Multi-workspace mode: one bot installation per Slack workspace, and the OAuth `state` of installs."""
    _execute_all(
        db,
        """
        CREATE TABLE slack_installations (
            enterprise_id TEXT NOT NULL DEFAULT '',
            team_id TEXT NOT NULL DEFAULT '',
            team_name TEXT,
            enterprise_name TEXT,
            is_enterprise_install INTEGER NOT NULL,
            app_id TEXT,
            bot_id TEXT NOT NULL,
            bot_user_id TEXT NOT NULL,
            bot_scopes TEXT NOT NULL,
            bot_token_enc TEXT NOT NULL,
            bot_refresh_token_enc TEXT,
            bot_token_expires_at TEXT,
            installer_user_id TEXT,
            installed_at TEXT NOT NULL,
            PRIMARY KEY (enterprise_id, team_id)
        );

        CREATE TABLE slack_install_states (
            state_digest TEXT PRIMARY KEY,
            expires_at TEXT NOT NULL,
            used_at TEXT
        );
        """,
    )


@MIGRATIONS(name="0004_crash_safety")
def _crash_safety(db: sqlite_utils.Database) -> None:
    _execute_all(
        db,
        """
        ALTER TABLE connections ADD COLUMN pending_deploy_id TEXT;
        ALTER TABLE connections ADD COLUMN resumes INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE notifications ADD COLUMN fallback_user_id TEXT;
        """,
    )


@MIGRATIONS(name="0005_claim_owner")
def _claim_owner(db: sqlite_utils.Database) -> None:
    """Who holds a message's delivery claim, so a starting server releases only its own."""
    _execute_all(db, "ALTER TABLE notifications ADD COLUMN claimed_by TEXT;")


@MIGRATIONS(name="0006_live_proof")
def _live_proof(db: sqlite_utils.Database) -> None:
    """The live sign-in after provisioning, as fields of a provisioned connection (`proof_status`: NULL when
    no proof belongs to it, `proving`, `proved`, `failed`, `not_run`), the facts its status message is drawn
    from (re-drawn when the proof ends), and outbox rows that edit a delivered message (`update_of`) in the
    channel Slack posted it to (`message_channel`)."""
    _execute_all(
        db,
        """
        ALTER TABLE connections ADD COLUMN proof_status TEXT;
        ALTER TABLE connections ADD COLUMN proof_started_at TEXT;
        ALTER TABLE connections ADD COLUMN proof_attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE connections ADD COLUMN proof_problem TEXT;
        ALTER TABLE connections ADD COLUMN proof_detail TEXT;
        ALTER TABLE connections ADD COLUMN status_view TEXT;
        CREATE INDEX connections_by_proof ON connections (proof_status);
        ALTER TABLE notifications ADD COLUMN message_channel TEXT;
        ALTER TABLE notifications ADD COLUMN update_of TEXT;
        CREATE INDEX notifications_by_update_of ON notifications (update_of);
        """,
    )


@MIGRATIONS(name="0007_audit_exports")
def _audit_exports(db: sqlite_utils.Database) -> None:
    """The audit log's one way out (storage.audit.AuditLog.prune_exported): entries may be deleted only once an
    export of exactly them is recorded, and that record is itself append-only, so every deletion stays on file
    (which entries, how many, the digest of the file they went to). Updates stay refused without exception."""
    _execute_all(
        db,
        """
        CREATE TABLE audit_exports (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            exported_at TEXT NOT NULL,
            first_id INTEGER NOT NULL,
            last_id INTEGER NOT NULL,
            entries INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            destination TEXT NOT NULL,
            CHECK (first_id <= last_id)
        );
        CREATE TRIGGER audit_exports_complete BEFORE INSERT ON audit_exports
        WHEN NEW.entries != (SELECT COUNT(*) FROM audit_log WHERE id BETWEEN NEW.first_id AND NEW.last_id)
        BEGIN SELECT RAISE(ABORT, 'an audit export must name every entry of its range'); END;
        CREATE TRIGGER audit_exports_no_update BEFORE UPDATE ON audit_exports
        BEGIN SELECT RAISE(ABORT, 'audit_exports is append-only'); END;
        CREATE TRIGGER audit_exports_no_delete BEFORE DELETE ON audit_exports
        BEGIN SELECT RAISE(ABORT, 'audit_exports is append-only'); END;
        DROP TRIGGER audit_log_no_delete;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        WHEN NOT EXISTS (SELECT 1 FROM audit_exports WHERE OLD.id BETWEEN first_id AND last_id)
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        """,
    )


@MIGRATIONS(name="0008_temporary_org_changes")
def _temporary_org_changes(db: sqlite_utils.Database) -> None:
    """The journal of what qc-bot turns on in an org only for reading an app's credentials: written before the
    change, so a restarted process knows what to restore."""
    _execute_all(
        db,
        """
        CREATE TABLE temporary_org_changes (
            id INTEGER PRIMARY KEY,
            connection_id TEXT NOT NULL,
            team_id TEXT NOT NULL,
            org_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('org_setting', 'permission_set')),
            name TEXT NOT NULL,
            old_value TEXT,
            state TEXT NOT NULL CHECK (state IN ('pending', 'restored', 'left')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX temporary_org_changes_by_connection ON temporary_org_changes (connection_id, state);
        """,
    )


@MIGRATIONS(name="0009_requester_confirmation")
def _requester_confirmation(db: sqlite_utils.Database) -> None:
    """A journey may wait for its requester to confirm in Slack who authorized which org (SPEC §6), holding
    that authorization's tokens encrypted until then.

    SQLite cannot alter a CHECK constraint, and rebuilding `connections` is refused while the tables that
    reference it keep their foreign keys (the migration runs in a transaction, where `foreign_keys` cannot be
    switched off). So the constraint's text is rewritten in place, the procedure SQLite documents for changes
    that leave the stored rows valid (https://sqlite.org/lang_altertable.html, "otheralter"): every row that
    satisfied the old CHECK satisfies the new one.
    """
    _execute_all(
        db,
        """
        ALTER TABLE connections ADD COLUMN held_authorization_enc TEXT;
        ALTER TABLE connections ADD COLUMN confirm_by TEXT;
        """,
    )
    version = db.execute("PRAGMA schema_version").fetchone()[0]
    db.execute("PRAGMA writable_schema = ON")
    db.execute(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = 'connections'",
        ["'provisioned', 'failed')", "'provisioned', 'failed', 'awaiting_confirmation')"],
    )
    db.execute(f"PRAGMA schema_version = {int(version) + 1}")
    db.execute("PRAGMA writable_schema = OFF")



@MIGRATIONS(name="0010_org_checks")
def _org_checks(db: sqlite_utils.Database) -> None:
    """A claim per org on its periodic check, so `serve` and `check-expiry` never refresh the same rotating
    token at once; and the last outcome of the repeated live sign-in, so a failure and its recovery are each
    announced once. `sign_in_episode` counts failures: each one's announcement and resolution have keys of
    their own."""
    _execute_all(
        db,
        """
        ALTER TABLE token_syncs ADD COLUMN claimed_by TEXT;
        ALTER TABLE token_syncs ADD COLUMN claimed_until TEXT;
        ALTER TABLE orgs ADD COLUMN sign_in_status TEXT CHECK (sign_in_status IN ('ok', 'failing'));
        ALTER TABLE orgs ADD COLUMN sign_in_problem TEXT;
        ALTER TABLE orgs ADD COLUMN sign_in_detail TEXT;
        ALTER TABLE orgs ADD COLUMN sign_in_checked_at TEXT;
        ALTER TABLE orgs ADD COLUMN sign_in_episode INTEGER NOT NULL DEFAULT 0;
        """,
    )



@MIGRATIONS(name="0011_drift_alerts")
def _drift_alerts(db: sqlite_utils.Database) -> None:
    """Drift of a provisioned app from SPEC §2 (§4a), one row per distinct drift: an org, a setting and the value
    the org has. At most one open row per org and setting (the partial unique index), so two checks racing, or a
    check repeated after a restart, find the drift already announced; a drift that comes back after it was
    resolved is a new row, announced again."""
    _execute_all(
        db,
        """
        CREATE TABLE drift_alerts (
            id INTEGER PRIMARY KEY,
            team_id TEXT NOT NULL,
            org_id TEXT NOT NULL,
            setting TEXT NOT NULL,
            observed_digest TEXT NOT NULL,
            expected TEXT NOT NULL,
            observed TEXT NOT NULL,
            changed_by TEXT,
            changed_at TEXT,
            opened_at TEXT NOT NULL,
            repair_by TEXT,
            repair_started_at TEXT,
            resolved_at TEXT,
            resolution TEXT CHECK (resolution IN ('resolved', 'repaired', 'superseded'))
        );
        CREATE UNIQUE INDEX drift_alerts_open ON drift_alerts (team_id, org_id, setting) WHERE resolved_at IS NULL;
        """,
    )


@MIGRATIONS(name="0012_org_card")
def _org_card(db: sqlite_utils.Database) -> None:
    """One living card per org: the org points at the outbox message that is its card (Slack's ts for it is
    recorded there once posted), and a message may be a reply in such a card's thread, broadcast or not."""
    _execute_all(
        db,
        """
        ALTER TABLE orgs ADD COLUMN card_key TEXT;
        ALTER TABLE notifications ADD COLUMN thread_of TEXT;
        ALTER TABLE notifications ADD COLUMN broadcast INTEGER NOT NULL DEFAULT 0;
        """,
    )


@MIGRATIONS(name="0013_rotations")
def _rotations(db: sqlite_utils.Database) -> None:
    """`/qc rotate-secret` (SPEC §4b): one row per rotation of an org's External Client App credentials, moved
    step by step (started → staging → staged → revealed → promoted → proven → retired, or failed) so a process
    that dies mid-rotation resumes it without staging twice. The new key and secret are stored encrypted the
    moment Salesforce hands them out, before anything is shown. At most one rotation per org is under way.
    A reveal grant may belong to a rotation instead of a journey (it still names the org's journey)."""
    _execute_all(
        db,
        """
        CREATE TABLE rotations (
            id TEXT PRIMARY KEY,
            team_id TEXT NOT NULL,
            org_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            connection_id TEXT NOT NULL,
            incident INTEGER NOT NULL DEFAULT 0,
            step TEXT NOT NULL CHECK (step IN ('started', 'staging', 'staged', 'revealed', 'promoted', 'proven',
                                               'retired', 'failed')),
            staged_url TEXT,
            new_key_enc TEXT,
            new_secret_enc TEXT,
            old_key_enc TEXT,
            old_valid_until TEXT,
            proof_problem TEXT,
            failure TEXT,
            failure_detail TEXT,
            resumes INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX rotations_one_under_way ON rotations (team_id, org_id)
            WHERE step IN ('started', 'staging', 'staged', 'revealed', 'promoted');
        ALTER TABLE reveals ADD COLUMN rotation_id TEXT REFERENCES rotations (id);
        """,
    )

def _execute_all(db: sqlite_utils.Database, script: str) -> None:
    """Run each statement of `script` inside the migration's transaction.

    `executescript` would commit first, so a failed migration could leave half a schema behind.
    """
    for statement in split_statements(script):
        db.execute(statement)
