"""What Slack says about a person that a journey needs: the e-mail address of the member who asked."""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.slack.clients import SlackClients, WorkspaceNotInstalled

logger = logging.getLogger(__name__)


async def email_of(*, clients: SlackClients, team_id: str, user_id: str) -> str | None:
    """The member's e-mail address, or None when Slack does not tell it: the app was installed without
    `users:read.email`, the member has none (a bot), or Slack could not be asked. None is never an error here:
    the caller then asks the member to confirm instead of trusting a match."""
    try:
        client = await clients.for_team(team_id)
        response = await client.users_info(user=user_id)
    except (SlackApiError, WorkspaceNotInstalled, aiohttp.ClientError, TimeoutError) as exc:
        reason = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
        logger.info("Slack did not tell the requester's e-mail address (%s); the requester will confirm", reason)
        return None
    email = ((response.get("user") or {}).get("profile") or {}).get("email")
    return email if isinstance(email, str) and email else None
