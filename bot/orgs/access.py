"""The bot's own access to a connected org: API clients on the org's stored tokens, and the refresh that keeps
them working. One object owns this, so every service reaches Salesforce the same way and a refreshed token is
stored only while the org is still connected.

An org's refresh token may rotate at every use, so two refreshes with the same token at once would leave one of
them with a dead token (`invalid_grant`, a false "broken"). A refresh therefore runs under the org's lease
(storage.leases.token_refresh), whichever replica or process asks; one that finds the lease held waits for it and
then uses the token the other stored."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from bot.clock import Clock
from bot.config import Settings
from bot.leases import LeaseBusy, Leases
from bot.redaction import Secret
from bot.salesforce.errors import SalesforceUnavailable
from bot.salesforce.http import SalesforceHttp
from bot.salesforce.metadata import MetadataClient
from bot.salesforce.oauth import SalesforceOAuth
from bot.salesforce.rest import RestClient
from bot.salesforce.session import OrgSession
from bot.timings import Timings
from storage import leases
from storage.database import Store
from storage.orgs import OrgRecord

logger = logging.getLogger(__name__)


class OrgAccess:
    def __init__(
        self, *, http: SalesforceHttp, oauth: SalesforceOAuth, store: Store, clock: Clock, leases: Leases,
        refresh_wait_seconds: float,
    ) -> None:
        self.http = http
        self.oauth = oauth
        self._store = store
        self._clock = clock
        self._leases = leases
        self._refresh_wait_seconds = refresh_wait_seconds

    async def refresh(self, org: OrgRecord) -> Secret:
        """A fresh access token for `org`: use its stored refresh token once and store what Salesforce returned
        (a rotated refresh token included), unless the org was disconnected meanwhile; or, when another process (or
        task) refreshed since `org` was read, the token that one stored. Raises the OAuth error as Salesforce sent it
        (`invalid_grant` when the token is dead), and `SalesforceUnavailable` (transient) when another process
        held the org's refresh for longer than `refresh_wait_seconds`."""
        assert org.refresh_token is not None
        name = leases.token_refresh(team_id=org.team_id, org_id=org.org_id)
        try:
            # Never cancelled by a lost renewal: a refresh cut in half could lose a rotated token.
            async with self._leases.waiting_for(name, work=f"refresh:{org.org_id}",
                                                wait_seconds=self._refresh_wait_seconds, cancel_on_loss=False):
                current = await self._store.run(lambda repos: repos.orgs.get(team_id=org.team_id,
                                                                             org_id=org.org_id))
                if current is not None and current.access_token is not None and (
                        current.access_token != org.access_token or current.refresh_token != org.refresh_token):
                    logger.info("Org %s's token was refreshed meanwhile; using that one", org.org_id)
                    return current.access_token
                # Shielded: once Salesforce has rotated the token, the new one must be stored even if this
                # task is cancelled (a shutdown), or the org would be left with a dead token.
                return await asyncio.shield(self._refresh_held(org))
        except LeaseBusy:
            raise SalesforceUnavailable(f"another process kept refreshing the token of org {org.org_id}") from None

    async def _refresh_held(self, org: OrgRecord) -> Secret:
        assert org.refresh_token is not None
        refresh_token = org.refresh_token
        token = await self.oauth.refresh(login_url=org.login_url, refresh_token=refresh_token)
        now = self._clock.now()
        rotated = token.refresh_token if token.refresh_token != refresh_token else None
        stored = await self._store.run(lambda repos: repos.orgs.save_access_token(
            team_id=org.team_id, org_id=org.org_id, access_token=token.access_token, refresh_token=rotated,
            now=now))
        if stored:
            logger.info("Refreshed the access token of org %s", org.org_id)
        else:
            logger.info("Org %s was disconnected during a token refresh; the new token is not kept", org.org_id)
        return token.access_token

    def session(self, org: OrgRecord) -> OrgSession:
        """An API session on the org's stored access token that refreshes it once when it has expired."""
        assert org.access_token is not None

        async def refresh() -> Secret:
            return await self.refresh(org)

        return OrgSession(instance_url=org.instance_url, access_token=org.access_token,
                          refresh=refresh if org.refresh_token is not None else None)

    def metadata(self, session: OrgSession) -> MetadataClient:
        return MetadataClient(http=self.http, session=session)

    def rest(self, session: OrgSession) -> RestClient:
        return RestClient(http=self.http, session=session)

    def rest_with(self, *, instance_url: str, access_token: Secret) -> RestClient:
        """REST on a token just issued (no refresh: it cannot have expired yet)."""
        return self.rest(OrgSession(instance_url=instance_url, access_token=access_token, refresh=None))


def org_access(
    settings: Settings, *, session: aiohttp.ClientSession, timings: Timings, store: Store, clock: Clock,
    leases: Leases,
) -> OrgAccess:
    """The bot's Salesforce clients as `qc-bot serve` and `qc-bot check-expiry` both use them: its own OAuth
    client, the host policy and the retry policy of every request; token refreshes under the process's `leases`."""
    http = SalesforceHttp(session=session, host_policy=settings.host_policy, retry=timings.salesforce_retry,
                          timeout_seconds=timings.salesforce_timeout_seconds)
    oauth = SalesforceOAuth(http=http, client_id=settings.salesforce_client_id,
                            client_secret=settings.salesforce_client_secret, redirect_uri=settings.oauth_callback_url)
    return OrgAccess(http=http, oauth=oauth, store=store, clock=clock,
                     refresh_wait_seconds=timings.token_refresh_wait_seconds,
                     leases=leases)
