from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from bot.redaction import Secret
from storage.crypto import SecretBox
from storage.database import Store
from tests.support.database import engine_of, stored_bytes

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def database_bytes(database_url) -> Callable[[], bytes]:
    """Read the database as stored on disk, where no secret may be in plaintext (on either engine)."""
    return lambda: stored_bytes(engine_of(database_url))


@pytest.fixture
async def connection_id(store) -> str:
    await store.run(lambda repos: repos.connections.create(
        connection_id="c1", team_id="T1", enterprise_id=None, user_id="U1", channel_id="C1",
        environment="production", login_url="https://login.salesforce.com", run_as=None, now=NOW))
    return "c1"


async def rotate_to_a_new_key(url: str, old_key: Secret) -> tuple[int, Store]:
    """Run `rotate-keys` with a new key before `old_key`; return how many values it rewrote and the database
    opened with the new key alone (the caller closes it), where only a rewritten value can still be read."""
    new_key = Secret(Fernet.generate_key().decode())
    both = Store(url=url, secret_box=SecretBox(keys=[new_key, old_key]))
    await both.open()
    try:
        rewritten = await both.rotate_encryption()
    finally:
        await both.close()
    only_new = Store(url=url, secret_box=SecretBox(keys=[new_key]))
    await only_new.open()
    return rewritten, only_new
