"""`/qc`: parse the text, check who is asking, call the journey, answer privately."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.commands import ConnectOrg, Help, parse
from bot.delivery import ResponseUrlReply
from bot.errors import CommandSyntaxError
from bot.messages import SlackMessage
from bot.services import Services

logger = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.command(messages.COMMAND)
    async def handle_qc(ack: AsyncAck, command: dict, respond: ResponseUrlReply, client: AsyncWebClient) -> None:
        try:
            parsed = parse(command.get("text") or "")
        except CommandSyntaxError as exc:
            await ack(**messages.usage(str(exc)).as_payload())
            return
        if isinstance(parsed, Help):
            await ack(**messages.usage().as_payload())
            return
        team_id, user_id = command["team_id"], command["user_id"]
        allowed = services.permissions.known_decision(team_id=team_id, user_id=user_id)
        if allowed is None:
            # Asking Slack who this is may take a while: acknowledge first, answer through response_url.
            await ack()
            allowed = await services.permissions.may_administer(client=client, team_id=team_id, user_id=user_id)
            await respond(**_connect_org_answer(parsed, allowed=allowed, command=command, services=services))
        else:
            await ack(**_connect_org_answer(parsed, allowed=allowed, command=command, services=services))
        if not allowed:
            logger.info("Refused connect-org for %s (not an admin)", user_id)
            await services.store.run(lambda repos: repos.audit.append(
                at=services.clock.now(), team_id=team_id, actor=user_id, action="connect_requested",
                outcome="refused", detail={"reason": "not_admin"}))


def _connect_org_answer(parsed: ConnectOrg, *, allowed: bool, command: dict, services: Services) -> dict:
    """The private answer to `/qc connect-org`: the link, a refusal, or what is wrong with the command."""
    message: SlackMessage
    if not allowed:
        message = messages.not_allowed()
    else:
        try:
            begun = services.journey.begin(
                team_id=command["team_id"], enterprise_id=command.get("enterprise_id") or None,
                user_id=command["user_id"], channel_id=command["channel_id"], command=parsed,
            )
        except CommandSyntaxError as exc:
            message = messages.usage(str(exc))
        else:
            message = messages.connect_link(link_url=begun.link_url, login_host=begun.login_url,
                                            run_as=parsed.run_as, expires_at=begun.expires_at)
    return {**message.as_payload(), "response_type": "ephemeral"}
