"""Requests refused because the asker may not administer (SPEC §3): each is logged and audited (SPEC §6)."""

from __future__ import annotations

import logging

from bot.clock import Clock
from storage.database import Store

logger = logging.getLogger(__name__)


async def record_refusal(*, store: Store, clock: Clock, action: str, team_id: str, user_id: str) -> None:
    """Log and audit that `user_id`, who may not administer, asked for `action`."""
    logger.info("Refused %s for %s (not an admin)", action, user_id)
    now = clock.now()
    await store.run(lambda repos: repos.audit.append(
        at=now, team_id=team_id, actor=user_id, action=action, outcome="refused", detail={"reason": "not_admin"}))
