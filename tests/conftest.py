import pytest

from tests.support.stack import Stack


@pytest.fixture
async def stack(tmp_path):
    running = await Stack(tmp_path).start()
    yield running
    await running.stop()
