"""Slack's clock as the fake sees it, and a manual clock tests can move."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]
"""A zero-argument callable returning seconds since the Unix epoch (like ``time.time``)."""


class ManualClock:
    """A clock that only moves when told to; starts at the current wall time by default."""

    def __init__(self, *, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward (or back, with a negative value) and return the new time."""
        self._now += seconds
        return self._now

    def set(self, now: float) -> None:
        """Jump to an absolute epoch time."""
        self._now = float(now)
