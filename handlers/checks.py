"""Checks shared by the listeners."""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services

logger = logging.getLogger(__name__)


async def may_administer(
    *, action: str, team_id: str, user_id: str, client: AsyncWebClient, services: Services
) -> bool:
    """True for workspace admins and QC_ADMIN_USERS; a refusal is logged and audited (the caller answers)."""
    if await services.permissions.may_administer(client=client, team_id=team_id, user_id=user_id):
        return True
    await record_refusal(action=action, team_id=team_id, user_id=user_id, services=services)
    return False


async def record_refusal(*, action: str, team_id: str, user_id: str, services: Services) -> None:
    """Log and audit that someone who may not administer asked for `action`."""
    logger.info("Refused %s for %s (not an admin)", action, user_id)
    await services.store.run(lambda repos: repos.audit.append(
        at=services.clock.now(), team_id=team_id, actor=user_id, action=action, outcome="refused",
        detail={"reason": "not_admin"}))
