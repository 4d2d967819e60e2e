"""The App Home tab: the workspace's dashboard, published for whoever opens it."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_home_opened")
    async def publish_home(event: dict, body: dict, client: AsyncWebClient) -> None:
        if event.get("tab") != "home":
            return
        orgs = await services.dashboard.overview(team_id=body["team_id"])
        await client.views_publish(user_id=event["user"], view=messages.home_view(orgs, now=services.clock.now()))
