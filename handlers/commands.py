"""`/qc`: parse the text, check who is asking, call a service, answer privately."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.commands import ConnectOrg, DisconnectOrg, Help, Status, parse
from bot.errors import CommandSyntaxError
from bot.services import Services
from handlers.checks import may_administer


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
        # Permission checks and database work happen after the acknowledgement, well inside Slack's
        # 3 seconds whatever users.info costs; the answer follows through response_url.
        await ack()
        if isinstance(parsed, Status):
            await _status(command=command, respond=respond, services=services)
            return
        action = "disconnect_requested" if isinstance(parsed, DisconnectOrg) else "connect_requested"
        if not await may_administer(action=action, team_id=command["team_id"], user_id=command["user_id"],
                                    client=client, services=services):
            await respond(**messages.not_allowed().as_payload(), response_type="ephemeral")
        elif isinstance(parsed, DisconnectOrg):
            await _disconnect_org(parsed, command=command, respond=respond, services=services)
        else:
            await _connect_org(parsed, command=command, respond=respond, services=services)


async def _connect_org(parsed: ConnectOrg, *, command: dict, respond: AsyncRespond, services: Services) -> None:
    team_id, user_id = command["team_id"], command["user_id"]
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


async def _status(*, command: dict, respond: AsyncRespond, services: Services) -> None:
    orgs = await services.dashboard.overview(team_id=command["team_id"])
    await respond(**messages.status(orgs, now=services.clock.now()).as_payload(), response_type="ephemeral")


async def _disconnect_org(parsed: DisconnectOrg, *, command: dict, respond: AsyncRespond, services: Services) -> None:
    found = await services.disconnector.find(team_id=command["team_id"], target=parsed.target)
    if found.problem == "ambiguous":
        answer = messages.org_ambiguous(target=parsed.target,
                                        matches=[(org.org_name, org.org_id) for org in found.candidates])
    elif found.org is None:
        answer = messages.org_not_found(target=parsed.target, known=[org.org_name for org in found.candidates])
    else:
        answer = messages.disconnect_confirmation(org_name=found.org.org_name, org_id=found.org.org_id,
                                                  delete_app=parsed.delete_app,
                                                  app_name=services.settings.desired_app.api_name)
    await respond(**answer.as_payload(), response_type="ephemeral")
