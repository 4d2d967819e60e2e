"""`qc-bot doctor`'s look at the stored secrets reads a database of any schema version, without migrating it."""

import sqlite3
from contextlib import closing

import sqlite_utils

from bot.redaction import Secret
from storage.key_rotation import check_stored_secrets
from storage.migrations.legacy_sqlite import MIGRATIONS


def test_a_database_from_before_held_authorizations_is_checked_not_refused(tmp_path, secret_box):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    MIGRATIONS.apply(sqlite_utils.Database(old), stop_before="0009_requester_confirmation")
    old.execute("INSERT INTO oauth_states (state_digest, connection_id, code_verifier_enc, expires_at)"
                " VALUES ('d', 'c0', :verifier, '2026-01-01T00:00:00.000000Z')",
                {"verifier": secret_box.encrypt(Secret("verifier-0123456789abcdef"))})
    old.commit()
    old.close()

    checked = check_stored_secrets(path, secret_box)
    assert (checked.stored, checked.undecryptable) == (1, 0)
    with closing(sqlite3.connect(path)) as after:  # the doctor migrated nothing
        assert "held_authorization_enc" not in {row[1] for row in after.execute("PRAGMA table_info(connections)")}
