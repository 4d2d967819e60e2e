"""Drift (SPEC §4a): the QualityClouds app read back from the org and compared with SPEC §2, each distinct drift
announced once in the org's channel with a Repair (or, for a deleted app, Re-create) button, and a short note
once it is gone.

`check_drift` is the comparison alone: it reads the app with the provisioning readers and compares it with the
provisioning's own `find_drift`, so the checklist of a new connection and the drift watch can never disagree.
`DriftWatch` runs it for one org, records what is new or gone, and repairs: a repair is a connect journey of the
clicking admin on the org's stored authorization (`ConnectJourney.provision`), so it deploys, re-reads the
credentials and proves the sign-in exactly as a first connection does.

What was announced lives in `storage.drift_alerts` (org, setting, digest of the value the org has), not only in
outbox keys: the table knows when a drift ended, so the same drift coming back later is announced again, while
repeated or concurrent checks of a drift still open stay silent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.clock import Clock
from bot.config import Settings
from bot.connect.journey import ConnectJourney
from bot.messages import drift as words
from bot.messages.blocks import SlackMessage
from bot.orgs.access import OrgAccess
from bot.provisioning import connected_app, external_client_app
from bot.provisioning.checklist import ObservedApp, expected_values, find_drift
from bot.provisioning.provisioner import read_bundle
from bot.provisioning.settings import AppKind, DesiredApp
from bot.salesforce.errors import SalesforceError
from bot.salesforce.metadata import MetadataClient
from bot.slack.outbox import SlackDelivery
from storage import outbox_keys
from storage.connections import Environment
from storage.database import Repositories, Store
from storage.drift_alerts import DriftAlert
from storage.orgs import OrgRecord

logger = logging.getLogger(__name__)

REPAIR_TIMEOUT = timedelta(minutes=30)
"""A repair that has not ended by then (its process died) no longer stops another admin's Repair."""


@dataclass(frozen=True, kw_only=True)
class SettingState:
    setting: str
    desired: str
    actual: str
    ok: bool


@dataclass(frozen=True, kw_only=True)
class DriftReport:
    """One org's app against SPEC §2: every compared setting, and who changed the app last and when (where
    Salesforce says so, and only asked when something drifted)."""

    kind: AppKind
    app_exists: bool
    settings: list[SettingState]
    changed_by: str | None
    changed_at: datetime | None

    @property
    def drifted(self) -> list[SettingState]:
        return [state for state in self.settings if not state.ok]


async def check_drift(*, metadata: MetadataClient, desired: DesiredApp, run_as: str, kind: AppKind) -> DriftReport:
    """Read the app of `kind` back from the org and compare it with `desired` (raises `SalesforceError`)."""
    api_name = desired.api_name
    observed: ObservedApp | None
    if kind is AppKind.CONNECTED_APP:
        record = (await metadata.read(connected_app.TYPE, [api_name])).get(api_name)
        observed = None if record is None else connected_app.observe(record)
        components = {(connected_app.TYPE, api_name)}
    else:
        bundle = await read_bundle(metadata, api_name=api_name)
        observed = None if bundle.header is None else external_client_app.observe(bundle, api_name=api_name)
        components = {(external_client_app.HEADER, api_name),
                      *((satellite, name) for satellite, (name, _record) in bundle.satellites.items())}
    if observed is None:
        return DriftReport(kind=kind, app_exists=False, changed_by=None, changed_at=None, settings=[SettingState(
            setting=words.APP_SETTING, desired=f"{api_name} ({kind.label})", actual="deleted", ok=False)])
    drift = {item.setting: item.was for item in find_drift(desired=desired, run_as=run_as, observed=observed)}
    settings = [SettingState(setting=setting, desired=shown, actual=drift.get(setting, shown), ok=setting not in drift)
                for setting, shown in expected_values(desired=desired, run_as=run_as).items()]
    changed_by, changed_at = None, None
    if drift:
        stamps = [(at, properties.last_modified_by)
                  for properties in await metadata.list_properties(sorted({type_name for type_name, _ in components}))
                  if (properties.type_name, properties.full_name) in components
                  and (at := properties.last_modified_at) is not None]
        if stamps:
            # Setup may stamp the component it changed or the app itself: the latest of them is the change.
            changed_at, changed_by = max(stamps, key=lambda stamp: stamp[0])
    return DriftReport(kind=kind, app_exists=True, settings=settings, changed_by=changed_by, changed_at=changed_at)


