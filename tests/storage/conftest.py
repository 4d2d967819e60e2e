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
def encryption_key() -> Secret:
    return Secret(Fernet.generate_key().decode())


@pytest.fixture
def secret_box(encryption_key) -> SecretBox:
    return SecretBox(keys=[encryption_key])


@pytest.fixture
async def store(database_url, secret_box):
    store = Store(url=database_url, secret_box=secret_box)
    await store.open()
    yield store
    await store.close()


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
