"""Refused requests (SPEC §6): one because the asker may not administer (SPEC §3) is logged and audited; those
beyond a rate limit (bot.slack.rate_limits) are audited as one count per asker and maintenance round."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.clock import Clock
from bot.slack.rate_limits import RefusalCount
from storage.database import Repositories, Store

logger = logging.getLogger(__name__)


async def record_refusal(*, store: Store, clock: Clock, action: str, team_id: str, user_id: str) -> None:
    """Log and audit that `user_id`, who may not administer, asked for `action`."""
    logger.info("Refused %s for %s (not an admin)", action, user_id)
    now = clock.now()
    await store.run(lambda repos: repos.audit.append(
        at=now, team_id=team_id, actor=user_id, action=action, outcome="refused", detail={"reason": "not_admin"}))


async def record_rate_limited(*, store: Store, clock: Clock, counts: Sequence[RefusalCount]) -> None:
    """Audit how many requests each asker had refused by a rate limit since the last round: one entry each."""
    if not counts:
        return
    for count in counts:
        logger.info("Rate limit (%s) refused %d request(s) from %s", count.scope, count.refused,
                    count.user_id or count.team_id or "anonymous install starts")
    now = clock.now()

    def append(repos: Repositories) -> None:
        for count in counts:
            repos.audit.append(at=now, team_id=count.team_id, actor=count.user_id or "anonymous",
                               action=count.scope, outcome="rate_limited", detail={"refused": count.refused})

    await store.run(append)
