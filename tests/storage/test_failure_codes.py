"""The failure code column stays text; it is read back as `bot.failures.Failure` at this boundary, once."""

from bot.failures import Failure

from .conftest import NOW


async def fail(store, connection_id, code):
    return await store.run(lambda repos: repos.connections.transition(
        connection_id, expected=["pending_auth"], to="failed", now=NOW, failure_code=code, failure_message="why"))


async def test_a_failure_code_is_stored_as_its_text_and_read_back_as_the_member(store, connection_id):
    assert await fail(store, connection_id, Failure.APP_NOT_INSTALLED)
    stored = await store.run(lambda repos: repos.db.execute(
        "SELECT failure_code FROM connections WHERE id = :id", {"id": connection_id}).fetchone())
    assert tuple(stored) == ("app_not_installed",) and type(stored[0]) is str
    connection = await store.run(lambda repos: repos.connections.get(connection_id))
    assert connection.failure_code is Failure.APP_NOT_INSTALLED


async def test_a_code_this_version_does_not_know_reads_back_as_an_internal_error(store, connection_id):
    await store.run(lambda repos: repos.db.execute(
        "UPDATE connections SET status = 'failed', failure_code = 'retired_code' WHERE id = :id",
        {"id": connection_id}))
    connection = await store.run(lambda repos: repos.connections.get(connection_id))
    assert connection.failure_code is Failure.INTERNAL_ERROR and connection.failure_message is None
