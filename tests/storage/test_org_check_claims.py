"""The per-org claims of the periodic check (storage.tracked_tokens): what keeps `qc-bot serve` and `qc-bot
check-expiry` from checking (and refreshing the token of) one org at the same moment."""

import asyncio
from datetime import timedelta

from bot.redaction import Secret
from storage.database import Store
from tests.storage.conftest import NOW

LEASE = timedelta(minutes=15)


async def watch(store, *orgs):
    def add(repos):
        for org in orgs:
            repos.orgs.save_authorization(
                team_id="T1", org_id=org, org_name=f"Org {org}", is_sandbox=False,
                instance_url="https://acme.my.salesforce.com", login_url="https://login.salesforce.com",
                channel_id="C1", connected_by="U1", salesforce_user_id="005A", salesforce_username="a@acme.com",
                access_token=Secret("00DA!access"), refresh_token=Secret("5Aep-refresh"), issued_at=NOW, now=NOW)
            repos.tracked_tokens.watch_org(team_id="T1", org_id=org, now=NOW)
    await store.run(add)


async def test_an_org_claimed_by_one_process_is_skipped_by_another_until_released_or_lapsed(store):
    await watch(store, "00DA", "00DB")
    claimed = await store.run(lambda repos: repos.tracked_tokens.claim_due(now=NOW, limit=10, by="serve:1",
                                                                             until=NOW + LEASE), immediate=True)
    assert sorted(sync.org_id for sync in claimed) == ["00DA", "00DB"]
    assert await store.run(lambda repos: repos.tracked_tokens.claim_due(
        now=NOW, limit=10, by="check-expiry:2", until=NOW + LEASE), immediate=True) == []
    assert await store.run(lambda repos: repos.tracked_tokens.claim(
        team_id="T1", org_id="00DA", now=NOW, by="check-expiry:2", until=NOW + LEASE)) is None

    await store.run(lambda repos: repos.tracked_tokens.release(team_id="T1", org_id="00DA", by="check-expiry:2"))
    assert await store.run(lambda repos: repos.tracked_tokens.claim(
        team_id="T1", org_id="00DA", now=NOW, by="check-expiry:2", until=NOW + LEASE)) is None, (
        "only the holder releases its claim")
    await store.run(lambda repos: repos.tracked_tokens.release(team_id="T1", org_id="00DA", by="serve:1"))
    taken = await store.run(lambda repos: repos.tracked_tokens.claim(
        team_id="T1", org_id="00DA", now=NOW, by="check-expiry:2", until=NOW + LEASE))
    assert taken is not None and taken.org_id == "00DA"

    # A process that died mid-check holds its claim only until the lease ends.
    later = NOW + LEASE
    assert (await store.run(lambda repos: repos.tracked_tokens.claim(
        team_id="T1", org_id="00DB", now=later, by="check-expiry:2", until=later + LEASE))) is not None


async def test_two_processes_claiming_at_once_share_the_orgs_without_overlap(database_url, secret_box):
    stores = [Store(url=database_url, secret_box=secret_box) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        await watch(stores[0], *(f"00D{index:03d}" for index in range(100)))
        batches = await asyncio.gather(*(
            store.run(lambda repos, name=name: repos.tracked_tokens.claim_due(
                now=NOW, limit=100, by=name, until=NOW + LEASE), immediate=True)
            for store, name in zip(stores, ("serve:1", "check-expiry:2"), strict=True)))
        claimed = [sync.org_id for batch in batches for sync in batch]
        assert sorted(claimed) == sorted(f"00D{index:03d}" for index in range(100)), "each org once, by one"
    finally:
        for store in stores:
            await store.close()


async def test_a_failed_sync_keeps_the_time_of_the_last_one_that_worked(store):
    await watch(store, "00DA")

    def record(at, error):
        return lambda repos: repos.tracked_tokens.record_sync(team_id="T1", org_id="00DA", next_sync_at=at + LEASE,
                                                              now=at, error=error)

    def sync_of(repos):
        return repos.tracked_tokens.sync_of(team_id="T1", org_id="00DA")

    await store.run(record(NOW, None))
    await store.run(record(NOW + LEASE, "token_read_failed"))
    failed = await store.run(sync_of)
    assert (failed.last_synced_at, failed.last_error, failed.next_sync_at) == (
        NOW, "token_read_failed", NOW + 2 * LEASE)
    await store.run(record(NOW + 2 * LEASE, None))
    recovered = await store.run(sync_of)
    assert (recovered.last_synced_at, recovered.last_error) == (NOW + 2 * LEASE, None)
