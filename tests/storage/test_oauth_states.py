from datetime import timedelta

from bot.redaction import Secret

from .conftest import NOW


async def test_link_works_once_and_is_stored_only_as_a_digest(tmp_path, store, connection_id):
    token = Secret("link-token-value-abcdefghijklmnop")
    await store.run(lambda repos: repos.oauth_states.create_link(
        connection_id=connection_id, link_token=token, expires_at=NOW + timedelta(minutes=10)))
    first = await store.run(lambda repos: repos.oauth_states.consume_link(link_token=token.reveal(), now=NOW))
    second = await store.run(lambda repos: repos.oauth_states.consume_link(link_token=token.reveal(), now=NOW))
    assert (first.connection_id, first.problem) == (connection_id, None)
    assert second.problem == "used"
    assert token.reveal().encode() not in (tmp_path / "qc-bot.db").read_bytes()


async def test_link_expires_after_its_ttl(store, connection_id):
    token = Secret("link-token-value-expiring-000001")
    await store.run(lambda repos: repos.oauth_states.create_link(
        connection_id=connection_id, link_token=token, expires_at=NOW + timedelta(minutes=10)))
    late = NOW + timedelta(minutes=10, seconds=1)
    consumed = await store.run(lambda repos: repos.oauth_states.consume_link(link_token=token.reveal(), now=late))
    assert consumed.problem == "expired"


async def test_unknown_values_are_refused(store):
    consumed = await store.run(lambda repos: repos.oauth_states.consume_state(state="never-issued", now=NOW))
    assert (consumed.connection_id, consumed.problem) == (None, "unknown")


async def test_state_returns_the_decrypted_verifier_once(tmp_path, store, connection_id):
    state, verifier = Secret("state-value-0123456789abcdef"), Secret("verifier-value-0123456789abcdefghijklmnopq")
    await store.run(lambda repos: repos.oauth_states.create_state(
        connection_id=connection_id, state=state, code_verifier=verifier, expires_at=NOW + timedelta(minutes=10)))
    raw = (tmp_path / "qc-bot.db").read_bytes() + (tmp_path / "qc-bot.db-wal").read_bytes()
    assert state.reveal().encode() not in raw and verifier.reveal().encode() not in raw
    first = await store.run(lambda repos: repos.oauth_states.consume_state(state=state.reveal(), now=NOW))
    assert first.code_verifier == verifier
    replay = await store.run(lambda repos: repos.oauth_states.consume_state(state=state.reveal(), now=NOW))
    assert replay.problem == "used" and replay.code_verifier is None
