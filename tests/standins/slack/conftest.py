import pytest

from bot.standins.slack import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
