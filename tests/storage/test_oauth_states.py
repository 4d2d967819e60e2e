from datetime import timedelta

from bot.redaction import Secret

from .conftest import NOW


async def test_a_link_is_claimed_once_and_stored_only_as_a_digest(database_bytes, store, connection_id):
    token = "link-token-value-abcdefghijklmnop"
    expires = NOW + timedelta(minutes=10)

    def claim(repos):
        return repos.oauth_states.claim_link(link_nonce=token, connection_id=connection_id, expires_at=expires,
                                             now=NOW)

    assert await store.run(claim) is True
    assert await store.run(claim) is False
    assert token.encode() not in database_bytes()


async def test_unknown_values_are_refused(store):
    consumed = await store.run(lambda repos: repos.oauth_states.consume_state(state="never-issued", now=NOW))
    assert (consumed.connection_id, consumed.problem) == (None, "unknown")


async def test_state_returns_the_decrypted_verifier_once(database_bytes, store, connection_id):
    state, verifier = Secret("state-value-0123456789abcdef"), Secret("verifier-value-0123456789abcdefghijklmnopq")
    await store.run(lambda repos: repos.oauth_states.create_state(
        connection_id=connection_id, state=state, code_verifier=verifier, expires_at=NOW + timedelta(minutes=10)))
    raw = database_bytes()
    assert state.reveal().encode() not in raw and verifier.reveal().encode() not in raw
    first = await store.run(lambda repos: repos.oauth_states.consume_state(state=state.reveal(), now=NOW))
    assert first.code_verifier == verifier
    replay = await store.run(lambda repos: repos.oauth_states.consume_state(state=state.reveal(), now=NOW))
    assert replay.problem == "used" and replay.code_verifier is None
