"""`/qc disconnect-org <org> [delete-app]` (SPEC §3): forget an org.

In this order, so a failure leaves things as they were or finishes the job:
1. with `delete-app`, delete the QualityClouds app from the org (while the bot still has access); if
   Salesforce refuses, nothing else happens and the admin is told why;
2. revoke the bot's refresh token at Salesforce (which ends its access tokens too); if Salesforce cannot be
   reached the token is still deleted below, and the admin is told how to revoke it by hand;
3. in one transaction: delete every stored token and credential of the org, stop watching its tokens,
   cancel its unsent expiry warnings, write the audit log and tell the org's channel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from bot import messages
from bot.clock import Clock
from bot.config import Settings
from bot.failures import DisconnectProblem, failure_of
from bot.leases import Leases
from bot.orgs.access import OrgAccess
from bot.provisioning.removal import AppRemover
from bot.salesforce.errors import SalesforceError
from bot.slack.outbox import SlackDelivery
from storage import leases, outbox_keys
from storage.database import Repositories, Store
from storage.orgs import OrgRecord
from storage.orgs import OrgSummary as OrgSummary  # what a lookup finds, for the handlers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrgLookup:
    org: OrgSummary | None
    problem: Literal["not_found", "ambiguous"] | None = None
    candidates: list[OrgSummary] = field(default_factory=list)
    """Every connected org (not found) or the orgs sharing the name (ambiguous)."""


@dataclass(frozen=True, kw_only=True)
class DisconnectOutcome:
    problem: DisconnectProblem | None
    """Why the org is still connected; None when it is disconnected, or was already (`gone`)."""
    gone: bool = False
    """The org was not connected (any more) when the disconnect ran."""
    detail: str | None = None
    org_name: str = ""
    org_id: str = ""
    app_deleted: bool = False
    revoked: bool = False


class Disconnector:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        access: OrgAccess,
        delivery: SlackDelivery,
        leases: Leases,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._access = access
        self._delivery = delivery
        self._leases = leases

    async def find(self, *, team_id: str, target: str) -> OrgLookup:
        """The workspace's org with this id (15 or 18 characters) or this name (any case)."""
        orgs = await self._store.run(lambda repos: repos.orgs.for_team(team_id=team_id))
        by_id = [org for org in orgs if len(target) in (15, 18) and org.org_id[:15] == target[:15]]
        if by_id:
            return OrgLookup(by_id[0])
        by_name = [org for org in orgs if org.org_name.casefold() == target.casefold()]
        if len(by_name) == 1:
            return OrgLookup(by_name[0])
        if by_name:
            return OrgLookup(None, "ambiguous", by_name)
        return OrgLookup(None, "not_found", orgs)

    async def disconnect(self, *, team_id: str, user_id: str, org_id: str, delete_app: bool) -> DisconnectOutcome:
        org = await self._store.run(lambda repos: repos.orgs.get(team_id=team_id, org_id=org_id))
        if org is None or org.status == "disconnected":
            return DisconnectOutcome(problem=None, gone=True)
        app_deleted: list[str] = []
        if delete_app:
            try:
                app_deleted = await self._delete_app(org)
            except _AppNotDeleted as failure:
                await self._audit(org, user_id=user_id, outcome=f"failed:{failure.code}",
                                  detail={"delete_app": True})
                return DisconnectOutcome(problem=failure.code, detail=failure.detail, org_name=org.org_name,
                                         org_id=org.org_id)
        revoked = await self._revoke(team_id=team_id, org_id=org_id)
        now = self._clock.now()
        notice = messages.org_disconnected_notice(org_name=org.org_name, org_id=org.org_id, user_id=user_id,
                                                  app_deleted=bool(app_deleted),
                                                  app_name=self._settings.desired_app.api_name)

        def forget(repos: Repositories) -> bool:
            if not repos.orgs.disconnect(team_id=team_id, org_id=org_id, now=now):
                return False
            dropped = repos.tracked_tokens.forget_org(team_id=team_id, org_id=org_id)
            cancelled = repos.notifications.cancel_org_warnings(team_id=team_id, org_id=org_id,
                                                               reason="org disconnected")
            repos.notifications.enqueue(dedupe_key=outbox_keys.org_disconnected(team_id=team_id, org_id=org_id),
                                        team_id=team_id, channel_id=org.channel_id, payload=notice.as_payload(),
                                        now=now, thread_of=org.card_key)
            repos.audit.append(at=now, team_id=team_id, actor=user_id, action="disconnect", target=org_id,
                               outcome="disconnected",
                               detail={"delete_app": delete_app, "app_deleted": app_deleted, "revoked": revoked,
                                       "tokens_unwatched": dropped, "warnings_cancelled": cancelled})
            return True

        if not await self._store.run(forget, immediate=True):
            return DisconnectOutcome(problem=None, gone=True)
        self._delivery.wake()
        logger.info("Org %s disconnected by %s (app deleted: %s, revoked: %s)", org_id, user_id,
                    bool(app_deleted), revoked)
        return DisconnectOutcome(problem=None, org_name=org.org_name, org_id=org.org_id,
                                 app_deleted=bool(app_deleted), revoked=revoked)

    async def _delete_app(self, org: OrgRecord) -> list[str]:
        if org.status != "connected" or org.access_token is None:
            raise _AppNotDeleted(DisconnectProblem.NO_ACCESS, None)
        remover = AppRemover(metadata=self._access.metadata(self._access.session(org)))
        # Under the org's lease: a journey or a rotation deploying the same app meanwhile (on any replica) would
        # race the deletion.
        async with self._leases.waiting_for(leases.org(team_id=org.team_id, org_id=org.org_id),
                                            work=f"disconnect:{org.org_id}"):
            try:
                return await remover.remove(api_name=self._settings.desired_app.api_name)
            except SalesforceError as exc:
                failure, detail = failure_of(exc)
                raise _AppNotDeleted(DisconnectProblem.deleting_app(failure), detail) from exc

    async def _revoke(self, *, team_id: str, org_id: str) -> bool:
        """Revoke the bot's token as stored now (deleting the app may have refreshed or rotated it)."""
        org = await self._store.run(lambda repos: repos.orgs.get(team_id=team_id, org_id=org_id))
        token = None if org is None else (org.refresh_token or org.access_token)
        if org is None or token is None:
            return True
        try:
            await self._access.oauth.revoke(login_url=org.login_url, token=token)
        except SalesforceError as exc:
            logger.warning("Could not revoke qc-bot's token for org %s: %s", org_id, exc.message)
            return False
        return True

    async def _audit(self, org: OrgRecord, *, user_id: str, outcome: str, detail: dict[str, object]) -> None:
        now = self._clock.now()
        await self._store.run(lambda repos: repos.audit.append(
            at=now, team_id=org.team_id, actor=user_id, action="disconnect", target=org.org_id, outcome=outcome,
            detail=detail))


class _AppNotDeleted(Exception):
    def __init__(self, code: DisconnectProblem, detail: str | None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail
