"""Keeping the watched tokens of each org in step with Salesforce (SPEC §4), one org at a time, periodically.

A sync of one org:
1. refreshes the bot's own refresh token (unless an authorization issued it within the last interval):
   that both proves it still works and keeps an inactivity policy from running out. `invalid_grant` (or
   `inactive_user`) means the connection is broken: the org is marked broken, the channel is told once, and
   syncing pauses until someone authorizes again;
2. reads the QualityClouds app's refresh tokens where the org keeps them: a Connected App's in the
   `OauthToken` object (AppName is the app's label); an External Client App's in its Connect REST OAuth
   Usage (Salesforce documents them as visible only there), and in `OauthToken` too, in case an org lists
   them there as well. One token per Salesforce user is watched, the newest: an older token of the same
   user is one Quality Clouds has replaced (warning about it would be noise), and a token seen in both
   places is the same user's same token, so it counts once;
3. stores each token with its expiry under the policy (the bot's own client policy from
   SALESFORCE_REFRESH_TOKEN_POLICY; for the app, the policy read back when it was provisioned) and its
   warning schedule (bot.watch.expiry).

A failure that is not the token's fault (Salesforce down, a refused query) keeps what is known and tries
again at the next interval. The org refusing to show the app's OAuth Usage to the user who authorized
qc-bot (a missing permission) is said once in the org's channel, with the remedy; the org stays connected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot import messages
from bot.clock import Clock
from bot.config import Settings
from bot.failures import TokenReadProblem
from bot.orgs.access import OrgAccess
from bot.provisioning.settings import AppKind, RefreshTokenPolicy
from bot.salesforce.errors import OAuthError, SalesforceError
from bot.salesforce.oauth_usage import OAuthUsageClient
from bot.salesforce.rest import RestClient, parse_datetime, soql_string
from bot.salesforce.session import OrgSession
from bot.slack.outbox import SlackDelivery
from bot.watch.expiry import TokenObservation, stop_watching, thresholds_with_expiry, track
from storage import outbox_keys
from storage.database import Repositories, Store
from storage.orgs import OrgRecord
from storage.tracked_tokens import OrgSync, TrackedToken, token_key

logger = logging.getLogger(__name__)

BOT_APP_NAME = "qc-bot"
# Refresh errors that say the token itself is finished, as opposed to Salesforce or our client being unwell.
BROKEN_TOKEN_ERRORS = frozenset({"invalid_grant", "inactive_user"})


class SyncOutcome(StrEnum):
    SYNCED = "synced"
    PARTIAL = "partial"
    """The bot's token works, but some of the app's tokens could not be read (what was known is kept)."""
    BROKEN = "broken"
    """Salesforce refused the bot's refresh token: the connection is broken (the channel is told once)."""
    FAILED = "failed"
    """Salesforce did not answer as it should; tried again at the next interval."""
    PAUSED = "paused"
    """Nothing to sync with: the org is broken or disconnected."""


@dataclass(frozen=True, kw_only=True)
class _AppToken:
    """A refresh token of the app as one place showed it."""

    user_id: str
    username: str | None
    created_at: datetime
    last_used_at: datetime | None

    def newer_than(self, other: _AppToken) -> bool:
        # The same token seen twice has one creation time; then the later use is the better news.
        return (self.created_at, self.last_used_at or self.created_at) > (
            other.created_at, other.last_used_at or other.created_at)


@dataclass(kw_only=True)
class _AppTokenRead:
    newest: dict[str, _AppToken] = field(default_factory=dict)
    """The newest token of each Salesforce user, by user id."""
    complete: bool = True
    """Every place was read: a watched token not seen any more is gone."""
    error: str | None = None
    refused: TokenReadProblem | None = None

    def see(self, token: _AppToken) -> None:
        current = self.newest.get(token.user_id)
        if current is None or token.newer_than(current):
            self.newest[token.user_id] = token

    def failed(self, where: str, exc: SalesforceError) -> None:
        self.complete = False
        self.error = f"reading {where}: {exc.message}"
        self.refused = self.refused or TokenReadProblem.of(exc)


class TokenSync:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        access: OrgAccess,
        delivery: SlackDelivery,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._access = access
        self._delivery = delivery
        self._thresholds = thresholds_with_expiry(settings.expiry_warn_days)

    async def sync_org(self, sync: OrgSync, *, refresh_always: bool = False) -> SyncOutcome:
        """Sync one org whose check the caller has claimed (bot.watch.org_check). `refresh_always` refreshes
        the bot's token even when an authorization issued it moments ago: a one-off check must notice a token
        revoked since."""
        try:
            return await self._sync(sync, refresh_always=refresh_always)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Syncing the tokens of org %s failed unexpectedly", sync.org_id)
            await self._retry_later(sync, "internal error")
            return SyncOutcome.FAILED

    async def _sync(self, sync: OrgSync, *, refresh_always: bool) -> SyncOutcome:
        def load(repos: Repositories) -> tuple[OrgRecord | None, dict[str, TrackedToken], str | None]:
            org = repos.orgs.get(team_id=sync.team_id, org_id=sync.org_id)
            known = {token.key: token for token in repos.tracked_tokens.for_org(team_id=sync.team_id,
                                                                                  org_id=sync.org_id)}
            provisioned = repos.connections.latest_for_org(team_id=sync.team_id, org_id=sync.org_id,
                                                           status="provisioned")
            return org, known, None if provisioned is None else provisioned.app_kind or ""

        org, known, provisioned_kind = await self._store.run(load)
        if org is None or org.status != "connected" or org.refresh_token is None:
            # Nothing to sync with until someone authorizes again (which schedules the next sync).
            now = self._clock.now()
            await self._store.run(lambda repos: repos.tracked_tokens.record_sync(
                team_id=sync.team_id, org_id=sync.org_id, next_sync_at=None, now=now,
                error=f"paused: the org is {org.status if org else 'unknown'}"))
            return SyncOutcome.PAUSED
        issued_at = org.token_issued_at or org.created_at
        if not refresh_always and self._clock.now() - issued_at < self._settings.token_sync_interval:
            # Issued moments ago by an authorization: it works, and refreshing would prove nothing.
            session = self._access.session(org)
            last_used = issued_at
        else:
            try:
                access_token = await self._access.refresh(org)
            except OAuthError as exc:
                if exc.error in BROKEN_TOKEN_ERRORS:
                    await self._broken(org, exc)
                    return SyncOutcome.BROKEN
                await self._retry_later(sync, f"token refresh: {exc.message}")
                return SyncOutcome.FAILED
            except SalesforceError as exc:
                await self._retry_later(sync, f"token refresh: {exc.message}")
                return SyncOutcome.FAILED
            session = OrgSession(instance_url=org.instance_url, access_token=access_token, refresh=None)
            last_used = self._clock.now()
        app_name, app_policy = self._app_of(sync, provisioned=provisioned_kind is not None)
        app_tokens: list[TokenObservation] = []
        read = _AppTokenRead(complete=False)  # nothing read: nothing known is dropped
        if app_name is not None and app_policy is not None:
            kind = org.app_kind or provisioned_kind
            rest = self._access.rest(session)
            read = await self._read_app_tokens(rest, org=org, app_name=app_name,
                                               external_client_app=kind == AppKind.EXTERNAL_CLIENT_APP.value)
            app_tokens = await self._observations(rest, read, org=org, app_name=app_name, policy=app_policy,
                                                  known=known)
            if read.error is not None:
                logger.warning("Could not read every %s token of org %s: %s", app_name, org.org_id, read.error)
        bot_token = TokenObservation(
            key=token_key(team_id=org.team_id, org_id=org.org_id, kind="bot"), team_id=org.team_id,
            org_id=org.org_id, kind="bot", app_name=BOT_APP_NAME, salesforce_user_id=org.salesforce_user_id,
            salesforce_username=org.salesforce_username, policy=self._settings.bot_refresh_token_policy,
            issued_at=issued_at, last_used_at=last_used,
        )
        now = self._clock.now()

        def save(repos: Repositories) -> bool:
            # Salesforce answered slowly: if the org was disconnected or authorized afresh meanwhile, what this
            # sync learned is stale and must not bring tokens or warnings back.
            latest = repos.orgs.get(team_id=org.team_id, org_id=org.org_id)
            if (latest is None or latest.status != "connected" or latest.token_issued_at != org.token_issued_at
                    or repos.tracked_tokens.sync_of(team_id=org.team_id, org_id=org.org_id) is None):
                logger.info("The tokens of org %s changed during its sync; its results are dropped", org.org_id)
                return False
            # Re-read inside the write: a warning the scan recorded since `load` must not be forgotten.
            current = {token.key: token for token in repos.tracked_tokens.for_org(team_id=org.team_id,
                                                                                  org_id=org.org_id)}
            observed = [bot_token, *app_tokens]
            for observation in observed:
                repos.tracked_tokens.save(track(observation, previous=current.get(observation.key),
                                                thresholds=self._thresholds, now=now))
            if read.complete:
                seen = {observation.key for observation in observed}
                stop_watching(repos, team_id=org.team_id, org_id=org.org_id,
                              keys=[key for key, token in current.items() if token.kind == "app" and key not in seen],
                              reason="the token is gone from Salesforce (revoked)")
            repos.tracked_tokens.record_sync(team_id=org.team_id, org_id=org.org_id,
                                             next_sync_at=now + self._settings.token_sync_interval, now=now,
                                             error=read.error)
            if read.refused is not None and app_name is not None:
                self._tell_unreadable(repos, org=org, app_name=app_name, problem=read.refused,
                                      detail=read.error or "", now=now)
            return True

        if not await self._store.run(save, immediate=True):
            return SyncOutcome.PAUSED
        if read.refused is not None:
            self._delivery.wake()
        return SyncOutcome.SYNCED if read.error is None else SyncOutcome.PARTIAL

    def _app_of(self, sync: OrgSync, *, provisioned: bool) -> tuple[str | None, RefreshTokenPolicy | None]:
        """The app whose tokens to read and its policy: as recorded when it was provisioned; for orgs provisioned
        before that was recorded, the configured app. None while the first provisioning is still running."""
        if sync.app_name is not None and sync.app_policy is not None:
            return sync.app_name, RefreshTokenPolicy.from_connected_app(sync.app_policy)
        if provisioned:
            desired = self._settings.desired_app
            return desired.label, desired.refresh_token_policy
        return None, None

    async def _read_app_tokens(
        self, rest: RestClient, *, org: OrgRecord, app_name: str, external_client_app: bool
    ) -> _AppTokenRead:
        read = _AppTokenRead()
        if external_client_app:
            try:
                usage = await OAuthUsageClient(rest=rest).tokens(developer_name=self._settings.desired_app.api_name)
            except SalesforceError as exc:
                read.failed("the OAuth Usage", exc)
            else:
                for token in usage:
                    read.see(_AppToken(user_id=token.user_id, username=token.username, created_at=token.created_at,
                                       last_used_at=token.last_used_at))
        try:
            records = await rest.query("SELECT AppName, CreatedDate, LastUsedDate, UserId FROM OauthToken"
                                       f" WHERE AppName = {soql_string(app_name)}")
        except SalesforceError as exc:
            read.failed("OauthToken", exc)
            return read
        for record in records:
            user_id, created = record.get("UserId"), parse_datetime(record.get("CreatedDate"))
            if isinstance(user_id, str) and created is not None:
                read.see(_AppToken(user_id=user_id, username=None, created_at=created,
                                   last_used_at=parse_datetime(record.get("LastUsedDate"))))
        return read

    async def _observations(
        self, rest: RestClient, read: _AppTokenRead, *, org: OrgRecord, app_name: str, policy: RefreshTokenPolicy,
        known: Mapping[str, TrackedToken],
    ) -> list[TokenObservation]:
        usernames = {token.salesforce_user_id: token.salesforce_username for token in known.values()}
        observations = []
        for user_id, token in read.newest.items():
            username = token.username or usernames.get(user_id)
            if username is None:
                try:
                    username = await _username(rest, user_id)
                except SalesforceError as exc:  # the token is watched all the same; its owner is asked next time
                    logger.warning("Could not read the username of %s in org %s: %s", user_id, org.org_id,
                                   exc.message)
            observations.append(TokenObservation(
                key=token_key(team_id=org.team_id, org_id=org.org_id, kind="app", salesforce_user_id=user_id),
                team_id=org.team_id, org_id=org.org_id, kind="app", app_name=app_name, salesforce_user_id=user_id,
                salesforce_username=username, policy=policy, issued_at=token.created_at,
                last_used_at=token.last_used_at,
            ))
        return observations

    def _tell_unreadable(
        self, repos: Repositories, *, org: OrgRecord, app_name: str, problem: TokenReadProblem, detail: str,
        now: datetime,
    ) -> None:
        key = outbox_keys.app_tokens_unreadable(team_id=org.team_id, org_id=org.org_id,
                                                issued_at=org.token_issued_at or org.created_at, problem=problem)
        message = messages.app_tokens_unreadable(org_name=org.org_name, org_id=org.org_id, app_name=app_name,
                                                 username=org.salesforce_username, problem=problem, detail=detail)
        repos.notifications.enqueue(dedupe_key=key, team_id=org.team_id, channel_id=org.channel_id,
                                    payload=message.as_payload(), now=now, fallback_user_id=org.connected_by,
                                    thread_of=org.card_key)

    async def _broken(self, org: OrgRecord, exc: OAuthError) -> None:
        now = self._clock.now()
        detail = f"{exc.error}: {exc.description}" if exc.description else exc.error
        message = messages.connection_broken(org_name=org.org_name, org_id=org.org_id, detail=detail)

        def mark(repos: Repositories) -> bool:
            repos.tracked_tokens.record_sync(team_id=org.team_id, org_id=org.org_id, next_sync_at=None, now=now,
                                             error=detail)
            if not repos.orgs.mark_broken(team_id=org.team_id, org_id=org.org_id, now=now):
                return False
            repos.tracked_tokens.silence(token_key(team_id=org.team_id, org_id=org.org_id, kind="bot"))
            key = outbox_keys.connection_broken(team_id=org.team_id, org_id=org.org_id,
                                                issued_at=org.token_issued_at or org.created_at)
            repos.notifications.enqueue(dedupe_key=key, team_id=org.team_id, channel_id=org.channel_id,
                                        payload=message.as_payload(), now=now, fallback_user_id=org.connected_by,
                                        thread_of=org.card_key, broadcast=True)
            repos.audit.append(at=now, team_id=org.team_id, actor=BOT_APP_NAME, action="token_check",
                               target=org.org_id, outcome="broken", detail={"error": exc.error})
            return True

        if await self._store.run(mark, immediate=True):
            logger.warning("qc-bot's refresh token for org %s stopped working (%s); the channel was told",
                           org.org_id, exc.error)
            self._delivery.wake()

    async def _retry_later(self, sync: OrgSync, error: str) -> None:
        now = self._clock.now()
        logger.warning("Token sync of org %s failed (%s); trying again in %s", sync.org_id, error,
                       self._settings.token_sync_interval)
        await self._store.run(lambda repos: repos.tracked_tokens.record_sync(
            team_id=sync.team_id, org_id=sync.org_id, next_sync_at=now + self._settings.token_sync_interval,
            now=now, error=error))


async def _username(rest: RestClient, user_id: str) -> str | None:
    records = await rest.query(f"SELECT Id, Username FROM User WHERE Id = {soql_string(user_id)}")
    username = records[0].get("Username") if records else None
    return username if isinstance(username, str) else None
