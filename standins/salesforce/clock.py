"""Time helpers: an injectable clock and the date formats Salesforce puts on the wire."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class ManualClock:
    """A clock for tests: returns a fixed aware UTC time until moved with ``advance``/``set``."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)).astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, /, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)


def add_months(when: datetime, months: int) -> datetime:
    month_index = when.month - 1 + months
    year = when.year + month_index // 12
    month = month_index % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def xsd_datetime(when: datetime) -> str:
    """SOAP form: ``2026-11-28T15:46:10.000Z``."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def soql_datetime(when: datetime) -> str:
    """REST/SOQL form: ``2026-11-28T15:46:10.000+0000``."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def epoch_millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def epoch_seconds(when: datetime) -> int:
    return int(when.timestamp())


__all__ = [
    "Clock",
    "ManualClock",
    "add_months",
    "epoch_millis",
    "epoch_seconds",
    "soql_datetime",
    "timedelta",
    "utc_now",
    "xsd_datetime",
]
