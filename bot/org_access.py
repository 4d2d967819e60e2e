"""The bot's own access to a connected org: refreshing its access token and an API session that does so."""

from __future__ import annotations

import logging

from bot.clock import Clock
from bot.redaction import Secret
from bot.salesforce.oauth import SalesforceOAuth, TokenResponse
from bot.salesforce.session import OrgSession
from storage.database import Store
from storage.orgs import OrgRecord

logger = logging.getLogger(__name__)


async def refresh_access(*, oauth: SalesforceOAuth, store: Store, clock: Clock, org: OrgRecord) -> TokenResponse:
    """Use the org's stored refresh token once and store what Salesforce returned (a rotated refresh token
    included). Raises the OAuth error as Salesforce sent it (`invalid_grant` when the token is dead)."""
    assert org.refresh_token is not None
    refresh_token = org.refresh_token
    token = await oauth.refresh(login_url=org.login_url, refresh_token=refresh_token)
    now = clock.now()
    rotated = token.refresh_token if token.refresh_token != refresh_token else None
    await store.run(lambda repos: repos.orgs.save_access_token(
        team_id=org.team_id, org_id=org.org_id, access_token=token.access_token, refresh_token=rotated, now=now))
    logger.info("Refreshed the access token of org %s", org.org_id)
    return token


def org_session(*, oauth: SalesforceOAuth, store: Store, clock: Clock, org: OrgRecord) -> OrgSession:
    """An API session on the org's stored access token that refreshes it once when it has expired."""
    assert org.access_token is not None

    async def refresh() -> Secret:
        return (await refresh_access(oauth=oauth, store=store, clock=clock, org=org)).access_token

    return OrgSession(instance_url=org.instance_url, access_token=org.access_token,
                      refresh=refresh if org.refresh_token is not None else None)
