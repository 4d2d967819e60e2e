"""The "Re-authorize" button of warnings and the dashboard: a fresh connect-org journey for the person who
clicked, for the same org, login host, channel and client-credentials user as before, so re-authorizing
renews the bot's access and re-checks the app without changing who the app runs as."""

from __future__ import annotations

from bot.config import Settings
from bot.connect.journey import Begun, ConnectJourney, SlackNames
from bot.slack.commands import ConnectOrg
from storage.database import Repositories, Store
from storage.orgs import OrgRecord


class Reauthorizer:
    def __init__(self, *, settings: Settings, store: Store, journey: ConnectJourney) -> None:
        self._settings = settings
        self._store = store
        self._journey = journey

    async def begin(self, *, team_id: str, enterprise_id: str | None, user_id: str, org_id: str,
                    names: SlackNames | None = None) -> Begun | None:
        """Mint the journey's private link; None when the org is not connected in this workspace."""

        def read(repos: Repositories) -> tuple[OrgRecord | None, str | None]:
            org = repos.orgs.get(team_id=team_id, org_id=org_id)
            if org is None or org.status == "disconnected":
                return None, None
            last = repos.connections.latest_for_org(team_id=team_id, org_id=org_id, status="provisioned")
            return org, (last.run_as or org.salesforce_username) if last is not None else None

        org, run_as = await self._store.run(read)
        if org is None:
            return None
        return self._journey.begin(team_id=team_id, enterprise_id=enterprise_id, user_id=user_id,
                                   channel_id=org.channel_id,
                                   command=ConnectOrg(target=self._target(org), run_as=run_as), names=names)

    def _target(self, org: OrgRecord) -> str:
        if org.login_url == self._settings.salesforce_login_url:
            return "production"
        if org.login_url == self._settings.salesforce_sandbox_login_url:
            return "sandbox"
        return org.login_url
