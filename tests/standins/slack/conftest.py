import pytest

from standins.slack import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
