import os
import random

import pytest

from tests.support.stack import Stack


@pytest.fixture
async def stack(tmp_path):
    running = await Stack(tmp_path).start()
    yield running
    await running.stop()


@pytest.fixture
async def make_stack(tmp_path):
    """Start a `Stack` configured for the test (`await make_stack(env={...}, timings=...)`); stopped at the end."""
    started: list[Stack] = []

    async def make(**options) -> Stack:
        running = await Stack(tmp_path, **options).start()
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
