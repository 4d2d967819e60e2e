"""Which expiry warnings a refresh token would get (SPEC §4), worked out from the refresh token policy alone.

The demo's 90-day outlook uses this. The expiry scan (`qc-bot check-expiry`, built on another branch) is
what really sends warnings, from the tokens it tracks; when both have landed the demo should ask the scan
instead, and this module goes away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.provisioning.settings import RefreshTokenPolicy


@dataclass(frozen=True)
class PlannedWarning:
    at: datetime
    days_before: int
    """How many days before expiry this warning goes out; 0 is the one sent when the token expires."""


@dataclass(frozen=True)
class Outlook:
    expires_at: datetime | None
    warnings: list[PlannedWarning]


def outlook(
    *, policy: RefreshTokenPolicy, issued_at: datetime, warn_days: Sequence[int], horizon: timedelta
) -> Outlook:
    """When a token issued at `issued_at` and never used expires, and the warnings due up to `issued_at + horizon`:
    one per threshold in `warn_days`, plus one on expiry, earliest first."""
    expires_at = policy.expires_at(issued_at=issued_at, last_used_at=None)
    if expires_at is None:
        return Outlook(None, [])
    until = issued_at + horizon
    planned = [PlannedWarning(expires_at - timedelta(days=days), days) for days in (*warn_days, 0)]
    return Outlook(expires_at, sorted((warning for warning in planned if issued_at <= warning.at <= until),
                                      key=lambda warning: warning.at))
