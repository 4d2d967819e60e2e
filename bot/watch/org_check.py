"""The periodic check of one org (SPEC §4, §4a), run by `qc-bot serve`'s scheduler, by `qc-bot check-expiry` and
by `/qc check`: a list of steps, each returning a typed result, run under a claim on the org.

The claim (`token_syncs.claimed_by/claimed_until`, taken in an immediate transaction) is what makes a check
safe while another process checks too: a rotating refresh token refreshed twice at once would lose one of
the two refreshes (Salesforce may answer `invalid_grant` to the loser, a false "connection broken"), so an org
claimed by another process is skipped, never checked side by side. A claim is short (`Timings.lease_ttl`) and
renewed while the check runs (every third of it), so a check that waits minutes for Salesforce
keeps its org, and an org whose process died mid-check is checked by another within a lease's lifetime. A check
whose process stalled past its claim, and found it taken, still finishes (like the scheduler's checks, and a
token refresh is never cut in half); the refresh lease and the warnings' dedupe keys keep the two from doing
anything twice.

Steps, in order: the token sync (bot.watch.token_sync: refreshes qc-bot's token, reads the app's tokens), the
sign-in watch (bot.watch.sign_in), then whatever else a deployment adds (the drift watch adds a step whose
result is a `SettingsResult`). A report that has no `SettingsResult` says the settings were not checked.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Protocol

from bot.clock import Clock
from bot.config import Settings
from bot.leases import renewed_every
from bot.messages.check import setting_state_line
from bot.orgs.access import OrgAccess
from bot.slack.outbox import SlackDelivery
from bot.timings import Timings
from bot.watch.drift import DriftWatch
from bot.watch.sign_in import SignInResult, SignInWatch
from bot.watch.token_sync import SyncOutcome, TokenSync
from storage.database import Store
from storage.tracked_tokens import OrgSync

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TokensResult:
    outcome: SyncOutcome


@dataclass(frozen=True, kw_only=True)
class SettingLine:
    mark: Literal["ok", "warning", "error"]
    text: str
    """mrkdwn, already escaped where it quotes Salesforce or a user."""


@dataclass(frozen=True, kw_only=True)
class SettingsResult:
    """What the app's settings look like against SPEC §2: one line per setting (the drift step's result)."""

    checked: bool
    lines: tuple[SettingLine, ...] = ()


NOT_CHECKED = SettingsResult(checked=False)

StepResult = TokensResult | SignInResult | SettingsResult


class CheckStep(Protocol):
    async def run(self, sync: OrgSync) -> StepResult:
        """Check one aspect of the org whose check the caller holds the claim on."""
        ...


@dataclass(frozen=True, kw_only=True)
class OrgCheckResult:
    team_id: str
    org_id: str
    ran: bool
    """False: not checked now (another process holds its claim, or it has no check schedule yet)."""
    results: tuple[StepResult, ...] = ()

    @property
    def tokens(self) -> TokensResult | None:
        return next((result for result in self.results if isinstance(result, TokensResult)), None)

    @property
    def sign_in(self) -> SignInResult | None:
        return next((result for result in self.results if isinstance(result, SignInResult)), None)

    @property
    def settings(self) -> SettingsResult:
        return next((result for result in self.results if isinstance(result, SettingsResult)), NOT_CHECKED)


class TokenSyncStep:
    def __init__(self, *, sync: TokenSync, refresh_always: bool) -> None:
        self._sync = sync
        self._refresh_always = refresh_always

    async def run(self, sync: OrgSync) -> StepResult:
        return TokensResult(outcome=await self._sync.sync_org(sync, refresh_always=self._refresh_always))


class SignInStep:
    def __init__(self, *, watch: SignInWatch) -> None:
        self._watch = watch

    async def run(self, sync: OrgSync) -> StepResult:
        return await self._watch.check(team_id=sync.team_id, org_id=sync.org_id)


class DriftStep:
    """The app read back and compared with SPEC §2 (bot.watch.drift: its alerts), as the report's settings."""

    def __init__(self, *, drift: DriftWatch, on_demand: bool) -> None:
        self._drift = drift
        self._on_demand = on_demand

    async def run(self, sync: OrgSync) -> StepResult:
        # On its schedule the watch leaves alone an org that a journey is setting up or just set up (a deploy in
        # flight is no change in Setup); whoever asks now is answered now.
        check = self._drift.check_org if self._on_demand else self._drift.check_after_sync
        report = await check(team_id=sync.team_id, org_id=sync.org_id)
        if report is None:
            return SettingsResult(checked=False)
        return SettingsResult(checked=True, lines=tuple(
            SettingLine(mark="ok" if state.ok else "error", text=setting_state_line(
                setting=state.setting, desired=state.desired, actual=state.actual, ok=state.ok))
            for state in report.settings))


def watch_steps(
    *, sync: TokenSync, sign_in: SignInWatch, refresh_always: bool, drift: DriftWatch | None = None
) -> list[CheckStep]:
    """The steps of every periodic check, in order (the token sync first: later steps use the fresh token)."""
    steps: list[CheckStep] = [TokenSyncStep(sync=sync, refresh_always=refresh_always), SignInStep(watch=sign_in)]
    if drift is not None:
        steps.append(DriftStep(drift=drift, on_demand=refresh_always))
    return steps


