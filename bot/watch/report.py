"""`/qc check [org]` (SPEC §4a): run the periodic check now for one org or every org of a workspace, then draw
the private report from what the check found and what is stored (the tracked tokens, the last sign-in)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from bot import messages
from bot.clock import Clock
from bot.watch.org_check import OrgChecker, OrgCheckResult
from bot.watch.sign_in import SignInResult
from bot.watch.token_sync import SyncOutcome
from storage.database import Repositories, Store
from storage.orgs import OrgRecord, SignInState
from storage.tracked_tokens import TrackedToken

_CONNECTION: dict[SyncOutcome, Literal["works", "broken", "unknown"]] = {
    SyncOutcome.SYNCED: "works", SyncOutcome.PARTIAL: "works", SyncOutcome.BROKEN: "broken",
    SyncOutcome.FAILED: "unknown", SyncOutcome.PAUSED: "unknown",
}


class CheckReport:
    def __init__(self, *, store: Store, clock: Clock, checker: OrgChecker) -> None:
        self._store = store
        self._clock = clock
        self._checker = checker

    async def run(self, *, team_id: str, org_ids: Sequence[str] | None) -> messages.SlackMessage:
        """Check these orgs of the workspace (None: all of them, broken ones too) and report."""
        if org_ids is None:
            orgs = await self._store.run(lambda repos: repos.orgs.for_team(team_id=team_id))
            org_ids = [org.org_id for org in orgs]
        results = await self._checker.check_orgs([(team_id, org_id) for org_id in org_ids])

        def read(repos: Repositories) -> list[messages.CheckedOrg]:
            checked = []
            for result in results:
                org = repos.orgs.get(team_id=team_id, org_id=result.org_id)
                if org is None or org.status == "disconnected":
                    continue  # disconnected while it was checked: nothing to report about
                latest = repos.connections.latest_for_org(team_id=team_id, org_id=org.org_id, status="provisioned")
                checked.append(_checked(
                    org, result=result, state=repos.orgs.sign_in_state(team_id=team_id, org_id=org.org_id),
                    run_as=(latest.run_as if latest else None) or org.salesforce_username,
                    tokens=repos.tracked_tokens.for_org(team_id=team_id, org_id=org.org_id)))
            return checked

        return messages.check_report(await self._store.run(read), now=self._clock.now())


def _checked(
    org: OrgRecord, *, result: OrgCheckResult, state: SignInState | None, run_as: str, tokens: list[TrackedToken]
) -> messages.CheckedOrg:
    sign_in = result.sign_in or SignInResult.stored(state, run_as=run_as)
    tokens_result = result.tokens
    connection: Literal["works", "broken", "unknown"] = (
        "broken" if org.status == "broken" else "unknown" if tokens_result is None
        else _CONNECTION[tokens_result.outcome])
    settings = result.settings
    return messages.CheckedOrg(
        org_name=org.org_name, org_id=org.org_id, ran=result.ran, connection=connection,
        settings=tuple((line.mark, line.text) for line in settings.lines) if settings.checked else None,
        sign_in=sign_in.status, sign_in_problem=sign_in.problem, sign_in_detail=sign_in.detail,
        run_as=sign_in.run_as or run_as,
        tokens=tuple(messages.TokenLine(token_kind=token.kind, app_name=token.app_name,
                                        owner=token.salesforce_username, expires_at=token.expires_at)
                     for token in tokens),
    )
