"""The schema as the SQLite-only migrations 0001–0013 left it, for both engines.

A SQLite database made by an earlier release is brought to that point by `storage.migrations.legacy_sqlite` and
stamped with this revision; a new database, SQLite or PostgreSQL, is created by it.

Types are chosen to mean the same on both engines: timestamps are ISO-8601 TEXT in UTC (they compare as strings),
flags are INTEGER 0/1. Columns ending in `_enc` hold Fernet tokens (storage.crypto); `*_digest` columns hold
SHA-256 of one-time tokens. Nothing else in the schema may hold a secret.
"""

from __future__ import annotations

from storage.migrations.ddl import execute_script

revision = "0013"
down_revision = None

TABLES = """
CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL,
    enterprise_id TEXT,
    user_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    environment TEXT NOT NULL CHECK (environment IN ('production', 'sandbox', 'my_domain')),
    login_url TEXT NOT NULL,
    run_as TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending_auth', 'authorized', 'provisioning', 'provisioned', 'failed',
                                           'awaiting_confirmation')),
    failure_code TEXT,
    failure_message TEXT,
    org_id TEXT,
    app_kind TEXT,
    checklist TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT,
    pending_deploy_id TEXT,
    resumes INTEGER NOT NULL DEFAULT 0,
    proof_status TEXT,
    proof_started_at TEXT,
    proof_attempts INTEGER NOT NULL DEFAULT 0,
    proof_problem TEXT,
    proof_detail TEXT,
    status_view TEXT,
    held_authorization_enc TEXT,
    confirm_by TEXT
);
CREATE INDEX connections_by_status ON connections (status, updated_at);
CREATE INDEX connections_by_org ON connections (team_id, org_id);
CREATE INDEX connections_by_proof ON connections (proof_status);

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
    sign_in_status TEXT CHECK (sign_in_status IN ('ok', 'failing')),
    sign_in_problem TEXT,
    sign_in_detail TEXT,
    sign_in_checked_at TEXT,
    sign_in_episode INTEGER NOT NULL DEFAULT 0,
    card_key TEXT,
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

CREATE TABLE rotations (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    incident INTEGER NOT NULL DEFAULT 0,
    step TEXT NOT NULL CHECK (step IN ('started', 'staging', 'staged', 'revealed', 'promoted', 'proven', 'retired',
                                       'failed')),
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

CREATE TABLE reveals (
    id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections (id),
    team_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    rotation_id TEXT REFERENCES rotations (id)
);

CREATE TABLE notifications (
    id {row_id},
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
    sent_at TEXT,
    claimed_until TEXT,
    fallback_user_id TEXT,
    claimed_by TEXT,
    message_channel TEXT,
    update_of TEXT,
    thread_of TEXT,
    broadcast INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_by_update_of ON notifications (update_of);

CREATE TABLE audit_log (
    id {never_reused_id},
    at TEXT NOT NULL,
    team_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    detail TEXT
);

CREATE TABLE audit_exports (
    id {never_reused_id},
    exported_at TEXT NOT NULL,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    destination TEXT NOT NULL,
    CHECK (first_id <= last_id)
);

CREATE TABLE token_syncs (
    team_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    app_name TEXT,
    app_policy TEXT,
    next_sync_at TEXT,
    last_synced_at TEXT,
    last_error TEXT,
    claimed_by TEXT,
    claimed_until TEXT,
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
CREATE INDEX tracked_tokens_due ON tracked_tokens (next_warning_at, token_key) WHERE next_warning_at IS NOT NULL;
CREATE INDEX tracked_tokens_by_org ON tracked_tokens (team_id, org_id);

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

CREATE TABLE temporary_org_changes (
    id {row_id},
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

CREATE TABLE drift_alerts (
    id {row_id},
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
"""

# The audit log is append-only, enforced by the database itself (SPEC §6): an entry may only be deleted once an
# export that names its whole range was recorded, and the exports themselves can never change.
SQLITE_AUDIT_GUARDS = """
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_exports WHERE OLD.id BETWEEN first_id AND last_id)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_exports_complete BEFORE INSERT ON audit_exports
WHEN NEW.entries != (SELECT COUNT(*) FROM audit_log WHERE id BETWEEN NEW.first_id AND NEW.last_id)
BEGIN SELECT RAISE(ABORT, 'an audit export must name every entry of its range'); END;
CREATE TRIGGER audit_exports_no_update BEFORE UPDATE ON audit_exports
BEGIN SELECT RAISE(ABORT, 'audit_exports is append-only'); END;
CREATE TRIGGER audit_exports_no_delete BEFORE DELETE ON audit_exports
BEGIN SELECT RAISE(ABORT, 'audit_exports is append-only'); END;
"""

# The same guards in PL/pgSQL; TRUNCATE skips row triggers, so it is refused by a statement trigger.
POSTGRESQL_AUDIT_GUARDS = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_exports WHERE OLD.id BETWEEN first_id AND last_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE FUNCTION audit_exports_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.entries != (SELECT COUNT(*) FROM audit_log WHERE id BETWEEN NEW.first_id AND NEW.last_id) THEN
            RAISE EXCEPTION 'an audit export must name every entry of its range';
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_exports is append-only';
END $$;
CREATE TRIGGER audit_exports_append_only BEFORE INSERT OR UPDATE OR DELETE ON audit_exports
FOR EACH ROW EXECUTE FUNCTION audit_exports_append_only();
CREATE TRIGGER audit_exports_no_truncate BEFORE TRUNCATE ON audit_exports
FOR EACH STATEMENT EXECUTE FUNCTION audit_exports_append_only();
"""


def upgrade() -> None:
    execute_script(TABLES)
    execute_script(SQLITE_AUDIT_GUARDS, only="sqlite")
    execute_script(POSTGRESQL_AUDIT_GUARDS, only="postgresql")