class OrgChecker:
    def __init__(
        self, *, store: Store, clock: Clock, steps: Sequence[CheckStep], process: str, lease: timedelta,
        concurrency: int = 10,
    ) -> None:
        """`process` names the kind of process (`serve`, `check-expiry`); each checker claims under a name of
        its own, so two processes of one kind do not take each other's claims for their own. A claim holds for
        `lease` and is renewed every third of it while its check runs (two renewals may fail before it lapses)."""
        self._store = store
        self._clock = clock
        self._steps = tuple(steps)
        self._owner = f"{process}:{uuid.uuid4().hex[:12]}"
        self._lease = lease
        self._renew_seconds = lease.total_seconds() / 3
        self._concurrency = concurrency

    async def check_due(self) -> int:
        """Check the orgs whose turn it is and nobody else is checking (one batch, side by side); how many."""
        now = self._clock.now()
        claimed = await self._store.run(lambda repos: repos.tracked_tokens.claim_due(
            now=now, limit=self._concurrency, by=self._owner, until=now + self._lease), immediate=True)
        await asyncio.gather(*(self._run_claimed(sync) for sync in claimed))
        return len(claimed)

    async def check_org(self, *, team_id: str, org_id: str) -> OrgCheckResult:
        """Check one org now, whenever its next check is due; not at all if another process is checking it."""
        sync = await self._claim(team_id=team_id, org_id=org_id)
        if sync is None:
            return OrgCheckResult(team_id=team_id, org_id=org_id, ran=False)
        return await self._run_claimed(sync)

    async def check_all(self) -> list[OrgCheckResult]:
        """Check every org of every workspace whose checks are scheduled, as `qc-bot serve` does over an interval
        (an org whose connection broke waits for someone to authorize again; `/qc check` still checks it)."""
        return await self.check_orgs(await self._store.run(lambda repos: repos.tracked_tokens.watched_orgs()))

    async def check_orgs(self, orgs: Sequence[tuple[str, str]]) -> list[OrgCheckResult]:
        """Check these (team, org) now, `concurrency` at a time."""
        slots = asyncio.Semaphore(self._concurrency)

        async def one(team: str, org: str) -> OrgCheckResult:
            async with slots:
                return await self.check_org(team_id=team, org_id=org)

        return list(await asyncio.gather(*(one(team, org) for team, org in orgs)))

    async def _run_claimed(self, sync: OrgSync) -> OrgCheckResult:
        results: list[StepResult] = []
        try:
            async with renewed_every(seconds=self._renew_seconds, renew=lambda: self._renew_claim(sync),
                                     what=f"the claim on org {sync.org_id}'s check"):
                for step in self._steps:
                    try:
                        results.append(await step.run(sync))
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        # One step's bug must not keep the others (or the other orgs) from being checked.
                        logger.exception("A check of org %s failed unexpectedly (%s)", sync.org_id,
                                         type(step).__name__)
        finally:
            await self._store.run(lambda repos: repos.tracked_tokens.release(
                team_id=sync.team_id, org_id=sync.org_id, by=self._owner))
        return OrgCheckResult(team_id=sync.team_id, org_id=sync.org_id, ran=True, results=tuple(results))

    async def _claim(self, *, team_id: str, org_id: str, renewal: bool = False) -> OrgSync | None:
        """Claim (or renew this checker's claim on) one org's check, whenever it is due; None if another has it.
        A renewal is one conditional UPDATE, atomic by itself: it need not queue behind every immediate
        transaction (on PostgreSQL, one advisory lock for all of them) several times a lease."""
        now = self._clock.now()
        return await self._store.run(lambda repos: repos.tracked_tokens.claim(
            team_id=team_id, org_id=org_id, now=now, by=self._owner, until=now + self._lease), immediate=not renewal)

    async def _renew_claim(self, sync: OrgSync) -> bool:
        if await self._claim(team_id=sync.team_id, org_id=sync.org_id, renewal=True) is not None:
            return True
        logger.warning("The check of org %s outlived its claim, which another process took; it finishes",
                       sync.org_id)
        return False


def org_checker(
    settings: Settings, *, store: Store, clock: Clock, access: OrgAccess, delivery: SlackDelivery, timings: Timings,
    process: str, on_demand: bool, drift: DriftWatch | None = None,
) -> OrgChecker:
    """The check as `qc-bot serve` runs it on its schedule, or `on_demand` (`qc-bot check-expiry`, `/qc check`):
    then qc-bot's token is refreshed and the app signs in even if an authorization or a proof just did, because
    whoever asks wants to know how things stand now."""
    sync = TokenSync(settings=settings, store=store, clock=clock, access=access, delivery=delivery)
    sign_in = SignInWatch(store=store, clock=clock, oauth=access.oauth, delivery=delivery, retry=timings.proof_retry,
                          proof_fresh_for=timedelta(0) if on_demand else settings.token_sync_interval)
    return OrgChecker(store=store, clock=clock, steps=watch_steps(sync=sync, sign_in=sign_in,
                                                                   refresh_always=on_demand, drift=drift),
                      process=process, lease=timings.lease_ttl)
