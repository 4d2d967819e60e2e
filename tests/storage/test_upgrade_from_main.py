"""A SQLite database written by the last release before PostgreSQL support (main at 2aa5f82, which ran the
SQLite-only migrations 0001–0013) upgrades in place: every row of every table is kept byte for byte, the stored
secrets still decrypt, the schema becomes exactly a new database's, and the append-only audit log stays guarded.

The two files in `databases/` were left behind by main's own end-to-end tests (a drift repair, a rotation) with the
encryption key below, then compacted (`VACUUM`, rollback journal) so that each is one self-contained file.
"""

import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import DatabaseError

from bot.redaction import Secret
from storage import migrations
from storage.crypto import SecretBox
from storage.database import Store, sqlite_url
from storage.migrations.legacy_sqlite import TABLE as LEGACY_TABLE

DATABASES = Path(__file__).parent / "databases"
TEAM = "T000000001"
KEY = Secret("s8esBdOLcX1mCV4OTVblyhT3lV8HLeJGChXNUoX6ifw=")


def columns_by_table(path: Path, *, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    with sqlite3.connect(path) as connection:
        tables = [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            if name not in skip]
        return {table: sorted(row[1] for row in connection.execute(f'PRAGMA table_info("{table}")'))
                for table in tables}


def rows_by_table(path: Path, columns: dict[str, list[str]]) -> dict[str, list[tuple]]:
    """Every row of these tables, by these columns (later migrations may add tables and columns)."""
    with sqlite3.connect(path) as connection:
        return {table: sorted(connection.execute(f'SELECT {", ".join(names)} FROM "{table}"').fetchall(), key=repr)
                for table, names in columns.items()}


def schema(path: Path) -> dict[str, object]:
    with sqlite3.connect(path) as connection:
        tables = [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {
            "columns": {table: sorted((row[1], row[2].upper(), row[3], row[5]) for row in
                                      connection.execute(f'PRAGMA table_info("{table}")')) for table in tables},
            "indexes": sorted(name for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'")),
            "triggers": sorted(name for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'")),
        }


@pytest.fixture(params=["main-2aa5f82-drift.db", "main-2aa5f82-rotation.db"])
def database_from_main(request, tmp_path) -> Path:
    copy = tmp_path / "qc-bot.db"
    shutil.copyfile(DATABASES / request.param, copy)
    return copy


async def test_a_database_from_main_upgrades_in_place_with_nothing_lost(database_from_main, tmp_path):
    columns = columns_by_table(database_from_main, skip=(LEGACY_TABLE,))
    before = rows_by_table(database_from_main, columns)
    assert sum(map(len, before.values())) > 30 and before["orgs"] and before["notifications"]

    store = Store(url=sqlite_url(database_from_main), secret_box=SecretBox(keys=[KEY]))
    await store.open()
    try:
        assert await store.schema_is_current()
        orgs = await store.run(lambda repos: repos.orgs.for_team(team_id=TEAM))
        assert [org.org_name for org in orgs] == ["Acme Corp"]
        team_id, org_id = TEAM, orgs[0].org_id
        org = await store.run(lambda repos: repos.orgs.get(team_id=team_id, org_id=org_id))
        assert org is not None and org.refresh_token is not None and org.refresh_token.reveal()
        latest = await store.run(lambda repos: repos.connections.latest_for_org(team_id=team_id, org_id=org_id,
                                                                                       status="provisioned"))
        assert latest is not None and latest.status == "provisioned"
        with pytest.raises(DatabaseError, match="append-only"):
            await store.run(lambda repos: repos.db.execute("DELETE FROM audit_log"))
        await store.run(lambda repos: repos.audit.append(at=latest.updated_at, team_id=team_id, actor="U1",
                                                         action="upgraded", outcome="ok"))
    finally:
        await store.close()

    after = rows_by_table(database_from_main, columns)
    assert len(after["audit_log"]) == len(before["audit_log"]) + 1
    after["audit_log"] = [row for row in after["audit_log"] if "upgraded" not in row]
    assert after == before

    fresh = tmp_path / "fresh.db"
    new_store = Store(url=sqlite_url(fresh), secret_box=SecretBox(keys=[KEY]))
    await new_store.open()
    await new_store.close()
    assert schema(database_from_main) == schema(fresh)
    with sqlite3.connect(database_from_main) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrations.head(),)]
