"""The private delivery of SPEC §1 step 6: the requester's one-time "Reveal credentials" grant.

A grant works once, for the user it was made for, for a short time; every use and every refusal is audited,
and a second use is logged as a possible replay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot import messages
from bot.clock import Clock
from bot.failures import RevealProblem, SecretUnreadable
from bot.provisioning.settings import AppKind, DesiredApp
from bot.redaction import Secret
from storage.database import Repositories, Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RevealOutcome:
    problem: RevealProblem | None
    org_name: str = ""
    handoff: messages.HandOff | None = None
    consumer_key: Secret | None = None
    consumer_secret: Secret | None = None
    secret_note: str | None = None


class CredentialReveal:
    def __init__(self, *, store: Store, clock: Clock, desired_app: DesiredApp) -> None:
        self._store = store
        self._clock = clock
        self._desired_app = desired_app

    async def reveal(self, *, reveal_id: str, team_id: str, user_id: str) -> RevealOutcome:
        now = self._clock.now()

        def use(repos: Repositories) -> RevealOutcome:
            grant = repos.reveals.consume(reveal_id=reveal_id, team_id=team_id, user_id=user_id, now=now)
            connection = repos.connections.get(grant.connection_id) if grant.connection_id else None
            org = (repos.orgs.get(team_id=connection.team_id, org_id=connection.org_id)
                   if connection is not None and connection.org_id else None)
            problem = grant.problem
            if problem is None and (org is None or org.consumer_key is None):
                problem = RevealProblem.UNAVAILABLE
            repos.audit.append(at=now, team_id=team_id, actor=user_id, action="reveal",
                               target=org.org_id if org else None,
                               outcome="revealed" if problem is None else f"refused:{problem}",
                               detail={"connection": grant.connection_id,
                                       **({"rotation": grant.rotation_id} if grant.rotation_id else {})})
            if problem is not None or org is None or connection is None:
                return RevealOutcome(problem=problem or RevealProblem.UNKNOWN)
            handoff = messages.HandOff(org_name=org.org_name, is_sandbox=org.is_sandbox, org_url=org.instance_url,
                                       login=connection.environment, login_url=connection.login_url)
            if grant.rotation_id is not None:
                # A rotation's grant shows the new credentials it staged, whichever the org holds now.
                rotation = repos.rotations.get(grant.rotation_id)
                if rotation is None or rotation.new_key is None or rotation.new_secret is None:
                    return RevealOutcome(problem=RevealProblem.UNAVAILABLE)
                return RevealOutcome(problem=None, org_name=org.org_name, handoff=handoff,
                                     consumer_key=rotation.new_key, consumer_secret=rotation.new_secret)
            note = None
            if org.consumer_secret is None:
                note = messages.secret_unavailable_note(
                    SecretUnreadable.CONNECTED_APP if org.app_kind == AppKind.CONNECTED_APP.value
                    else SecretUnreadable.EXTERNAL_CLIENT_APP, app_name=self._desired_app.api_name)
            return RevealOutcome(problem=None, org_name=org.org_name, handoff=handoff, consumer_key=org.consumer_key,
                                 consumer_secret=org.consumer_secret, secret_note=note)

        outcome = await self._store.run(use)
        if outcome.problem is RevealProblem.USED:
            logger.warning("A used reveal grant was presented again by %s (possible replay)", user_id)
        return outcome

    async def release(self, *, reveal_id: str, team_id: str, user_id: str) -> None:
        """Make a used grant usable again because Slack never showed the credentials."""
        now = self._clock.now()

        def release(repos: Repositories) -> None:
            repos.reveals.release(reveal_id=reveal_id, team_id=team_id, user_id=user_id)
            repos.audit.append(at=now, team_id=team_id, actor=user_id, action="reveal", outcome="not_shown",
                               detail={"reveal": reveal_id})

        await self._store.run(release)
