"""What pruning deletes and what it keeps (storage.retention), row by row around the cutoff."""

from datetime import timedelta

from bot.redaction import Secret
from storage import outbox_keys

from .conftest import NOW

DAY = timedelta(days=1)
CUTOFF = NOW - 30 * DAY
OLD = CUTOFF - DAY
RECENT = CUTOFF + DAY


def make_connection(repos, connection_id, *, at, status, org_id=None):
    repos.connections.create(connection_id=connection_id, team_id="T1", enterprise_id=None, user_id="U1",
                             channel_id="C1", environment="production", login_url="https://login.salesforce.com",
                             run_as=None, now=at)
    if status != "pending_auth":
        repos.connections.transition(connection_id, expected=["pending_auth"], to=status, now=at, org_id=org_id)


def queue(repos, key, *, at, sent=True):
    repos.notifications.enqueue(dedupe_key=key, team_id="T1", channel_id="C1", payload={"text": key}, now=at)
    if sent:
        row_id = repos.notifications.get(key).id
        repos.notifications.mark_sent(row_id, message_ts="1.2", now=at)


def expiry_key(expires_at, threshold):
    return f"{outbox_keys.org_scope(outbox_keys.EXPIRY, team_id='T1', org_id='00D1')}bot:" \
           f"{int(expires_at.timestamp())}:{threshold}"


def seed(repos):
    # Journeys: ended long ago without an org; one org's older, latest successful and latest journeys; a live one.
    make_connection(repos, "ended-no-org", at=OLD, status="failed")
    make_connection(repos, "org-first", at=OLD - 3 * DAY, status="provisioned", org_id="00D1")
    make_connection(repos, "org-provisioned", at=OLD - 2 * DAY, status="provisioned", org_id="00D1")
    make_connection(repos, "org-latest", at=OLD - DAY, status="failed", org_id="00D1")
    make_connection(repos, "ended-recently", at=RECENT, status="failed")
    make_connection(repos, "waiting", at=OLD, status="pending_auth")
    make_connection(repos, "ended-message-pending", at=OLD, status="failed")
    make_connection(repos, "ended-with-live-reveal", at=OLD, status="provisioned", org_id="00D2")
    make_connection(repos, "org2-latest", at=OLD + timedelta(hours=1), status="provisioned", org_id="00D2")
    # A proof that never finished (a crash before its outcome) is still resumed: its journey stays.
    make_connection(repos, "still-proving", at=OLD, status="provisioned", org_id="00D3")
    make_connection(repos, "org3-latest", at=OLD + timedelta(hours=1), status="provisioned", org_id="00D3")
    repos.connections.start_proof("still-proving", status="proving", now=OLD, status_view={})
    queue(repos, "status:still-proving", at=OLD)
    # The journal of temporary org changes: closed long ago, closed recently, and one still to restore (which
    # keeps its journey: a restarted process restores it from there).
    for name, at, end in (("restored-old", OLD, "restored"), ("left-old", OLD, "left"),
                          ("restored-recent", RECENT, "restored"), ("pending-old", OLD, None)):
        change = repos.temporary_changes.record(connection_id="org-first", team_id="T1", org_id="00D1",
                                                kind="org_setting", name=name, old_value="false", now=OLD)
        if end is not None:
            repos.temporary_changes.close(change.id, end=end, now=at)
    # One-time values, by expiry.
    for name, expires in (("link-old", OLD), ("link-recent", RECENT)):
        repos.oauth_states.claim_link(link_nonce=name, connection_id="waiting", expires_at=expires, now=expires)
        repos.oauth_states.create_state(connection_id="waiting", state=Secret(f"state-{name}"),
                                        code_verifier=Secret(f"verifier-{name}"), expires_at=expires)
        repos.installations.issue_state(state=Secret(f"install-{name}"), expires_at=expires)
    repos.reveals.create(reveal_id="reveal-old", connection_id="waiting", team_id="T1", user_id="U1",
                         now=OLD, expires_at=OLD)
    repos.reveals.create(reveal_id="reveal-live", connection_id="ended-with-live-reveal", team_id="T1",
                         user_id="U1", now=NOW, expires_at=NOW + DAY)
    # Outbox: finished long ago, recently, pending; expiry warnings whose expiry is long past or still ahead.
    queue(repos, "status:ended-no-org", at=OLD)
    queue(repos, "status:ended-recently", at=RECENT)
    queue(repos, "status:ended-message-pending", at=OLD, sent=False)
    queue(repos, "broken:T1:00D1:1", at=OLD)
    queue(repos, expiry_key(OLD, 7), at=OLD - 7 * DAY)
    queue(repos, outbox_keys.direct(expiry_key(OLD, 7)), at=OLD - 7 * DAY)
    queue(repos, expiry_key(NOW + 7 * DAY, 30), at=OLD)
    repos.notifications.mark_undeliverable(repos.notifications.get("broken:T1:00D1:1").id, error="gone")


def remaining(repos, table, column):
    return sorted(row[0] for row in repos.db.execute(f"SELECT {column} FROM {table}").fetchall())


