"""`/qc`: parse the text, check who is asking, call the journey, answer privately."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.commands import ConnectOrg, Help, parse
from bot.errors import CommandSyntaxError
from bot.services import Services

logger = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.command(messages.COMMAND)
    async def handle_qc(ack: AsyncAck, command: dict, respond: AsyncRespond, client: AsyncWebClient) -> None:
        try:
            parsed = parse(command.get("text") or "")
        except CommandSyntaxError as exc:
            await ack(**messages.usage(str(exc)).as_payload())
            return
        if isinstance(parsed, Help):
            await ack(**messages.usage().as_payload())
            return
        # Permission checks and the database write happen after the acknowledgement, well inside
        # Slack's 3 seconds whatever users.info costs; the answer follows through response_url.
        await ack()
        await _connect_org(parsed, command=command, respond=respond, client=client, services=services)


async def _connect_org(
    parsed: ConnectOrg, *, command: dict, respond: AsyncRespond, client: AsyncWebClient, services: Services
) -> None:
    team_id, user_id = command["team_id"], command["user_id"]
    if not await services.permissions.may_administer(client=client, team_id=team_id, user_id=user_id):
        logger.info("Refused connect-org for %s (not an admin)", user_id)
        await services.store.run(lambda repos: repos.audit.append(
            at=services.clock.now(), team_id=team_id, actor=user_id, action="connect_requested", outcome="refused",
            detail={"reason": "not_admin"}))
        await respond(**messages.not_allowed().as_payload(), response_type="ephemeral")
        return
    try:
        begun = await services.journey.begin(
            team_id=team_id, enterprise_id=command.get("enterprise_id"), user_id=user_id,
            channel_id=command["channel_id"], command=parsed,
        )
    except CommandSyntaxError as exc:
        await respond(**messages.usage(str(exc)).as_payload(), response_type="ephemeral")
        return
    expires_at = services.clock.now() + services.journey.link_ttl
    message = messages.connect_link(link_url=begun.link_url, login_host=begun.login_url, run_as=parsed.run_as,
                                    expires_at=expires_at)
    await respond(**message.as_payload(), response_type="ephemeral")
