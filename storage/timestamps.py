"""Timestamps as stored: fixed-width UTC text, so string order is time order and indexes serve ranges."""

from __future__ import annotations

from datetime import UTC, datetime


def to_db_time(moment: datetime) -> str:
    """Fixed-width UTC text, so string order is time order and range queries can use an index."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_db_time_optional(moment: datetime | None) -> str | None:
    return None if moment is None else to_db_time(moment)


def from_db_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def from_db_time_optional(text: str | None) -> datetime | None:
    return None if text is None else from_db_time(text)