async def test_pruning_deletes_exactly_what_ended_before_the_cutoff(store):
    await store.run(seed)
    pruned = await store.run(lambda repos: repos.retention.prune(before=CUTOFF))

    assert await store.run(lambda repos: remaining(repos, "connections", "id")) == [
        "ended-message-pending", "ended-recently", "ended-with-live-reveal", "org-first", "org-latest",
        "org-provisioned", "org2-latest", "org3-latest", "still-proving", "waiting"]
    assert await store.run(lambda repos: remaining(repos, "temporary_org_changes", "name")) == [
        "pending-old", "restored-recent"]
    assert await store.run(lambda repos: remaining(repos, "reveals", "id")) == ["reveal-live"]
    for table in ("oauth_links", "oauth_states", "slack_install_states"):
        assert await store.run(lambda repos, table=table: remaining(repos, table, "expires_at")) == [
            f"{RECENT:%Y-%m-%dT%H:%M:%S.%f}Z"], table
    assert await store.run(lambda repos: remaining(repos, "notifications", "dedupe_key")) == sorted([
        "status:ended-recently", "status:ended-message-pending", "status:still-proving",
        expiry_key(NOW + 7 * DAY, 30)])
    assert pruned.counts() == {"oauth_links": 1, "oauth_states": 1, "install_states": 1, "reveals": 1,
                               "notifications": 4, "connections": 1, "temporary_org_changes": 2,
                               "drift_alerts": 0, "rotations": 0}

    again = await store.run(lambda repos: repos.retention.prune(before=CUTOFF))
    assert again.total() == 0


async def test_the_one_time_values_kept_still_work(store):
    await store.run(seed)
    await store.run(lambda repos: repos.retention.prune(before=CUTOFF))
    live = await store.run(lambda repos: repos.oauth_states.consume_state(state="state-link-recent", now=OLD))
    assert live.problem is None and live.code_verifier.reveal() == "verifier-link-recent"
    assert await store.run(lambda repos: repos.installations.consume_state(state="install-link-recent", now=OLD))


async def test_an_orgs_card_is_kept_while_it_is_the_orgs(store):
    """Its row holds the ts its thread replies need; a card another journey's replaced is pruned like any post."""

    def seed_cards(repos):
        repos.orgs.save_authorization(
            team_id="T1", org_id="00D1", org_name="Acme", is_sandbox=False, instance_url="https://acme.example",
            login_url="https://login.salesforce.com", channel_id="C1", connected_by="U1", salesforce_user_id="005",
            salesforce_username="admin@acme.example", access_token=Secret("access-token-value"), refresh_token=None,
            issued_at=OLD, now=OLD)
        queue(repos, "status:old-card", at=OLD - DAY)
        queue(repos, "status:card", at=OLD)
        repos.orgs.set_card(team_id="T1", org_id="00D1", card_key="status:card")

    await store.run(seed_cards)
    await store.run(lambda repos: repos.retention.prune(before=CUTOFF))
    assert await store.run(lambda repos: remaining(repos, "notifications", "dedupe_key")) == ["status:card"]
    assert await store.run(lambda repos: repos.orgs.get(team_id="T1", org_id="00D1").card_key) == "status:card"


async def test_ended_rotations_are_pruned_and_one_whose_retire_still_decides_something_stays(store):
    def seed_rotations(repos):
        make_connection(repos, "rotated-org", at=OLD, status="provisioned", org_id="00D9")
        for name, step, valid_until in (("retired-old", "retired", None), ("failed-old", "failed", None),
                                        ("proven-overlap-over", "proven", OLD), ("proven-overlap-on", "proven", NOW),
                                        ("proven-nothing-former", "proven", None),
                                        ("retired-recent", "retired", None)):
            repos.rotations.create(rotation_id=name, team_id="T1", org_id=f"00D-{name}", user_id="U1",
                                   channel_id="C1", connection_id="rotated-org", incident=False, now=OLD)
            at = RECENT if name.endswith("recent") else OLD
            repos.rotations.advance(name, expected="started", to=step, now=at, old_valid_until=valid_until)

    await store.run(seed_rotations)
    pruned = await store.run(lambda repos: repos.retention.prune(before=CUTOFF))
    assert pruned.rotations == 4
    assert await store.run(lambda repos: remaining(repos, "rotations", "id")) == [
        "proven-overlap-on", "retired-recent"]


async def test_of_journeys_begun_at_the_same_instant_the_one_status_shows_stays(store):
    """Journeys are ordered as they were created, even within one instant; pruning keeps the org's latest,
    which is the one `/qc status` takes."""

    def seed_tie(repos):
        make_connection(repos, "older", at=OLD - DAY, status="provisioned", org_id="00D1")
        for connection_id in ("tied-a", "tied-b"):
            make_connection(repos, connection_id, at=OLD, status="provisioned", org_id="00D1")

    await store.run(seed_tie)
    pruned = await store.run(lambda repos: repos.retention.prune(before=CUTOFF))

    assert await store.run(lambda repos: remaining(repos, "connections", "id")) == ["tied-b"]
    assert pruned.connections == 2
    for status in (None, "provisioned"):
        latest = await store.run(lambda repos, status=status: repos.connections.latest_for_org(
            team_id="T1", org_id="00D1", status=status))
        assert latest.id == "tied-b"
