import asyncio
import sqlite3

import pytest
import sqlite_utils
from sqlalchemy.exc import DatabaseError

from bot.redaction import Secret
from storage import migrations
from storage.database import Store, sqlite_url
from storage.migrations.legacy_sqlite import MIGRATIONS

from .conftest import NOW


@pytest.mark.sqlite_only(reason="SQLite's journal mode")
async def test_database_uses_wal_and_applies_every_migration(tmp_path, store):
    path = tmp_path / "qc-bot.db"
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        applied = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    finally:
        connection.close()
    assert applied == [(migrations.head(),)]
    assert await store.schema_is_current()


async def test_reopening_applies_nothing_twice(database_url, secret_box, store):
    await store.run(lambda repos: repos.audit.append(at=NOW, team_id="T1", actor="U1", action="a", outcome="ok"))
    await store.close()
    again = Store(url=database_url, secret_box=secret_box)
    await again.open()
    versions = await again.run(lambda repos: repos.db.execute("SELECT version_num FROM alembic_version").fetchall())
    entries = await again.run(lambda repos: repos.audit.entries(team_id="T1"))
    await again.close()
    assert versions == [(migrations.head(),)] and len(entries) == 1


async def test_a_failing_operation_rolls_back_the_whole_transaction(store, connection_id):
    def half_then_fail(repos):
        repos.connections.transition(connection_id, expected=["pending_auth"], to="authorized", now=NOW)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.run(half_then_fail)
    connection = await store.run(lambda repos: repos.connections.get(connection_id))
    assert connection.status == "pending_auth"


async def test_ping_answers_while_the_database_is_open(store):
    await store.ping()
    await store.close()
    with pytest.raises(RuntimeError, match="has not been awaited"):
        await store.ping()


async def test_audit_log_is_append_only(store):
    await store.run(lambda repos: repos.audit.append(at=NOW, team_id="T1", actor="U1", action="connect_requested",
                                                     outcome="link_issued"))
    with pytest.raises(DatabaseError, match="append-only"):
        await store.run(lambda repos: repos.db.execute("UPDATE audit_log SET outcome = 'x'"))
    with pytest.raises(DatabaseError, match="append-only"):
        await store.run(lambda repos: repos.db.execute("DELETE FROM audit_log"))
    entries = await store.run(lambda repos: repos.audit.entries(team_id="T1"))
    assert [entry["outcome"] for entry in entries] == ["link_issued"]


async def test_database_and_its_wal_are_owner_only_under_a_permissive_umask(tmp_path, secret_box, umask_022):
    path = tmp_path / "qc-bot.db"
    store = Store(url=sqlite_url(path), secret_box=secret_box)
    await store.open()
    await store.run(lambda repos: repos.audit.append(at=NOW, team_id="T1", actor="U1", action="a", outcome="ok"))
    files = [path, tmp_path / "qc-bot.db-wal", tmp_path / "qc-bot.db-shm"]
    assert {file.name: oct(file.stat().st_mode & 0o777) for file in files} == {
        file.name: "0o600" for file in files}
    await store.close()


@pytest.mark.sqlite_only(reason="the permissions of SQLite's file")
async def test_opening_narrows_a_database_written_with_wider_permissions(tmp_path, secret_box, store):
    await store.close()
    path = tmp_path / "qc-bot.db"
    path.chmod(0o644)
    again = Store(url=sqlite_url(path), secret_box=secret_box)
    await again.open()
    await again.close()
    assert path.stat().st_mode & 0o777 == 0o600


async def test_a_database_from_before_the_confirmation_step_is_upgraded_with_its_journeys(tmp_path, secret_box):
    """0009 rewrites the CHECK of `connections.status` in place; rows and the references to them survive."""
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("PRAGMA foreign_keys = ON")
    MIGRATIONS.apply(sqlite_utils.Database(old), stop_before="0009_requester_confirmation")
    old.execute("INSERT INTO connections (id, team_id, user_id, channel_id, environment, login_url, status, "
                "created_at, updated_at) VALUES ('c0', 'T1', 'U1', 'C1', 'production', 'https://x', 'failed', "
                "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')")
    old.execute("INSERT INTO oauth_links VALUES ('d', 'c0', '2026-01-01', NULL)")
    old.commit()
    with pytest.raises(sqlite3.IntegrityError):
        old.execute("UPDATE connections SET status = 'awaiting_confirmation'")
    old.close()

    store = Store(url=sqlite_url(path), secret_box=secret_box)
    await store.open()
    try:
        def hold(repos):
            repos.connections.create(connection_id="c1", team_id="T1", enterprise_id=None, user_id="U1",
                                     channel_id="C1", environment="production", login_url="https://x",
                                     run_as=None, now=NOW)
            return repos.connections.hold_for_confirmation("c1", org_id="00D", held=Secret("held-refresh-token-5f2a"),
                                                           confirm_by=NOW, now=NOW)

        assert await store.run(hold) is True
        c0 = await store.run(lambda repos: repos.connections.get("c0"))
        held = await store.run(lambda repos: repos.connections.held_authorization("c1"))
        check = await store.run(lambda repos: repos.db.execute("PRAGMA integrity_check").fetchone()[0])
        fk = await store.run(lambda repos: repos.db.execute("PRAGMA foreign_key_check").fetchall())
    finally:
        await store.close()
    assert c0.status == "failed" and held == Secret("held-refresh-token-5f2a") and check == "ok" and fk == []
    assert b"held-refresh-token-5f2a" not in b"".join(file.read_bytes() for file in tmp_path.glob("old.db*"))


async def test_replicas_starting_at_once_migrate_a_new_database_once(database_url, secret_box):
    """Each upgrade runs under the migration lock: the second store waits, then finds nothing to do."""
    stores = [Store(url=database_url, secret_box=secret_box) for _ in range(3)]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        versions = await stores[0].run(lambda repos: repos.db.execute("SELECT version_num FROM alembic_version")
                                       .fetchall())
        assert versions == [(migrations.head(),)]
        assert all([await store.schema_is_current() for store in stores])
    finally:
        for store in stores:
            await store.close()


async def test_a_failed_statement_names_no_value_bound_to_it(store):
    """Error texts reach the logs: the statement may be named, the values bound to it (a token, say) never."""
    bound = "held-refresh-token-that-must-not-be-logged"
    with pytest.raises(DatabaseError) as failure:
        await store.run(lambda repos: repos.db.execute(
            "INSERT INTO audit_exports (exported_at, first_id, last_id, entries, sha256, destination)"
            " VALUES (:at, 1, 1, 5, 'x', 'y')", {"at": bound}))
    assert "audit_exports" in str(failure.value) and bound not in str(failure.value)
