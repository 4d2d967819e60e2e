from datetime import timedelta

from .conftest import NOW


async def grant(store, connection_id):
    await store.run(lambda repos: repos.reveals.create(
        reveal_id="r1", connection_id=connection_id, team_id="T1", user_id="U1", now=NOW,
        expires_at=NOW + timedelta(minutes=15)))


async def consume(store, user_id="U1", now=NOW):
    return await store.run(lambda repos: repos.reveals.consume(reveal_id="r1", team_id="T1", user_id=user_id, now=now))


async def test_reveal_works_once_for_its_user(store, connection_id):
    await grant(store, connection_id)
    assert (await consume(store, user_id="U2")).problem == "wrong_user"
    assert (await consume(store)).problem is None
    assert (await consume(store)).problem == "used"


async def test_reveal_expires_after_fifteen_minutes(store, connection_id):
    await grant(store, connection_id)
    assert (await consume(store, now=NOW + timedelta(minutes=15))).problem == "expired"


async def test_a_released_reveal_can_be_used_again(store, connection_id):
    await grant(store, connection_id)
    assert (await consume(store)).problem is None
    await store.run(lambda repos: repos.reveals.release(reveal_id="r1", team_id="T1", user_id="U1"))
    assert (await consume(store)).problem is None
