"""Checks shared by the listeners."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services
from bot.slack import refusals


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
    await refusals.record_refusal(store=services.store, clock=services.clock, action=action, team_id=team_id,
                                  user_id=user_id)


def team_of(body: dict) -> str:
    """The workspace of a button click (`team`, or the clicking user's for some enterprise payloads)."""
    return (body.get("team") or {}).get("id") or body["user"].get("team_id")
