"""`SharedReplays` on a real store: requests that wait together go to the database in one statement and each
key is admitted to one request only; a database that fails admits on this replica's memory alone, and says so."""

import asyncio
import logging
from datetime import UTC, datetime

from cryptography.fernet import Fernet

from bot.redaction import Secret
from bot.slack.replays import SharedReplays
from bot.timings import fast_timings
from storage.crypto import SecretBox
from storage.database import Store

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC).timestamp()


async def open_store(database_url: str) -> Store:
    store = Store(url=database_url, secret_box=SecretBox(keys=[Secret(Fernet.generate_key().decode())]))
    await store.open()
    return store


async def test_waiting_requests_are_admitted_together_and_a_key_only_once(database_url):
    store = await open_store(database_url)
    statements: list[int] = []
    run_alone = store.run_alone

    async def counted(operation):
        statements.append(1)
        return await run_alone(operation)

    store.run_alone = counted  # type: ignore[method-assign]
    replays = SharedReplays(store=store, answer_seconds=fast_timings().replay_check_seconds, now=lambda: NOW)
    try:
        requests = [[(f"signature:{number}", NOW + 300)] for number in range(10)]
        requests.append([("signature:3", NOW + 300)])  # a copy of the fourth, arriving with it
        requests.append([("signature:x", NOW + 300), ("event:E1", NOW + 600)])
        requests.append([("signature:y", NOW + 300), ("event:E1", NOW + 600)])  # Slack's resend, signed afresh
        answers = await asyncio.gather(*(replays.admit(keys) for keys in requests))
        assert answers == [True] * 10 + [False, True, False]
        assert 1 <= len(statements) <= 2, "the first request's statement, then one for all that waited meanwhile"
        assert await replays.admit([("signature:5", NOW + 300)]) is False
    finally:
        await store.close()


async def test_a_database_that_fails_admits_and_is_reported_once(database_url, caplog):
    store = await open_store(database_url)
    replays = SharedReplays(store=store, answer_seconds=fast_timings().replay_check_seconds, now=lambda: NOW)
    await store.close()  # every statement now fails
    with caplog.at_level(logging.WARNING):
        assert await replays.admit([("signature:a", NOW + 300)]) is True
        assert await replays.admit([("signature:a", NOW + 300)]) is True, "this replica's cache stands in front"
    assert sum("shared replay check did not answer" in record.getMessage() for record in caplog.records) == 1
