"""Lifetimes, timeouts and retry policies in one place, so tests and the demo can run the real code faster.

Every retry policy states its jitter (production spreads most delays by a fifth; `fast_timings()` by nothing).
Which layer retries which failure with which policy is written down in the README ("Retries").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from bot.retry import Backoff


@dataclass(frozen=True, kw_only=True)
class Timings:
    link_ttl: timedelta = timedelta(minutes=10)
    state_ttl: timedelta = timedelta(minutes=10)
    reveal_ttl: timedelta = timedelta(minutes=15)
    confirm_ttl: timedelta = timedelta(minutes=15)
    """How long a requester may confirm an authorization that was not provably theirs."""
    salesforce_timeout_seconds: float = 30.0
    salesforce_retry: Backoff = field(
        default_factory=lambda: Backoff(initial=0.5, maximum=10.0, jitter=0.2, deadline=90.0))
    """One Salesforce request that got no answer (no connection, a timeout, a bare 5xx)."""
    deploy_poll: Backoff = field(
        default_factory=lambda: Backoff(initial=1.0, factor=1.5, maximum=10.0, jitter=0.2, deadline=600.0))
    """Polling a Metadata API deploy until it is done."""
    provisioning_retry: Backoff = field(
        default_factory=lambda: Backoff(initial=5.0, maximum=60.0, jitter=0.2, deadline=900.0))
    """Provisioning started over after Salesforce answered "try later" (a request limit, a setup lock) or left a
    deploy unanswered; also how long a crashed provisioning task waits (its `maximum`) before it resumes."""
    proof_retry: Backoff = field(
        default_factory=lambda: Backoff(initial=5.0, maximum=30.0, jitter=0.2))
    """The live sign-in with a new app's credentials while Salesforce answers `invalid_client_id` (it propagates
    a new app for a few minutes); bounded by `proof_window`, not by a deadline of its own."""
    proof_window: timedelta = timedelta(minutes=10)
    """How long after provisioning `invalid_client_id` still counts as "not propagated yet" (on the bot's clock,
    so a restart does not start the wait over)."""
    slack_retry: Backoff = field(
        default_factory=lambda: Backoff(initial=0.5, maximum=8.0, jitter=0.2))
    """One Slack Web API call (a dropped connection, 429, 5xx); the retry handlers count the retries."""
    delivery_retry: Backoff = field(
        default_factory=lambda: Backoff(initial=5.0, maximum=300.0, jitter=0.0))
    """An outbox message Slack did not take, on the bot's clock; never given up for a passing failure."""
    delivery_poll_seconds: float = 5.0
    delivery_lease: timedelta = timedelta(minutes=2)
    """The longest a process's claim on a message it is posting holds, if it dies and no server restarts."""
    delivery_batch: int = 20
    """How many due outbox messages one claim takes, each reserved for `lease_ttl` until its own post claims it."""
    delivery_drain_seconds: float = 10.0
    """On shutdown, how long the outbox may flush what is due: messages are started in the first half of it, and the
    one being posted may take the rest to finish (and be marked sent)."""
    shutdown_grace_seconds: float = 8.0
    """On SIGTERM, how long requests in flight may take to be answered, and then how long journeys under way may
    take to finish, before what remains is cancelled (it resumes at the next start from its last committed step).
    With the outbox's `delivery_drain_seconds` it stays within the 30 s platforms wait before SIGKILL."""
    startup_slack_check_seconds: float = 10.0
    """How long `qc-bot serve` waits at start-up for Slack's `auth.test` of the bot token (retries included)."""
    maintenance_interval_seconds: float = 60.0
    scheduler_tick_seconds: float = 30.0
    """How often the scheduler looks for org syncs and an expiry scan that are due (by the bot's clock)."""
    prune_interval: timedelta = timedelta(hours=1)
    """How often `qc-bot serve` deletes what outlived QC_RETENTION_DAYS (by the bot's clock, also at start-up)."""
    request_body_seconds: float = 10.0
    """The longest a request's body may take to arrive (Slack sends a few kB at once): then 408 and closed."""
    idle_connection_seconds: float = 10.0
    """How long `qc-bot serve` keeps a connection that has not sent a complete request head: since it opened,
    or since its last answer (aiohttp's keep-alive timeout, which also bounds a half-sent head)."""
    lease_ttl: timedelta = timedelta(seconds=15)
    """How long a lease (storage.leases: the scheduler, a journey, a rotation, an org's app, an org's token refresh)
    or a claim on an org's periodic check (bot.watch.org_check) holds without renewal, on the bot's clock: another
    replica takes over at most this long (plus `lease_renew_seconds`) after its holder crashed or stalled.
    `QC_LEASE_SECONDS` sets it for `qc-bot serve`."""
    lease_renew_seconds: float = 5.0
    """How often a holder renews its leases, and how often a replica without the scheduler's lease tries to take
    it; a third of `lease_ttl`, so two renewals may fail (a slow database) before the lease lapses."""
    adopt_interval_seconds: float = 5.0
    """How often every replica looks for journeys and rotations whose lease lapsed (their replica died) to adopt."""
    token_refresh_wait_seconds: float = 30.0
    """How long a replica waits for another one that is refreshing the same org's token (the refresh's own
    timeout), before it gives up for now (a transient failure, retried like Salesforce being unreachable)."""
    replay_check_seconds: float = 1.0
    """How long a request waits for the replay check replicas share (bot.slack.replays) before it is admitted on
    this replica's memory alone: Slack gives an acknowledgement 3 seconds."""


