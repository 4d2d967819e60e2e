"""Expiry warnings (SPEC §4): when each watched refresh token needs a warning, and the scan that sends them.

A token's warnings are the thresholds of `QC_EXPIRY_WARN_DAYS` plus its expiry itself (threshold 0). Only
thresholds that fall after the start of the token's current validity window count (an `idle:30d` token is
always "within 30 days", so warning at 30 days would fire at every use). Each token stores the nearest
threshold already warned about and when the next one falls due; when several are crossed at once (a token
first seen late, a scan after downtime) one warning goes out, for the nearest.

The scan reads only what is due (one range query on an index, in bounded batches: cost and memory grow with
what is due, not with the number of tokens), queues each warning in the outbox under the key
`expiry:<team>:<org>:<token>:<expiry>:<threshold>` (storage.outbox_keys) and moves the token's schedule on,
in one transaction. The outbox's unique key makes a warning exist once however many scans race; it is marked
sent only when Slack confirmed it and retried until then. The expiry is part of the key, so when an
inactivity expiry moves (the token was used), the warnings of the new expiry are new warnings.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import messages
from bot.provisioning.settings import RefreshTokenPolicy
from storage import outbox_keys
from storage.database import Repositories, Store
from storage.notifications import NewMessage
from storage.tracked_tokens import TokenKind, TrackedToken, WarningRecord

DAY = timedelta(days=1)
EXPIRED = 0


def thresholds_with_expiry(warn_days: Sequence[int]) -> tuple[int, ...]:
    """`QC_EXPIRY_WARN_DAYS` plus the expiry itself, nearest last: (30, 7, 1, 0)."""
    return (*sorted({day for day in warn_days if day > 0}, reverse=True), EXPIRED)


def _open_thresholds(
    *, thresholds: Sequence[int], expires_at: datetime, window_start: datetime, warned_days: int | None
) -> list[int]:
    """Thresholds not yet warned about that fall inside the token's validity window."""
    return [day for day in thresholds
            if (warned_days is None or day < warned_days)
            and (day == EXPIRED or expires_at - day * DAY > window_start)]


def next_warning_at(
    *, thresholds: Sequence[int], expires_at: datetime | None, window_start: datetime, warned_days: int | None
) -> datetime | None:
    """When the next warning falls due (possibly already), or None when there is nothing left to say."""
    if expires_at is None:
        return None
    remaining = _open_thresholds(thresholds=thresholds, expires_at=expires_at, window_start=window_start,
                                 warned_days=warned_days)
    return expires_at - max(remaining) * DAY if remaining else None


def due_threshold(
    *, thresholds: Sequence[int], expires_at: datetime, window_start: datetime, warned_days: int | None,
    as_of: datetime,
) -> int | None:
    """The one threshold to warn about as of `as_of`: the nearest of those crossed and not yet warned about."""
    crossed = [day for day in _open_thresholds(thresholds=thresholds, expires_at=expires_at,
                                               window_start=window_start, warned_days=warned_days)
               if expires_at - day * DAY <= as_of]
    return min(crossed) if crossed else None


@dataclass(frozen=True)
class ScheduledWarning:
    at: datetime
    days_before: int
    """The threshold: days before expiry; 0 is the notice on expiry."""


def warning_schedule(
    *, policy: RefreshTokenPolicy, issued_at: datetime, last_used_at: datetime | None, warn_days: Sequence[int],
    until: datetime,
) -> list[ScheduledWarning]:
    """The warnings a token gets up to `until` if nothing changes (no use, no new token), in the order the scan
    sends them (the demo's outlook)."""
    thresholds = thresholds_with_expiry(warn_days)
    expires_at = policy.expires_at(issued_at=issued_at, last_used_at=last_used_at)
    window_start = policy.window_start(issued_at=issued_at, last_used_at=last_used_at)
    schedule: list[ScheduledWarning] = []
    warned: int | None = None
    while expires_at is not None:
        at = next_warning_at(thresholds=thresholds, expires_at=expires_at, window_start=window_start,
                             warned_days=warned)
        if at is None or at > until:
            break
        warned = due_threshold(thresholds=thresholds, expires_at=expires_at, window_start=window_start,
                               warned_days=warned, as_of=at)
        assert warned is not None
        schedule.append(ScheduledWarning(at, warned))
    return schedule


@dataclass(frozen=True, kw_only=True)
class TokenObservation:
    """What a sync learned about one token."""

    key: str
    team_id: str
    org_id: str
    kind: TokenKind
    app_name: str
    salesforce_user_id: str | None
    salesforce_username: str | None
    policy: RefreshTokenPolicy
    issued_at: datetime
    last_used_at: datetime | None


def track(
    observation: TokenObservation, *, previous: TrackedToken | None, thresholds: Sequence[int], now: datetime
) -> TrackedToken:
    """The stored state of an observed token: its expiry and warning schedule, carried over from `previous`
    while the expiry stays the same, started afresh when it moved (a new token, a use under inactivity)."""
    policy = observation.policy
    expires_at = policy.expires_at(issued_at=observation.issued_at, last_used_at=observation.last_used_at)
    warned_days = previous.warned_days if previous is not None and previous.expires_at == expires_at else None
    window_start = policy.window_start(issued_at=observation.issued_at, last_used_at=observation.last_used_at)
    return TrackedToken(
        key=observation.key, team_id=observation.team_id, org_id=observation.org_id, kind=observation.kind,
        app_name=observation.app_name, salesforce_user_id=observation.salesforce_user_id,
        salesforce_username=observation.salesforce_username, policy=policy.connected_app_value(),
        issued_at=observation.issued_at, last_used_at=observation.last_used_at, expires_at=expires_at,
        warned_days=warned_days,
        next_warning_at=next_warning_at(thresholds=thresholds, expires_at=expires_at, window_start=window_start,
                                        warned_days=warned_days),
        synced_at=now,
    )


