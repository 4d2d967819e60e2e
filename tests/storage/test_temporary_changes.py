"""The journal of temporary org changes: written before the change, pending until closed, per connection, and
still there for a process that opens the same database after a crash."""

from storage.database import Store

from .conftest import NOW


async def record(store, connection_id, kind, name, old_value):
    return await store.run(lambda repos: repos.temporary_changes.record(
        connection_id=connection_id, team_id="T1", org_id="00D000000000001", kind=kind, name=name,
        old_value=old_value, now=NOW))


async def test_changes_stay_pending_until_closed_and_survive_a_reopen(database_url, store, secret_box):
    setting = await record(store, "c1", "org_setting", "enableClientSecretInRestApiAccess", "false")
    permission_set = await record(store, "c1", "permission_set", "QC_Bot_Credential_Read_1", None)
    await record(store, "c2", "org_setting", "enableClientSecretInRestApiAccess", "false")
    await store.close()

    reopened = Store(url=database_url, secret_box=secret_box)
    await reopened.open()
    try:
        assert await reopened.run(lambda repos: repos.temporary_changes.pending("c1")) == [setting, permission_set]
        await reopened.run(lambda repos: repos.temporary_changes.close(permission_set.id, end="left", now=NOW))
        await reopened.run(lambda repos: repos.temporary_changes.close(setting.id, end="restored", now=NOW))
        # Closing twice changes nothing: the first end stands.
        await reopened.run(lambda repos: repos.temporary_changes.close(setting.id, end="left", now=NOW))
        assert await reopened.run(lambda repos: repos.temporary_changes.pending("c1")) == []
        assert [c.kind for c in await reopened.run(lambda repos: repos.temporary_changes.pending("c2"))] == [
            "org_setting"]
    finally:
        await reopened.close()
