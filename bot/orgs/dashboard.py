"""What `/qc status` and the App Home show (SPEC §3): each org of the workspace, its app, how its setup
went, and its nearest token expiry, read in one transaction."""

from __future__ import annotations

from bot import messages
from bot.clock import Clock
from bot.config import Settings
from bot.provisioning.checklist import Mark
from bot.provisioning.settings import AppKind
from storage.connections import Connection
from storage.database import Repositories, Store
from storage.orgs import OrgSummary
from storage.tracked_tokens import TrackedToken


class Dashboard:
    def __init__(self, *, settings: Settings, store: Store, clock: Clock) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock

    async def overview(self, *, team_id: str) -> list[messages.OrgOverview]:
        def read(repos: Repositories) -> list[messages.OrgOverview]:
            tokens: dict[str, list[TrackedToken]] = {}
            for token in repos.tracked_tokens.for_team(team_id=team_id):
                tokens.setdefault(token.org_id, []).append(token)
            overviews = []
            for org in repos.orgs.for_team(team_id=team_id):
                provisioned = repos.connections.latest_for_org(team_id=team_id, org_id=org.org_id,
                                                               status="provisioned")
                latest = provisioned or repos.connections.latest_for_org(team_id=team_id, org_id=org.org_id)
                overviews.append(self._overview(org, latest, tokens.get(org.org_id, [])))
            return overviews

        return await self._store.run(read)

    def _overview(
        self, org: OrgSummary, journey: Connection | None, tokens: list[TrackedToken]
    ) -> messages.OrgOverview:
        checklist = (journey.checklist or []) if journey is not None else []
        expiring = [(token.expires_at, token) for token in tokens if token.expires_at is not None]
        nearest = min(expiring, key=lambda pair: pair[0], default=None)
        return messages.OrgOverview(
            org_name=org.org_name,
            org_id=org.org_id,
            is_sandbox=org.is_sandbox,
            broken=org.status == "broken",
            app_kind_label=AppKind(org.app_kind).label if org.app_kind else None,
            app_name=self._settings.desired_app.api_name,
            setup=_setup_state(journey),
            failure_code=journey.failure_code if journey is not None else None,
            checklist_failures=sum(item.get("mark") == Mark.FAIL.value for item in checklist),
            checklist_warnings=sum(item.get("mark") == Mark.WARN.value for item in checklist),
            tokens_tracked=len(tokens),
            nearest=None if nearest is None else messages.NearestExpiry(
                token_kind=nearest[1].kind, app_name=nearest[1].app_name, owner=nearest[1].salesforce_username,
                expires_at=nearest[0]),
        )


def _setup_state(journey: Connection | None) -> str:
    if journey is None:
        return "unknown"
    if journey.status in ("provisioned", "failed"):
        return journey.status
    return "in_progress"
