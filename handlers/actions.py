"""Button clicks: the authorize link (a URL button, acknowledged only) and "Reveal credentials"."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.delivery import ResponseUrlReply
from bot.services import Services

logger = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.action(messages.ACTION_OPEN_LINK)
    async def acknowledge_link(ack: AsyncAck) -> None:
        # A URL button still sends a block_actions payload; the browser does the real work.
        await ack()

    @app.action(messages.ACTION_REVEAL)
    async def reveal(ack: AsyncAck, body: dict, respond: ResponseUrlReply, client: AsyncWebClient) -> None:
        await ack()
        user_id = body["user"]["id"]
        team_id = (body.get("team") or {}).get("id") or body["user"].get("team_id")
        reveal_id = body["actions"][0].get("value") or ""
        outcome = await services.journey.reveal(reveal_id=reveal_id, team_id=team_id, user_id=user_id)
        if outcome.problem is not None:
            await respond(**messages.reveal_refused(outcome.problem).as_payload(), response_type="ephemeral",
                          replace_original=False)
            return
        view = messages.reveal_modal(org_name=outcome.org_name, consumer_key=outcome.consumer_key,
                                     consumer_secret=outcome.consumer_secret, secret_note=outcome.secret_note)
        try:
            await client.views_open(trigger_id=body["trigger_id"], view=view)
        except SlackApiError as exc:
            logger.warning("Could not show the credentials (%s); the reveal stays available",
                           exc.response.get("error"))
            await services.journey.release_reveal(reveal_id=reveal_id, team_id=team_id, user_id=user_id)
            await respond(**messages.reveal_retry().as_payload(), response_type="ephemeral", replace_original=False)
            return
        await respond(**messages.revealed(org_name=outcome.org_name).as_payload(), response_type="ephemeral",
                      replace_original=True)
