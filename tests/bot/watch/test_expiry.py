"""The warning schedule of one token, and the scan over many (bot.watch.expiry) against a real database."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from bot.provisioning.settings import RefreshTokenPolicy
from bot.redaction import Secret
from bot.watch.expiry import (
    ExpiryScanner,
    TokenObservation,
    due_threshold,
    next_warning_at,
    stop_watching,
    thresholds_with_expiry,
    track,
    warning_schedule,
)
from storage.crypto import SecretBox
from storage.database import Store, sqlite_url
from storage.tracked_tokens import DUE_TOKENS_SQL

DAY = timedelta(days=1)
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
THRESHOLDS = thresholds_with_expiry((7, 30, 1))
LIFETIME_90 = RefreshTokenPolicy.parse("90d")
IDLE_30 = RefreshTokenPolicy.parse("idle:30d")


def test_thresholds_run_from_far_to_near_and_end_with_the_expiry():
    assert THRESHOLDS == (30, 7, 1, 0)


@pytest.mark.parametrize(
    ("as_of", "warned", "expected"),
    [
        (T0 + 59 * DAY, None, None),           # nothing crossed yet
        (T0 + 60 * DAY, None, 30),             # exactly at the 30-day mark
        (T0 + 85 * DAY, None, 7),              # first seen late: only the nearest of 30 and 7
        (T0 + 85 * DAY, 30, 7),
        (T0 + 85 * DAY, 7, None),              # already said
        (T0 + 95 * DAY, None, 0),              # after downtime: just "expired"
        (T0 + 95 * DAY, 0, None),
    ],
)
def test_the_due_threshold_is_the_nearest_crossed_and_not_yet_sent(as_of, warned, expected):
    assert due_threshold(thresholds=THRESHOLDS, expires_at=T0 + 90 * DAY, window_start=T0, warned_days=warned,
                         as_of=as_of) == expected


def test_the_next_warning_follows_what_was_sent():
    expires = T0 + 90 * DAY
    schedule = [next_warning_at(thresholds=THRESHOLDS, expires_at=expires, window_start=T0, warned_days=warned)
                for warned in (None, 30, 7, 1, 0)]
    assert schedule == [T0 + 60 * DAY, T0 + 83 * DAY, T0 + 89 * DAY, expires, None]
    assert next_warning_at(thresholds=THRESHOLDS, expires_at=None, window_start=T0, warned_days=None) is None


def test_thresholds_before_the_window_opened_do_not_count():
    # Under "idle:30d" a token is always within 30 days of expiry: a 30-day warning would fire at every use.
    expires = IDLE_30.expires_at(issued_at=T0, last_used_at=T0)
    assert next_warning_at(thresholds=THRESHOLDS, expires_at=expires, window_start=T0, warned_days=None) == \
        expires - 7 * DAY
    # A 1-day lifetime: only the expiry itself.
    short = T0 + DAY
    assert next_warning_at(thresholds=THRESHOLDS, expires_at=short, window_start=T0, warned_days=None) == short


def test_the_schedule_of_a_token_left_alone_lists_each_threshold_then_the_expiry():
    schedule = warning_schedule(policy=LIFETIME_90, issued_at=T0, last_used_at=None, warn_days=(30, 7, 1),
                                until=T0 + 90 * DAY)
    assert [(w.at - T0, w.days_before) for w in schedule] == [(60 * DAY, 30), (83 * DAY, 7), (89 * DAY, 1),
                                                              (90 * DAY, 0)]
    six_months = warning_schedule(policy=RefreshTokenPolicy.parse("6m"), issued_at=T0, last_used_at=None,
                                  warn_days=(30, 7, 1), until=T0 + 90 * DAY)
    assert six_months == []
    idle = warning_schedule(policy=RefreshTokenPolicy.parse("idle:10d"), issued_at=T0, last_used_at=None,
                            warn_days=(30, 7, 1), until=T0 + 90 * DAY)
    assert [w.days_before for w in idle] == [7, 1, 0]
    never = warning_schedule(policy=RefreshTokenPolicy.parse("never"), issued_at=T0, last_used_at=None,
                             warn_days=(30, 7, 1), until=T0 + 900 * DAY)
    assert never == []


def observation(*, policy=LIFETIME_90, issued_at=T0, last_used_at=None):
    return TokenObservation(key="T:00D:app:005", team_id="T", org_id="00D", kind="app", app_name="QualityClouds",
                            salesforce_user_id="005", salesforce_username="ada@acme.example", policy=policy,
                            issued_at=issued_at, last_used_at=last_used_at)


def test_tracking_keeps_what_was_sent_while_the_expiry_stands_and_starts_afresh_when_it_moves():
    first = track(observation(policy=IDLE_30, last_used_at=T0), previous=None, thresholds=THRESHOLDS, now=T0)
    assert first.expires_at == T0 + 30 * DAY and first.policy == "specific_inactivity:30:DAYS"
    warned = first.__class__(**{**first.__dict__, "warned_days": 7, "next_warning_at": T0 + 29 * DAY})
    same = track(observation(policy=IDLE_30, last_used_at=T0), previous=warned, thresholds=THRESHOLDS, now=T0)
    assert same.warned_days == 7 and same.next_warning_at == T0 + 29 * DAY
    used = track(observation(policy=IDLE_30, last_used_at=T0 + 25 * DAY), previous=warned, thresholds=THRESHOLDS,
                 now=T0 + 25 * DAY)
    assert used.expires_at == T0 + 55 * DAY and used.warned_days is None and used.next_warning_at == T0 + 48 * DAY


def test_a_token_that_never_expires_has_no_schedule():
    never = track(observation(policy=RefreshTokenPolicy.parse("never")), previous=None, thresholds=THRESHOLDS,
                  now=T0)
    assert never.expires_at is None and never.next_warning_at is None


# -- the scan over a database ---------------------------------------------------------------------------------

KEY = Secret(Fernet.generate_key().decode())


async def open_store(path, **options):
    store = Store(url=sqlite_url(path), secret_box=SecretBox(keys=[KEY]), **options)
    await store.open()
    return store


async def seed(store, *, tokens, team="T1", org="00D000000000001AAA"):
    def write(repos):
        repos.orgs.save_authorization(
            team_id=team, org_id=org, org_name="Acme", is_sandbox=False, instance_url="https://acme.my.salesforce.com",
            login_url="https://login.salesforce.com", channel_id="C1", connected_by="U1", salesforce_user_id="005A",
            salesforce_username="ada@acme.example", access_token=Secret("access-token-of-the-bot-0001"),
            refresh_token=None, issued_at=T0, now=T0)
        for number in range(tokens):
            token = track(TokenObservation(
                key=f"{team}:{org}:app:user{number:05d}", team_id=team, org_id=org, kind="app",
                app_name="QualityClouds", salesforce_user_id=f"user{number:05d}", salesforce_username=None,
                policy=LIFETIME_90, issued_at=T0 + number * timedelta(minutes=1), last_used_at=None,
            ), previous=None, thresholds=THRESHOLDS, now=T0)
            repos.tracked_tokens.save(token)

    await store.run(write)


async def expiry_keys(store):
    return await store.run(lambda repos: [row[0] for row in repos.db.execute(
        "SELECT dedupe_key FROM notifications WHERE dedupe_key LIKE 'expiry:%' ORDER BY dedupe_key").fetchall()])


async def test_the_scan_reads_in_batches_and_warns_each_due_token_once(tmp_path):
    store = await open_store(tmp_path / "qc.db")
    try:
        await seed(store, tokens=7)
        scanner = ExpiryScanner(store=store, warn_days=(30, 7, 1), batch_size=3)
        assert await scanner.scan(as_of=T0 + 59 * DAY, now=T0) == 0
        seen = []
        assert await scanner.scan(as_of=T0 + 61 * DAY, now=T0, dry_run=True, on_warning=seen.append) == 7
        assert {warning.threshold_days for warning in seen} == {30} and not any(w.newly_queued for w in seen)
        assert await expiry_keys(store) == [], "a dry run queues nothing"
        assert await scanner.scan(as_of=T0 + 61 * DAY, now=T0) == 7
        assert await scanner.scan(as_of=T0 + 61 * DAY, now=T0) == 0
        assert len(await expiry_keys(store)) == 7
    finally:
        await store.close()


async def test_concurrent_scans_in_two_processes_never_queue_a_warning_twice(tmp_path):
    first = await open_store(tmp_path / "qc.db")
    second = await open_store(tmp_path / "qc.db")  # its own connection and thread, as another process has
    try:
        await seed(first, tokens=200)
        scanners = [ExpiryScanner(store=store, warn_days=(30, 7, 1), batch_size=25) for store in (first, second)]
        counts = await asyncio.gather(*(scanner.scan(as_of=T0 + 85 * DAY, now=T0) for scanner in scanners))
        assert sum(counts) == 200
        keys = await expiry_keys(first)
        assert len(keys) == 200 and all(key.endswith(":7") for key in keys)
    finally:
        await first.close()
        await second.close()


async def test_the_due_query_is_one_range_scan_of_the_partial_index(tmp_path):
    store = await open_store(tmp_path / "qc.db")
    try:
        plan = await store.run(lambda repos: [row[3] for row in repos.db.execute(
            "EXPLAIN QUERY PLAN " + DUE_TOKENS_SQL,
            {"as_of": "2026", "after_at": "", "after_key": "", "limit": 500}).fetchall()])
        assert any("tracked_tokens_due" in step and "next_warning_at" in step for step in plan), plan
        assert any("PRIMARY KEY" in step or "sqlite_autoindex_orgs" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), "the index order serves ORDER BY"
    finally:
        await store.close()


async def test_a_warning_sent_before_an_upgrade_is_not_sent_again(tmp_path):
    store = await open_store(tmp_path / "qc.db")
    try:
        await seed(store, tokens=1)
        # The 30-day warning of user00000's token (expires T0 + 90 days), as the previous version stored it.
        key = "expiry:T1:00D000000000001AAA:app:user00000:1775034000:30"

        def sent_earlier(repos):
            repos.notifications.enqueue(dedupe_key=key, team_id="T1", channel_id="C1", payload={"text": "30 days"},
                                        now=T0 + 60 * DAY)
            repos.notifications.mark_sent(repos.notifications.get(key).id, message_ts="1.0", now=T0 + 60 * DAY)

        await store.run(sent_earlier)
        seen = []
        assert await ExpiryScanner(store=store, warn_days=(30, 7, 1)).scan(as_of=T0 + 61 * DAY, now=T0 + 61 * DAY,
                                                                           on_warning=seen.append) == 1
        assert [(warning.dedupe_key, warning.newly_queued) for warning in seen] == [(key, False)]
        assert await expiry_keys(store) == [key]
        assert (await store.run(lambda repos: repos.notifications.get(key))).status == "sent"
    finally:
        await store.close()


async def test_revoked_tokens_lose_their_queued_warnings_and_the_others_keep_theirs(database_url):
    store = Store(url=database_url, secret_box=SecretBox(keys=[KEY]))
    await store.open()
    try:
        await seed(store, tokens=3)
        await ExpiryScanner(store=store, warn_days=(30, 7, 1)).scan(as_of=T0 + 61 * DAY, now=T0 + 61 * DAY)
        revoked = "T1:00D000000000001AAA:app:user00001"

        def revoke_and_direct_copy(repos):
            [warning] = [key for key in repos.db.execute("SELECT dedupe_key FROM notifications").scalars()
                         if ":user00001:" in key]
            repos.notifications.enqueue(dedupe_key=warning + ":direct", team_id="T1", channel_id="U1",
                                        payload={"text": "30 days"}, now=T0 + 61 * DAY)
            stop_watching(repos, team_id="T1", org_id="00D000000000001AAA", keys=[revoked], reason="revoked")

        await store.run(revoke_and_direct_copy)
        rows = await store.run(lambda repos: repos.db.execute(
            "SELECT dedupe_key, status, last_error FROM notifications ORDER BY dedupe_key").fetchall())
        states = {key.split(":")[4] + (":direct" if key.endswith(":direct") else ""): (status, error)
                  for key, status, error in rows}
        assert states == {"user00000": ("pending", None), "user00001": ("undeliverable", "revoked"),
                          "user00001:direct": ("undeliverable", "revoked"), "user00002": ("pending", None)}
        watched = await store.run(lambda repos: repos.db.execute(
            "SELECT token_key FROM tracked_tokens ORDER BY token_key").scalars().all())
        assert revoked not in watched and len(watched) == 2
    finally:
        await store.close()
