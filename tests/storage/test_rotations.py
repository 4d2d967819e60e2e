"""Rotations: one under way per org, moved step by step with a compare-and-set, the new key and secret stored
encrypted with the step that records them."""

from datetime import timedelta

import pytest

from bot.redaction import Secret
from storage.rotations import RotationUnderWay

from .conftest import NOW

ORG = "00D000000000001AAA"


async def create(store, rotation_id, *, org_id=ORG):
    await store.run(lambda repos: repos.rotations.create(
        rotation_id=rotation_id, team_id="T1", org_id=org_id, user_id="U1", channel_id="C1", connection_id="c1",
        incident=False, now=NOW))


async def test_one_rotation_under_way_per_org_each_step_taken_once_secrets_encrypted(database_bytes, store):
    await create(store, "r1")
    with pytest.raises(RotationUnderWay):
        await create(store, "r2")
    await create(store, "r3", org_id="00D000000000002AAA")  # another org may rotate meanwhile

    secret = "9F3A" * 16

    def advance(expected, to, **fields):
        return store.run(lambda repos: repos.rotations.advance("r1", expected=expected, to=to,
                                                                now=NOW + timedelta(seconds=1), **fields))

    assert await advance("started", "staging", old_key=Secret("oldKey1234567890abcdef"))
    assert await advance("staging", "staged", staged_url="/services/data/v65.0/x", new_key=Secret("newKey" * 5),
                         new_secret=Secret(secret))
    assert not await advance("staging", "staged"), "a step already taken is not taken again"
    rotation = await store.run(lambda repos: repos.rotations.get("r1"))
    assert rotation.step == "staged" and rotation.new_secret.reveal() == secret
    assert rotation.old_key.reveal() == "oldKey1234567890abcdef"
    assert secret.encode() not in database_bytes()
    # Begun at the same instant: oldest first, ties by id (PostgreSQL keeps no insertion order to fall back on).
    assert [r.id for r in await store.run(lambda repos: repos.rotations.adoptable(now=NOW))] == ["r1", "r3"]

    for step, to in (("staged", "revealed"), ("revealed", "promoted"), ("promoted", "proven")):
        assert await advance(step, to)
    await create(store, "r4")  # proven: the org may rotate again
