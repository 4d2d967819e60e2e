"""Slack telling the bot it lost a workspace: `app_uninstalled`, or `tokens_revoked` naming the bot's token."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.services import Services
from bot.slack.install import forget_workspace


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_uninstalled")
    async def uninstalled(context: AsyncBoltContext) -> None:
        await forget_workspace(store=services.store, clock=services.clock, authorization=services.authorization,
                               enterprise_id=context.enterprise_id, team_id=context.team_id, reason="app_uninstalled")

    @app.event("tokens_revoked")
    async def tokens_revoked(event: dict, context: AsyncBoltContext) -> None:
        if (event.get("tokens") or {}).get("bot"):
            await forget_workspace(store=services.store, clock=services.clock, authorization=services.authorization,
                                   enterprise_id=context.enterprise_id, team_id=context.team_id,
                                   reason="bot_token_revoked")