class RepairStart(StrEnum):
    STARTED = "started"
    NOTHING_TO_DO = "nothing_to_do"
    """The drift was resolved, or another repair holds it."""
    GONE = "gone"
    """The alert or its org is not this workspace's, or the org is no longer connected."""


@dataclass(frozen=True, kw_only=True)
class _Watched:
    org: OrgRecord
    run_as: str
    kind: AppKind
    environment: Environment


class DriftWatch:
    def __init__(
        self, *, settings: Settings, store: Store, clock: Clock, access: OrgAccess, delivery: SlackDelivery,
        journey: ConnectJourney | None,
    ) -> None:
        """`journey` runs repairs; None where no repair is ever started (`qc-bot check-expiry`: a click on Repair
        reaches `qc-bot serve`)."""
        self._settings = settings
        self._store = store
        self._clock = clock
        self._access = access
        self._delivery = delivery
        self._journey = journey
        self._tasks: set[asyncio.Task[None]] = set()

    async def check_after_sync(self, *, team_id: str, org_id: str) -> DriftReport | None:
        """The periodic check, run after each token sync of an org: skipped while a journey of the org is under way
        or had just provisioned its app (it repairs, then reads the app back itself), so a deploy in progress or
        just made is never taken for a change in Setup."""
        since = self._clock.now() - self._settings.token_sync_interval

        def just_provisioned(repos: Repositories) -> bool:
            # The latest provisioned journey, not the latest journey: a new one still waiting for its link to be
            # used must not hide that the app was just deployed and read back.
            latest = repos.connections.latest_for_org(team_id=team_id, org_id=org_id, status="provisioned")
            return latest is not None and latest.finished_at is not None and latest.finished_at > since

        if await self._store.run(just_provisioned):
            return None
        return await self.check_org(team_id=team_id, org_id=org_id)

    async def check_org(self, *, team_id: str, org_id: str) -> DriftReport | None:
        """Check one org and tell its channel what drifted or was resolved since the last check. None when the org
        has no provisioned app to check, a journey of it is under way (a deploy in flight is no change in Setup, in
        this process or another), or Salesforce did not answer (logged; the next check tries again)."""

        def in_flight(repos: Repositories) -> bool:
            latest = repos.connections.latest_for_org(team_id=team_id, org_id=org_id)
            return latest is not None and latest.status in ("authorized", "provisioning")

        if await self._store.run(in_flight):
            return None
        watched = await self._store.run(lambda repos: _watched(repos, team_id=team_id, org_id=org_id))
        if watched is None:
            return None
        metadata = self._access.metadata(self._access.session(watched.org))
        try:
            report = await check_drift(metadata=metadata, desired=self._settings.desired_app, run_as=watched.run_as,
                                       kind=watched.kind)
        except SalesforceError as exc:
            logger.warning("Could not read the app of org %s back for the drift check: %s", org_id, exc.message)
            return None
        now = self._clock.now()
        if await self._store.run(lambda repos: self._record(repos, watched.org, report, now=now), immediate=True):
            self._delivery.wake()
        return report

    def _record(self, repos: Repositories, org: OrgRecord, report: DriftReport, *, now: datetime) -> bool:
        """Open an alert for each drift not open yet and end those that are gone, in one transaction; True if
        anything was queued for Slack."""
        open_alerts = {alert.setting: alert for alert in repos.drift_alerts.open_for_org(team_id=org.team_id,
                                                                                        org_id=org.org_id)}
        queued = False
        for state in report.drifted:
            digest = hashlib.sha256(state.actual.encode()).hexdigest()
            current = open_alerts.pop(state.setting, None)
            if current is not None and current.observed_digest == digest:
                continue
            if current is not None:
                # Changed again to yet another value: the new value is the news, announced as its own drift.
                repos.drift_alerts.close(current.id, resolution="superseded", now=now)
            alert = repos.drift_alerts.open(team_id=org.team_id, org_id=org.org_id, setting=state.setting,
                                            observed_digest=digest, expected=state.desired, observed=state.actual,
                                            changed_by=report.changed_by, changed_at=report.changed_at, now=now)
            if alert is None:
                continue
            _post(repos, org, key=outbox_keys.drift_alert(team_id=org.team_id, org_id=org.org_id, alert_id=alert.id),
                  message=words.drift_alert(self._notice(org, alert)), now=now, broadcast=True)
            repos.audit.append(at=now, team_id=org.team_id, actor="qc-bot", action="drift", target=org.org_id,
                               outcome="found", detail={"setting": state.setting, "alert": alert.id})
            queued = True
        if not report.app_exists:
            return queued  # a deleted app's settings are not back: their alerts stay open until it is re-created
        for alert in open_alerts.values():
            repaired_by = alert.repair_by if alert.repair_started_at is not None else None
            if not repos.drift_alerts.close(alert.id, resolution="repaired" if repaired_by else "resolved", now=now):
                continue
            outcome = words.drift_repaired(repaired_by) if repaired_by else words.drift_fixed_elsewhere()
            self._edit(repos, org, alert, step="ended", outcome=outcome, now=now)
            _post(repos, org, key=outbox_keys.drift_resolved(team_id=org.team_id, org_id=org.org_id,
                                                             alert_id=alert.id),
                  message=words.drift_resolved(org_name=org.org_name, setting=alert.setting,
                                               app_name=self._settings.desired_app.api_name, repaired_by=repaired_by),
                  now=now)
            repos.audit.append(at=now, team_id=org.team_id, actor=repaired_by or "qc-bot", action="drift",
                               target=org.org_id, outcome="repaired" if repaired_by else "resolved",
                               detail={"setting": alert.setting, "alert": alert.id})
            queued = True
        return queued

    # -- repair --------------------------------------------------------------------------------------------------

    async def repair(self, *, team_id: str, user_id: str, alert_id: int) -> RepairStart:
        """Start a repair of the org an alert is about, for an admin (the caller checked): claim its open drifts,
        open a journey on the org's stored authorization and run it in the background."""
        now = self._clock.now()

        def claim(repos: Repositories) -> tuple[RepairStart, str | None, str]:
            alert = repos.drift_alerts.get(alert_id)
            if alert is None or alert.team_id != team_id:
                return RepairStart.GONE, None, ""
            watched = _watched(repos, team_id=team_id, org_id=alert.org_id)
            if watched is None:
                return RepairStart.GONE, None, ""
            claimed = repos.drift_alerts.start_repair(team_id=team_id, org_id=alert.org_id, user_id=user_id, now=now,
                                                      stale_before=now - REPAIR_TIMEOUT)
            if not claimed:
                return RepairStart.NOTHING_TO_DO, None, ""
            org = watched.org
            connection_id = uuid.uuid4().hex
            repos.connections.create(connection_id=connection_id, team_id=team_id, enterprise_id=None,
                                     user_id=user_id, channel_id=org.channel_id,
                                     environment=watched.environment,
                                     login_url=org.login_url, run_as=watched.run_as, now=now)
            repos.connections.transition(connection_id, expected=["pending_auth"], to="authorized", now=now,
                                         org_id=org.org_id)
            for each in claimed:
                self._edit(repos, org, each, step=f"repairing-{int(now.timestamp())}",
                           outcome=words.drift_repairing(user_id), now=now)
            repos.audit.append(at=now, team_id=team_id, actor=user_id, action="drift_repair", target=org.org_id,
                               outcome="started", detail={"connection": connection_id,
                                                          "settings": [each.setting for each in claimed]})
            return RepairStart.STARTED, connection_id, org.org_id

        started, connection_id, org_id = await self._store.run(claim, immediate=True)
        if connection_id is not None:
            self._delivery.wake()
            task = asyncio.create_task(self._run_repair(team_id=team_id, org_id=org_id, user_id=user_id,
                                                        connection_id=connection_id),
                                       name=f"drift-repair-{connection_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return started

    async def _run_repair(self, *, team_id: str, org_id: str, user_id: str, connection_id: str) -> None:
        try:
            if self._journey is None:
                raise RuntimeError("a repair was started where no journey runs")
            await self._journey.provision(connection_id)
            connection = await self._store.run(lambda repos: repos.connections.get(connection_id))
            if connection is not None and connection.status == "provisioned":
                await self.check_org(team_id=team_id, org_id=org_id)
        except Exception:
            logger.exception("The drift repair of connection %s failed unexpectedly", connection_id)
        finally:
            # Also when the repair itself crashed: its alerts are released, so Repair can be pressed again.
            await self._repair_ended(team_id=team_id, org_id=org_id, user_id=user_id)

    async def _repair_ended(self, *, team_id: str, org_id: str, user_id: str) -> None:
        """What the repair did not fix is released, and its alerts say so, so Repair can be pressed again."""
        now = self._clock.now()

        def release(repos: Repositories) -> bool:
            org = repos.orgs.get(team_id=team_id, org_id=org_id)
            left = [alert for alert in repos.drift_alerts.open_for_org(team_id=team_id, org_id=org_id)
                    if alert.repair_by == user_id and alert.repair_started_at is not None]
            if org is None or not left:
                return False
            repos.drift_alerts.end_repair(team_id=team_id, org_id=org_id)
            for alert in left:
                self._edit(repos, org, alert, step=f"failed-{int(now.timestamp())}",
                           outcome=words.drift_repair_failed(user_id), now=now, actionable=True)
            return True

        if await self._store.run(release, immediate=True):
            self._delivery.wake()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- messages ------------------------------------------------------------------------------------------------

    def _notice(self, org: OrgRecord, alert: DriftAlert) -> words.DriftNotice:
        return words.DriftNotice(org_name=org.org_name, org_id=org.org_id,
                                 app_name=self._settings.desired_app.api_name, setting=alert.setting,
                                 expected=alert.expected, observed=alert.observed, changed_by=alert.changed_by,
                                 changed_at=alert.changed_at, alert_id=alert.id)

    def _edit(self, repos: Repositories, org: OrgRecord, alert: DriftAlert, *, step: str, outcome: str,
              now: datetime, actionable: bool = False) -> None:
        of = outbox_keys.drift_alert(team_id=org.team_id, org_id=org.org_id, alert_id=alert.id)
        if repos.notifications.get(of) is None:
            return  # cancelled with the org's other warnings when it was disconnected
        repos.notifications.enqueue_update(
            dedupe_key=outbox_keys.drift_alert_edit(team_id=org.team_id, org_id=org.org_id, alert_id=alert.id,
                                                    step=step),
            of=of, payload=words.drift_alert(self._notice(org, alert), outcome=outcome,
                                             actionable=actionable).as_payload(), now=now)


def _post(
    repos: Repositories, org: OrgRecord, *, key: str, message: SlackMessage, now: datetime, broadcast: bool = False
) -> None:
    """Every drift message reaches the org's channel through here: a reply in the thread of the org's card (SPEC
    §3), an alert also broadcast to the channel (it needs everyone's attention now)."""
    repos.notifications.enqueue(dedupe_key=key, team_id=org.team_id, channel_id=org.channel_id,
                                payload=message.as_payload(), now=now, fallback_user_id=org.connected_by,
                                thread_of=org.card_key, broadcast=broadcast)


def _watched(repos: Repositories, *, team_id: str, org_id: str) -> _Watched | None:
    """The org with what its app was provisioned as; None unless it is connected with a provisioned app."""
    org = repos.orgs.get(team_id=team_id, org_id=org_id)
    if org is None or org.status != "connected" or org.access_token is None:
        return None
    last = repos.connections.latest_for_org(team_id=team_id, org_id=org_id, status="provisioned")
    kind = org.app_kind or (last.app_kind if last is not None else None)
    if last is None or kind is None:
        return None
    return _Watched(org=org, run_as=last.run_as or org.salesforce_username, kind=AppKind(kind),
                    environment=last.environment)
