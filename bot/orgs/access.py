"""The bot's own access to a connected org: API clients on the org's stored tokens, and the refresh that keeps
them working. One object owns this, so every service reaches Salesforce the same way and a refreshed token is
stored only while the org is still connected."""

from __future__ import annotations

import logging

import aiohttp

from bot.clock import Clock
from bot.config import Settings
from bot.redaction import Secret
from bot.salesforce.http import SalesforceHttp
from bot.salesforce.metadata import MetadataClient
from bot.salesforce.oauth import SalesforceOAuth, TokenResponse
from bot.salesforce.rest import RestClient
from bot.salesforce.session import OrgSession
from bot.timings import Timings
from storage.database import Store
from storage.orgs import OrgRecord

logger = logging.getLogger(__name__)


class OrgAccess:
    def __init__(self, *, http: SalesforceHttp, oauth: SalesforceOAuth, store: Store, clock: Clock) -> None:
        self.http = http
        self.oauth = oauth
        self._store = store
        self._clock = clock

    async def refresh(self, org: OrgRecord) -> TokenResponse:
        """Use the org's stored refresh token once and store what Salesforce returned (a rotated refresh token
        included), unless the org was disconnected meanwhile. Raises the OAuth error as Salesforce sent it
        (`invalid_grant` when the token is dead)."""
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
        return token

    def session(self, org: OrgRecord) -> OrgSession:
        """An API session on the org's stored access token that refreshes it once when it has expired."""
        assert org.access_token is not None

        async def refresh() -> Secret:
            return (await self.refresh(org)).access_token

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
    settings: Settings, *, session: aiohttp.ClientSession, timings: Timings, store: Store, clock: Clock
) -> OrgAccess:
    """The bot's Salesforce clients as `qc-bot serve` and `qc-bot check-expiry` both use them: its own OAuth
    client, the host policy and the retry policy of every request."""
    http = SalesforceHttp(session=session, host_policy=settings.host_policy, retry=timings.salesforce_retry,
                          timeout_seconds=timings.salesforce_timeout_seconds)
    oauth = SalesforceOAuth(http=http, client_id=settings.salesforce_client_id,
                            client_secret=settings.salesforce_client_secret, redirect_uri=settings.oauth_callback_url)
    return OrgAccess(http=http, oauth=oauth, store=store, clock=clock)