def fast_timings() -> Timings:
    """Timings for tests and the local demo: same code paths, seconds instead of minutes of waiting, and no
    jitter, so that a wait is exactly as short as written here."""
    return Timings(
        salesforce_timeout_seconds=2.0,
        salesforce_retry=Backoff(initial=0.01, maximum=0.05, jitter=0.0, deadline=3.0),
        deploy_poll=Backoff(initial=0.01, factor=1.5, maximum=0.05, jitter=0.0, deadline=10.0),
        provisioning_retry=Backoff(initial=0.01, maximum=0.05, jitter=0.0, deadline=3.0),
        slack_retry=Backoff(initial=0.01, maximum=0.05, jitter=0.0),
        proof_retry=Backoff(initial=0.01, maximum=0.05, jitter=0.0),
        delivery_retry=Backoff(initial=1.0, maximum=5.0, jitter=0.0),
        delivery_poll_seconds=0.05,
        delivery_lease=timedelta(seconds=30),
        delivery_drain_seconds=2.0,
        # A stop cancels journeys at once, as the crash and resume tests expect; tests of the grace set their own.
        shutdown_grace_seconds=0.0,
        maintenance_interval_seconds=0.2,
        scheduler_tick_seconds=0.05,
        request_body_seconds=1.0,
        lease_ttl=timedelta(seconds=2),
        lease_renew_seconds=0.05,
        adopt_interval_seconds=0.05,
        token_refresh_wait_seconds=3.0,
        # Longer, not shorter: on a loaded test machine a slow database must not pass for one that is away.
        replay_check_seconds=10.0,
    )


def fast_process_timings() -> Timings:
    """`QC_TIMINGS=fast`: `fast_timings` for a real `qc-bot serve` (or `check-expiry`) that a test starts, kills and
    starts again. A Salesforce request keeps production's timeout: such a test holds one in the stand-in across the
    kill, and on a busy machine getting there may take longer than `fast_timings`' two seconds."""
    return replace(fast_timings(), salesforce_timeout_seconds=Timings().salesforce_timeout_seconds)


def with_lease_ttl(timings: Timings, ttl: timedelta) -> Timings:
    """`timings` with leases of `ttl`, renewed and looked for three times as often (QC_LEASE_SECONDS)."""
    third = ttl.total_seconds() / 3
    return replace(timings, lease_ttl=ttl, lease_renew_seconds=third, adopt_interval_seconds=third)
