import os
import random
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from bot.redaction import Secret
from storage.crypto import SecretBox
from storage.database import Store, sqlite_url
from tests.support.postgres import HOME_VARIABLE, Cluster, PostgresHome, PostgresUnavailable, server_binaries
from tests.support.stack import Stack


def pytest_configure(config):
    """No test reaches a database named in the shell that runs the tests (every bot and `qc-bot` process a test
    starts inherits this environment). The controlling process (not an xdist worker) names the run's one PostgreSQL
    folder; the workers inherit it and the first that needs PostgreSQL starts the cluster there."""
    os.environ.pop("DATABASE_URL", None)
    if hasattr(config, "workerinput"):
        return
    try:
        server_binaries()
    except PostgresUnavailable:
        return  # the fixtures below say so to each test that asks
    os.environ[HOME_VARIABLE] = str(PostgresHome.create().path)


def pytest_unconfigure(config):
    """The run is over (passed, failed or interrupted): the controlling process stops the cluster."""
    home = PostgresHome.of_this_run()
    if home is not None and not hasattr(config, "workerinput"):
        home.remove()
        del os.environ[HOME_VARIABLE]


def require_postgres() -> None:
    """Skip the test where PostgreSQL's server binaries are missing; fail it under CI, which must run it."""
    try:
        server_binaries()
    except PostgresUnavailable as missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI must run the PostgreSQL tests")
        pytest.skip(str(missing))


@pytest.fixture(scope="session")
def postgres_cluster() -> Cluster:
    """The run's throwaway PostgreSQL: a skip where Debian's server binaries are missing, a failure under CI."""
    require_postgres()
    home = PostgresHome.of_this_run()
    assert home is not None, "pytest_configure names the cluster's folder wherever the binaries are installed"
    return home.cluster()


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> Iterator[str]:
    """The SQLAlchemy URL of a new empty PostgreSQL database of the test's own, dropped after it."""
    with postgres_cluster.fresh_database() as url:
        yield url


ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc):
    """Every test that uses the bot's database (`database_url`, so also `stack`, `make_stack` and the storage
    tests' `store`) runs once per engine, ids `sqlite` and `postgresql`; one marked `sqlite_only` on SQLite alone."""
    if "database_url" in metafunc.fixturenames:
        engines = ENGINES[:1] if metafunc.definition.get_closest_marker("sqlite_only") else ENGINES
        metafunc.parametrize("database_url", engines, indirect=True, ids=engines)


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """The bot's database as a SQLAlchemy URL: a new SQLite file (qc-bot.db in the test's folder) or a new
    PostgreSQL database."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "qc-bot.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def encryption_key() -> Secret:
    return Secret(Fernet.generate_key().decode())


@pytest.fixture
def secret_box(encryption_key) -> SecretBox:
    return SecretBox(keys=[encryption_key])


@pytest.fixture
async def store(database_url, secret_box):
    """The bot's database, open, on each engine (`database_url`)."""
    store = Store(url=database_url, secret_box=secret_box)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def stack(tmp_path, database_url):
    running = await Stack(tmp_path, database_url=database_url).start()
    yield running
    await running.stop()


@pytest.fixture
async def make_stack(tmp_path, database_url):
    """Start a `Stack` configured for the test (`await make_stack(env={...}, timings=...)`); stopped at the end."""
    started: list[Stack] = []

    async def make(**options) -> Stack:
        running = await Stack(tmp_path, database_url=database_url, **options).start()
        started.append(running)
        return running

    yield make
    for running in started:
        await running.stop()


@pytest.fixture
def random_draws(monkeypatch):
    """Every random number drawn through the `random` module from now on: the jitter of our retry policies and
    of slack_sdk's defaults. A test of fast timings asserts there was none."""
    draws: list[str] = []
    monkeypatch.setattr(random, "random", lambda: draws.append("random") or 0.5)
    monkeypatch.setattr(random, "uniform", lambda a, b: draws.append("uniform") or (a + b) / 2)
    return draws


@pytest.fixture
def umask_022():
    """The usual umask, under which files are created readable by everyone unless qc-bot says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)
