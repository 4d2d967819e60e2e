"""Connection records: compare-and-set status changes, the resume counter and the listings, in SQL that
PostgreSQL accepts as well as SQLite (an empty `IN ()` is a syntax error there)."""

from datetime import timedelta

from bot.redaction import Secret

from .conftest import NOW, rotate_to_a_new_key


async def test_a_transition_expecting_no_status_moves_nothing(store, connection_id):
    moved = await store.run(lambda repos: repos.connections.transition(
        connection_id, expected=[], to="failed", now=NOW, failure_message="never"))
    assert moved is False
    connection = await store.run(lambda repos: repos.connections.get(connection_id))
    assert (connection.status, connection.failure_message, connection.finished_at) == ("pending_auth", None, None)


async def test_a_transition_sets_only_the_facts_it_is_given(store, connection_id):
    later = NOW + timedelta(minutes=3)
    assert await store.run(lambda repos: repos.connections.transition(
        connection_id, expected=["awaiting_confirmation", "pending_auth"], to="failed", now=later,
        failure_message="why"))
    assert not await store.run(lambda repos: repos.connections.transition(
        connection_id, expected=["pending_auth"], to="authorized", now=later))
    connection = await store.run(lambda repos: repos.connections.get(connection_id))
    assert (connection.status, connection.failure_message, connection.org_id) == ("failed", "why", None)
    assert connection.updated_at == connection.finished_at == later


async def test_each_resume_is_counted_and_the_count_returned(store, connection_id):
    counts = [await store.run(lambda repos: repos.connections.count_resume(connection_id)) for _ in range(3)]
    assert counts == [1, 2, 3]
    assert (await store.run(lambda repos: repos.connections.get(connection_id))).resumes == 3


async def test_the_latest_journey_for_an_org_is_the_last_created_even_in_the_same_instant(store, connection_id):
    async def journey(number, *, at):
        new_id = f"c{number}"
        await store.run(lambda repos: repos.connections.create(
            connection_id=new_id, team_id="T1", enterprise_id=None, user_id="U1", channel_id="C1",
            environment="production", login_url="https://login.salesforce.com", run_as=None, now=at))
        await store.run(lambda repos: repos.connections.transition(
            new_id, expected=["pending_auth"], to="provisioned", now=at, org_id="00D1"))

    # The clock stands still and the ids sort the other way: only the order of creation tells them apart.
    await journey(9, at=NOW)
    await journey(2, at=NOW)
    created = [(await store.run(lambda repos, id=id: repos.connections.get(id))).created_at for id in ("c9", "c2")]
    assert NOW < created[0] < created[1] < NOW + timedelta(milliseconds=1)
    latest = await store.run(lambda repos: repos.connections.latest_for_org(team_id="T1", org_id="00D1"))
    assert latest.id == "c2"
    assert await store.run(lambda repos: repos.connections.latest_for_org(
        team_id="T1", org_id="00D1", status="failed")) is None


async def test_an_authorization_held_for_confirmation_survives_a_key_rotation(database_url, encryption_key, store,
                                                                              connection_id):
    await store.run(lambda repos: repos.connections.hold_for_confirmation(
        connection_id, org_id="00D1", held=Secret("held-refresh-token-9c1e"), confirm_by=NOW + timedelta(minutes=10),
        now=NOW))
    await store.close()
    rewritten, only_new = await rotate_to_a_new_key(database_url, encryption_key)
    assert rewritten == 1
    held = await only_new.run(lambda repos: repos.connections.held_authorization(connection_id))
    await only_new.close()
    assert held.reveal() == "held-refresh-token-9c1e"
