"""The audit log's retention (storage.audit, bot.ops.retention.export_audit): entries leave only through an
export of exactly them, recorded for good; every other UPDATE or DELETE is refused by the schema."""

import json
from datetime import timedelta

import pytest
from sqlalchemy.exc import DatabaseError

from bot.clock import ManualClock
from bot.ops.retention import ExportNotWritten, export_audit

from .conftest import NOW

DAY = timedelta(days=1)


async def write_entries(store, *moments):
    def append(repos):
        for number, at in enumerate(moments):
            repos.audit.append(at=at, team_id="T1", actor=f"U{number}", action="connect", outcome="connected",
                               detail={"n": number})

    await store.run(append)


async def test_a_plain_delete_or_update_is_refused_before_and_after_an_export(store, tmp_path):
    await write_entries(store, NOW - 3 * DAY, NOW - 2 * DAY, NOW)
    for sql in ("DELETE FROM audit_log", "DELETE FROM audit_log WHERE id = 1", "UPDATE audit_log SET outcome = 'x'"):
        with pytest.raises(DatabaseError, match="append-only"):
            await store.run(lambda repos, sql=sql: repos.db.execute(sql))
    # A record that does not name every entry of its range opens nothing.
    with pytest.raises(DatabaseError, match="every entry of its range"):
        await store.run(lambda repos: repos.db.execute(
            "INSERT INTO audit_exports (exported_at, first_id, last_id, entries, sha256, destination)"
            " VALUES ('x', 1, 3, 1, 'x', 'x')"))

    await export_audit(store=store, clock=ManualClock(NOW), before=NOW - DAY, destination=tmp_path / "a.jsonl")
    for sql in ("DELETE FROM audit_log", "UPDATE audit_log SET outcome = 'x'", "DELETE FROM audit_exports",
                "UPDATE audit_exports SET entries = 0"):
        with pytest.raises(DatabaseError, match="append-only"):
            await store.run(lambda repos, sql=sql: repos.db.execute(sql))


async def test_export_then_prune_moves_exactly_the_entries_before_the_date(store, tmp_path):
    await write_entries(store, NOW - 40 * DAY, NOW - 35 * DAY, NOW - 31 * DAY, NOW - 2 * DAY)
    destination = tmp_path / "audit-2026.jsonl"
    export = await export_audit(store=store, clock=ManualClock(NOW), before=NOW - 30 * DAY, destination=destination)

    lines = [json.loads(line) for line in destination.read_text(encoding="utf-8").splitlines()]
    assert [(line["id"], line["actor"], line["detail"]) for line in lines] == [
        (1, "U0", {"n": 0}), (2, "U1", {"n": 1}), (3, "U2", {"n": 2})]
    assert destination.stat().st_mode & 0o777 == 0o600
    assert (export.exported.first_id, export.exported.last_id, export.exported.entries) == (1, 3, 3)

    left = await store.run(lambda repos: repos.audit.entries())
    assert [(entry["id"], entry["action"]) for entry in left] == [(4, "connect"), (5, "audit_exported")]
    assert left[1]["detail"]["entries"] == 3 and left[1]["actor"] == "operator"
    recorded = await store.run(lambda repos: repos.db.execute(
        "SELECT first_id, last_id, entries, sha256, destination FROM audit_exports").fetchall())
    assert recorded == [(1, 3, 3, export.sha256, str(destination.resolve()))]

    assert await export_audit(store=store, clock=ManualClock(NOW), before=NOW - 30 * DAY,
                              destination=tmp_path / "again.jsonl") is None
    assert not (tmp_path / "again.jsonl").exists()


async def test_an_existing_file_is_never_overwritten_and_nothing_is_deleted(store, tmp_path):
    await write_entries(store, NOW - 40 * DAY)
    destination = tmp_path / "taken.jsonl"
    destination.write_text("someone else's\n", encoding="utf-8")
    with pytest.raises(ExportNotWritten, match="cannot create"):
        await export_audit(store=store, clock=ManualClock(NOW), before=NOW, destination=destination)
    assert destination.read_text(encoding="utf-8") == "someone else's\n"
    assert len(await store.run(lambda repos: repos.audit.entries())) == 1
