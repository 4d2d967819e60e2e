"""The live proof of SPEC §2: after provisioning, sign in with the app's own consumer key and secret (the
client credentials flow, on the org's My Domain), as Quality Clouds will.

Salesforce takes a few minutes to propagate a new or changed app, and until then answers `invalid_client_id`:
that answer is retried with backoff until `proof_window` after provisioning has passed; every other answer is
the outcome at once. The window counts from a stored start and the attempts from a stored count, so a proof
resumed after a restart keeps its schedule instead of starting over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.failures import ProofProblem, proof_problem_of, still_propagating
from bot.redaction import Secret, redact
from bot.retry import Backoff
from bot.salesforce.errors import SalesforceError
from bot.salesforce.oauth import SalesforceOAuth

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ProofOutcome:
    problem: ProofProblem | None
    """None: the credentials signed in."""
    detail: str | None = None
    """Salesforce's own words (redacted), when it refused."""


class SignInProver:
    def __init__(
        self, *, oauth: SalesforceOAuth, clock: Clock, retry: Backoff, window: timedelta,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`sleep` waits between attempts; a measurement replaces it with one that moves a manual clock."""
        self._oauth = oauth
        self._clock = clock
        self._retry = retry
        self._window = window
        self._sleep = sleep

    async def prove(
        self, *, my_domain_url: str, consumer_key: Secret, consumer_secret: Secret, started_at: datetime,
        attempts_before: int, on_attempt: Callable[[], Awaitable[None]],
    ) -> ProofOutcome:
        """Sign in until Salesforce gives an answer other than "not propagated yet", or the window closes.
        `on_attempt` records each attempt before it is made."""
        attempt = attempts_before
        while True:
            await on_attempt()
            attempt += 1
            try:
                await self._oauth.sign_in_as_app(my_domain_url=my_domain_url, consumer_key=consumer_key,
                                                 consumer_secret=consumer_secret)
                return ProofOutcome(problem=None)
            except SalesforceError as exc:
                problem = proof_problem_of(exc)
                assert problem is not None
                outcome = ProofOutcome(problem=problem, detail=redact(exc.message))
                if not still_propagating(exc):
                    return outcome
                delay = self._retry.delay(attempt - 1)
                waited = self._clock.now() - started_at
                if waited + timedelta(seconds=delay) > self._window:
                    return outcome
                logger.info("Salesforce does not know the new app's key yet (attempt %d); signing in again in %.1fs",
                            attempt, delay)
                await self._sleep(delay)
