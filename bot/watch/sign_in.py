"""The sign-in watch (SPEC §4a): the periodic check repeats the live proof of SPEC §2 (the client credentials
sign-in with the app's own consumer key and secret, bot.connect.proof) for each org whose secret qc-bot holds.

A sign-in that starts failing is announced once in the org's channel, with Salesforce's words and the remedy;
when it works again, once "resolved". The last outcome is stored per org (`orgs.sign_in_status`) and each
announcement is queued under a key of the failure's episode (storage.outbox_keys.sign_in_changed), in the same
transaction, so neither a restart nor two checks at once can say it twice.

Not every refusal is news: while the connection's own proof is still running (a new app propagating) the
watch stays out of its way, and a Salesforce that does not answer says nothing about the credentials, so it
changes nothing either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from bot import messages
from bot.clock import Clock
from bot.connect.proof import SignInProver
from bot.failures import ProofProblem
from bot.retry import Backoff
from bot.salesforce.oauth import SalesforceOAuth
from bot.slack.outbox import SlackDelivery
from storage import outbox_keys
from storage.connections import Connection
from storage.database import Repositories, Store
from storage.orgs import OrgRecord, SignInState

logger = logging.getLogger(__name__)

SignInCheck = Literal["ok", "failing", "unknown", "not_tried", "proving"]

_UNKNOWN_PROBLEMS = frozenset({ProofProblem.SALESFORCE_UNAVAILABLE})
"""Outcomes that say nothing about the credentials: they neither start nor end a failure."""


@dataclass(frozen=True, kw_only=True)
class SignInResult:
    """What one check of an org's sign-in found."""

    status: SignInCheck
    """`ok`/`failing`: signed in or refused; `unknown`: Salesforce did not answer; `not_tried`: qc-bot holds no
    secret (or the org is not connected); `proving`: the connection's first proof is still running."""
    run_as: str | None = None
    problem: ProofProblem | None = None
    detail: str | None = None
    """Salesforce's own words (redacted), when it refused."""

    @classmethod
    def stored(cls, state: SignInState | None, *, run_as: str | None) -> SignInResult:
        """The last outcome a check recorded, for a report that could not check again now."""
        if state is None or state.status is None:
            return cls(status="unknown", run_as=run_as)
        return cls(status=state.status, run_as=run_as,
                   problem=ProofProblem(state.problem) if state.problem else None, detail=state.detail)


class SignInWatch:
    def __init__(
        self, *, store: Store, clock: Clock, oauth: SalesforceOAuth, delivery: SlackDelivery, retry: Backoff,
        proof_fresh_for: timedelta,
    ) -> None:
        """A connection's own proof that began less than `proof_fresh_for` ago stands for the sign-in: signing
        in again right after it proves nothing new (0: always sign in, for a check someone asked for)."""
        self._proof_fresh_for = proof_fresh_for
        self._store = store
        self._clock = clock
        self._delivery = delivery
        # One attempt: a zero window ends the proof at its first answer, whatever it is.
        self._prover = SignInProver(oauth=oauth, clock=clock, retry=retry, window=timedelta(0))

    async def check(self, *, team_id: str, org_id: str) -> SignInResult:
        def load(repos: Repositories) -> tuple[OrgRecord | None, Connection | None]:
            return (repos.orgs.get(team_id=team_id, org_id=org_id),
                    repos.connections.latest_for_org(team_id=team_id, org_id=org_id, status="provisioned"))

        org, connection = await self._store.run(load)
        if org is None or org.status == "disconnected" or connection is None:
            return SignInResult(status="not_tried")
        run_as = connection.run_as or org.salesforce_username
        if connection.proof_status == "proving":
            return SignInResult(status="proving", run_as=run_as)
        if (connection.proof_status in ("proved", "failed") and connection.proof_started_at is not None
                and self._clock.now() - connection.proof_started_at < self._proof_fresh_for):
            return SignInResult(status="ok" if connection.proof_status == "proved" else "failing", run_as=run_as,
                                problem=ProofProblem(connection.proof_problem) if connection.proof_problem else None,
                                detail=connection.proof_detail)
        if org.consumer_key is None or org.consumer_secret is None:
            return SignInResult(status="not_tried", run_as=run_as, problem=ProofProblem.SECRET_UNKNOWN)

        async def no_record() -> None:
            return None

        outcome = await self._prover.prove(my_domain_url=org.instance_url, consumer_key=org.consumer_key,
                                           consumer_secret=org.consumer_secret, started_at=self._clock.now(),
                                           attempts_before=0, on_attempt=no_record)
        if outcome.problem in _UNKNOWN_PROBLEMS:
            logger.info("Sign-in check of org %s: Salesforce did not answer (%s)", org_id, outcome.detail)
            return SignInResult(status="unknown", run_as=run_as, problem=outcome.problem, detail=outcome.detail)
        result = SignInResult(status="ok" if outcome.problem is None else "failing", run_as=run_as,
                              problem=outcome.problem, detail=outcome.detail)
        if await self._store.run(lambda repos: self._record(repos, org=org, connection=connection, result=result),
                                 immediate=True):
            self._delivery.wake()
        return result

    def _record(self, repos: Repositories, *, org: OrgRecord, connection: Connection, result: SignInResult) -> bool:
        """Store the outcome; on a change, queue its one announcement and audit it. True if one was queued."""
        assert result.status in ("ok", "failing") and result.run_as is not None
        state = repos.orgs.sign_in_state(team_id=org.team_id, org_id=org.org_id)
        if state is None:
            return False
        now = self._clock.now()
        # Until a check follows the connection's latest proof (a first connection, or a repair that proved again),
        # that proof is the last word: the status message showed its outcome already.
        proved_since = (connection.proof_started_at is not None and state.checked_at is not None
                        and state.checked_at < connection.proof_started_at)
        before = (state.status if state.status is not None and not proved_since
                  else "failing" if connection.proof_status == "failed" else "ok")
        episode = state.episode + 1 if before == "ok" and result.status == "failing" else state.episode
        repos.orgs.save_sign_in(team_id=org.team_id, org_id=org.org_id, status=result.status,
                                problem=result.problem, detail=result.detail, episode=episode, now=now)
        if before == result.status:
            return False
        if result.status == "failing":
            assert result.problem is not None
            message = messages.sign_in_failing(org_name=org.org_name, org_id=org.org_id, run_as=result.run_as,
                                               problem=result.problem, detail=result.detail)
        else:
            message = messages.sign_in_resolved(org_name=org.org_name, org_id=org.org_id, run_as=result.run_as)
        phase: Literal["failing", "resolved"] = "failing" if result.status == "failing" else "resolved"
        key = outbox_keys.sign_in_changed(team_id=org.team_id, org_id=org.org_id, episode=episode, phase=phase)
        # In the thread of the org's card; a sign-in that starts failing breaks Quality Clouds' scans: broadcast.
        repos.notifications.enqueue(dedupe_key=key, team_id=org.team_id, channel_id=org.channel_id,
                                    payload=message.as_payload(), now=now, fallback_user_id=org.connected_by,
                                    thread_of=org.card_key, broadcast=phase == "failing")
        repos.audit.append(at=now, team_id=org.team_id, actor="qc-bot", action="sign_in_check", target=org.org_id,
                           outcome=phase if result.problem is None else f"{phase}:{result.problem}",
                           detail={"episode": episode})
        logger.warning("The app's sign-in to org %s %s", org.org_id,
                       "works again" if phase == "resolved" else f"started failing ({result.problem})")
        return True
