"""Drift alerts (storage.drift_alerts): one open drift per org and setting whoever opens it, a repair claims the
org's open drifts once, and only drifts that ended are pruned."""

from datetime import timedelta

from .conftest import NOW

DAY = timedelta(days=1)


def opened(repos, setting="PKCE required", digest="d1", *, at=NOW):
    return repos.drift_alerts.open(team_id="T1", org_id="00D1", setting=setting, observed_digest=digest,
                                   expected="no", observed="required", changed_by="Sam Setup", changed_at=at, now=at)


async def test_a_setting_has_one_open_drift_and_a_new_one_once_it_ended(store):
    first = await store.run(opened)
    assert first is not None and first.changed_by == "Sam Setup" and first.changed_at == NOW
    assert await store.run(lambda repos: opened(repos, digest="d2")) is None, "a racing check opens nothing"
    assert await store.run(lambda repos: opened(repos, "Callback URL")) is not None, "another setting is its own"
    assert await store.run(lambda repos: repos.drift_alerts.close(first.id, resolution="resolved", now=NOW))
    assert not await store.run(lambda repos: repos.drift_alerts.close(first.id, resolution="resolved", now=NOW))
    again = await store.run(opened)
    assert again is not None and again.id != first.id, "the same drift coming back is news again"


async def test_a_repair_claims_the_open_drifts_once_until_it_ends_or_goes_stale(store):
    await store.run(opened)

    def claim(repos, user, at):
        return repos.drift_alerts.start_repair(team_id="T1", org_id="00D1", user_id=user, now=at,
                                               stale_before=at - timedelta(minutes=30))

    [claimed] = await store.run(lambda repos: claim(repos, "U1", NOW))
    assert claimed.repair_by == "U1" and claimed.repair_started_at == NOW
    assert await store.run(lambda repos: claim(repos, "U2", NOW + timedelta(minutes=1))) == []
    [stale] = await store.run(lambda repos: claim(repos, "U2", NOW + timedelta(hours=1)))
    assert stale.repair_by == "U2"
    await store.run(lambda repos: repos.drift_alerts.end_repair(team_id="T1", org_id="00D1"))
    [released] = await store.run(lambda repos: repos.drift_alerts.open_for_org(team_id="T1", org_id="00D1"))
    assert (released.repair_by, released.repair_started_at) == (None, None)


async def test_pruning_keeps_open_drifts_and_those_ended_recently(store):
    old, still_open, recent = [await store.run(lambda repos, s=s: opened(repos, s, at=NOW - 40 * DAY))
                               for s in ("A", "B", "C")]
    await store.run(lambda repos: repos.drift_alerts.close(old.id, resolution="repaired", now=NOW - 35 * DAY))
    await store.run(lambda repos: repos.drift_alerts.close(recent.id, resolution="resolved", now=NOW - DAY))
    pruned = await store.run(lambda repos: repos.retention.prune(before=NOW - 30 * DAY))
    assert pruned.drift_alerts == 1
    left = await store.run(lambda repos: [repos.drift_alerts.get(a.id) for a in (old, still_open, recent)])
    assert [alert is not None for alert in left] == [False, True, True]