def stop_watching(repos: Repositories, *, team_id: str, org_id: str, keys: Collection[str], reason: str) -> None:
    """Forget these tracked tokens of one org and give up their warnings still in the outbox: the tokens were
    revoked, so they expire no more, and a warning queued before (Slack was down, say) would be false news."""
    repos.tracked_tokens.remove(keys=keys)
    repos.notifications.cancel_token_warnings(team_id=team_id, org_id=org_id, token_keys=keys, reason=reason)


def stored_policy(token: TrackedToken) -> RefreshTokenPolicy:
    policy = RefreshTokenPolicy.from_connected_app(token.policy)
    if policy is None:
        raise ValueError(f"tracked token {token.key} holds an unknown policy {token.policy!r}")
    return policy


@dataclass(frozen=True, kw_only=True)
class PlannedWarning:
    """One warning a scan sent (queued) or, in a dry run, would send."""

    dedupe_key: str
    team_id: str
    channel_id: str
    org_name: str
    org_id: str
    token_kind: TokenKind
    app_name: str
    owner: str | None
    expires_at: datetime
    threshold_days: int
    newly_queued: bool
    """False in a dry run, and when an identical warning was already in the outbox."""


class ExpiryScanner:
    def __init__(self, *, store: Store, warn_days: Sequence[int], batch_size: int = 500) -> None:
        self._store = store
        self._thresholds = thresholds_with_expiry(warn_days)
        self._batch_size = batch_size

    async def scan(
        self,
        *,
        as_of: datetime,
        now: datetime,
        dry_run: bool = False,
        on_warning: Callable[[PlannedWarning], None] | None = None,
    ) -> int:
        """Queue every warning due by `as_of` (`now` is when they are queued); return how many there were.

        `dry_run` reads only, in a read-only transaction: it reports what would be sent and changes nothing.
        """
        count = 0
        after: tuple[datetime, str] | None = None
        while True:
            batch = functools.partial(self._batch, as_of=as_of, now=now, after=after, dry_run=dry_run)
            planned, after = await self._store.run(batch, immediate=not dry_run)
            for warning in planned:
                count += 1
                if on_warning is not None:
                    on_warning(warning)
            if after is None:
                return count

    def _batch(
        self, repos: Repositories, *, as_of: datetime, now: datetime, after: tuple[datetime, str] | None,
        dry_run: bool,
    ) -> tuple[list[PlannedWarning], tuple[datetime, str] | None]:
        """One batch of due tokens: planned in memory, then written in a few statements whatever its size (each
        a round trip on PostgreSQL, so a scan after a day's downtime does not pay three per warning)."""
        due = repos.tracked_tokens.due(as_of=as_of, after=after, limit=self._batch_size)
        planned: list[PlannedWarning] = []
        outbox: list[NewMessage] = []
        warned: list[WarningRecord] = []
        replanned: dict[str, datetime | None] = {}
        for entry in due:
            token = entry.token
            policy = stored_policy(token)
            window_start = policy.window_start(issued_at=token.issued_at, last_used_at=token.last_used_at)
            threshold = None if token.expires_at is None else due_threshold(
                thresholds=self._thresholds, expires_at=token.expires_at, window_start=window_start,
                warned_days=token.warned_days, as_of=as_of)
            if threshold is None or token.expires_at is None:
                # Due by a schedule made under other thresholds (QC_EXPIRY_WARN_DAYS changed): re-plan, say nothing.
                replanned[token.key] = next_warning_at(thresholds=self._thresholds, expires_at=token.expires_at,
                                                       window_start=window_start, warned_days=token.warned_days)
                continue
            key = outbox_keys.expiry_warning(token, threshold=threshold)
            planned.append(PlannedWarning(
                dedupe_key=key, team_id=token.team_id, channel_id=entry.channel_id, org_name=entry.org_name,
                org_id=token.org_id, token_kind=token.kind, app_name=token.app_name, owner=token.salesforce_username,
                expires_at=token.expires_at, threshold_days=threshold, newly_queued=False,
            ))
            if dry_run:
                continue
            message = messages.expiry_warning(messages.ExpiryNotice(
                org_name=entry.org_name, org_id=token.org_id, token_kind=token.kind, app_name=token.app_name,
                owner=token.salesforce_username, expires_at=token.expires_at, days_left=threshold,
                policy=policy.describe(), as_of=as_of,
            ))
            # In the org's card's thread; an expired token needs everyone's attention, so it is broadcast too.
            outbox.append(NewMessage(
                dedupe_key=key, team_id=token.team_id, channel_id=entry.channel_id, payload=message.as_payload(),
                fallback_user_id=entry.connected_by, thread_of=entry.card_key, broadcast=threshold == 0))
            warned.append(WarningRecord(
                key=token.key, expires_at=token.expires_at, warned_days=threshold,
                next_warning_at=next_warning_at(thresholds=self._thresholds, expires_at=token.expires_at,
                                                window_start=window_start, warned_days=threshold)))
        if not dry_run:
            newly_queued = repos.notifications.enqueue_many(outbox, now=now)
            repos.tracked_tokens.record_warnings(warned)
            repos.tracked_tokens.reschedule(replanned)
            planned = [dataclasses.replace(warning, newly_queued=warning.dedupe_key in newly_queued)
                       for warning in planned]
        if len(due) < self._batch_size:
            return planned, None
        last = due[-1].token
        assert last.next_warning_at is not None
        return planned, (last.next_warning_at, last.key)
