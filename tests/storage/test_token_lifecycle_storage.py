"""Storage for SPEC §4: the 0002 migration, the read-only store of dry runs, and outbox claims."""

import sqlite3
from datetime import timedelta

import pytest
import sqlite_utils
from sqlalchemy.exc import DatabaseError

from storage.database import DatabaseNotReady, Store, sqlite_url
from storage.migrations.legacy_sqlite import MIGRATIONS

from .conftest import NOW


def test_the_migration_watches_every_org_connected_before_it(tmp_path):
    db = sqlite_utils.Database(sqlite3.connect(tmp_path / "old.db"))
    MIGRATIONS.apply(db, stop_before="0002_token_lifecycle")
    for org_id, status in (("00D000000000001AAA", "connected"), ("00D000000000002AAA", "disconnected")):
        db.execute(
            "INSERT INTO orgs (team_id, org_id, org_name, is_sandbox, instance_url, login_url, channel_id,"
            " connected_by, salesforce_user_id, salesforce_username, status, created_at, updated_at)"
            " VALUES ('T1', :org_id, 'Acme', 0, 'https://a', 'https://l', 'C1', 'U1', '005', 'a@b.c', :status,"
            " :created_at, :updated_at)",
            {"org_id": org_id, "status": status, "created_at": "2026-01-01T00:00:00.000000Z",
             "updated_at": "2026-01-02T00:00:00.000000Z"})
    MIGRATIONS.apply(db)
    assert db.execute("SELECT org_id, app_policy, next_sync_at FROM token_syncs").fetchall() == [
        ("00D000000000001AAA", None, "2026-01-02T00:00:00.000000Z")]
    db.close()


async def test_a_read_only_store_refuses_writes(database_url, secret_box, store, connection_id):
    await store.close()
    reader = Store(url=database_url, secret_box=secret_box, read_only=True)
    await reader.open()
    try:
        assert (await reader.run(lambda repos: repos.connections.get(connection_id))).id == connection_id
        with pytest.raises(DatabaseError, match=r"readonly|read-only"):
            await reader.run(lambda repos: repos.audit.append(at=NOW, team_id="T1", actor="U1", action="x",
                                                              outcome="y"))
    finally:
        await reader.close()


async def test_a_read_only_store_neither_creates_nor_migrates_a_database(tmp_path, secret_box):
    missing = Store(url=sqlite_url(tmp_path / "missing.db"), secret_box=secret_box, read_only=True)
    with pytest.raises(DatabaseNotReady, match="no database"):
        await missing.open()
    assert not (tmp_path / "missing.db").exists()

    db = sqlite_utils.Database(sqlite3.connect(tmp_path / "old.db"))
    MIGRATIONS.apply(db, stop_before="0002_token_lifecycle")
    db.close()
    old = Store(url=sqlite_url(tmp_path / "old.db"), secret_box=secret_box, read_only=True)
    with pytest.raises(DatabaseNotReady, match="needs migrating"):
        await old.open()


async def test_a_message_is_claimed_by_one_sender_only_and_an_orgs_warnings_can_be_cancelled(store):
    keys = ("expiry:T1:00DA:bot:1:7", "expiry:T1:00DA:bot:1:7:direct", "broken:T1:00DA:5", "disconnected:T1:00DA:n1",
            "expiry:T1:00DB:bot:1:7", "broken:T1:00DB:5", "status:c1")

    def queue(repos):
        for key in keys:
            repos.notifications.enqueue(dedupe_key=key, team_id="T1", channel_id="C1", payload={"text": key},
                                        now=NOW)
        return repos.notifications.get("status:c1").id

    status_id = await store.run(queue)
    claims = [await store.run(lambda repos, by=by: repos.notifications.claim(status_id, now=NOW,
                                                                             until=NOW + timedelta(minutes=2), by=by))
              for by in ("serve", "check-expiry")]
    assert claims == [True, False]
    assert await store.run(lambda repos: repos.notifications.claim(
        status_id, now=NOW + timedelta(minutes=3), until=NOW + timedelta(minutes=5), by="check-expiry")), (
        "a lapsed claim is retaken")

    cancelled = await store.run(lambda repos: repos.notifications.cancel_org_warnings(
        team_id="T1", org_id="00DA", reason="org disconnected"))
    assert cancelled == 3, "the org's expiry warning, its direct copy and its broken-token notice"
    states = await store.run(lambda repos: [(n.dedupe_key, n.status) for n in repos.notifications.claim_due(
        now=NOW + timedelta(hours=1), until=NOW + timedelta(hours=2), by="serve", limit=50)])
    assert states == [("disconnected:T1:00DA:n1", "pending"), ("expiry:T1:00DB:bot:1:7", "pending"),
                      ("broken:T1:00DB:5", "pending"), ("status:c1", "pending")]
    assert (await store.run(lambda repos: repos.notifications.get("broken:T1:00DA:5"))).last_error == "org disconnected"
