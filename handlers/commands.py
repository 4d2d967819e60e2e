"""`/qc`: parse the text, check who is asking, call a service, answer privately."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Sequence

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.connect.journey import Begun, SlackNames
from bot.errors import CommandSyntaxError
from bot.messages import SlackMessage
from bot.messages.blocks import FALLBACK_TEXT_MAX
from bot.orgs.disconnect import OrgSummary
from bot.services import Services
from bot.slack.clients import ResponseUrlReply
from bot.slack.commands import Check, ConnectOrg, DisconnectOrg, Help, RevokeTokens, RotateSecret, Status, parse
from handlers.checks import may_administer, record_refusal


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
        if isinstance(parsed, ConnectOrg):
            await _connect_org(parsed, ack=ack, command=command, respond=respond, client=client, services=services)
            return
        if isinstance(parsed, Check):
            # A check talks to Salesforce for every org: acknowledge at once, report through response_url.
            await ack(**messages.check_started().as_payload())
            await respond(**(await _check(parsed, command=command, services=services)).as_payload(),
                          response_type="ephemeral")
            return
        # The database (and for disconnect-org Slack's users.info) is read after the acknowledgement, well
        # inside Slack's 3 seconds; the answer follows through response_url.
        await ack()
        if isinstance(parsed, Status):
            orgs = await services.dashboard.overview(team_id=command["team_id"])
            await respond(**messages.status(orgs, now=services.clock.now()).as_payload(), response_type="ephemeral")
            return
        if not await may_administer(action=_REQUESTED[type(parsed)], team_id=command["team_id"],
                                    user_id=command["user_id"], client=client, services=services):
            await respond(**messages.not_allowed().as_payload(), response_type="ephemeral")
            return
        if isinstance(parsed, DisconnectOrg):
            answer = await _disconnect_confirmation(parsed, command=command, services=services)
        elif isinstance(parsed, RotateSecret):
            answer = await _rotate_secret(parsed, command=command, services=services)
        else:
            answer = await _revoke_confirmation(parsed, command=command, services=services)
        await respond(**answer.as_payload(), response_type="ephemeral")


_REQUESTED = {DisconnectOrg: "disconnect_requested", RotateSecret: "rotate_requested",
              RevokeTokens: "revoke_requested"}
"""The audited action of each admin command, when someone who may not administer asks for it."""


async def _connect_org(
    parsed: ConnectOrg, *, ack: AsyncAck, command: dict, respond: ResponseUrlReply, client: AsyncWebClient,
    services: Services,
) -> None:
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
        await record_refusal(action="connect_requested", team_id=team_id, user_id=user_id, services=services)


def _connect_org_answer(parsed: ConnectOrg, *, allowed: bool, command: dict, services: Services) -> dict:
    """The private answer to `/qc connect-org`: the link, a refusal, or what is wrong with the command."""
    message: SlackMessage
    if not allowed:
        message = messages.not_allowed()
    else:
        begun = _begin(parsed, command=command, services=services)
        message = begun if isinstance(begun, SlackMessage) else _link_message(begun)
    return _ephemeral(message)


def _begin(parsed: ConnectOrg, *, command: dict, services: Services) -> Begun | SlackMessage:
    """The journey's private link, or the usage saying what is wrong with the command."""
    try:
        return services.journey.begin(
            team_id=command["team_id"], enterprise_id=command.get("enterprise_id") or None,
            user_id=command["user_id"], channel_id=command["channel_id"], command=parsed,
            names=SlackNames(team=command.get("team_domain"), channel=command.get("channel_name"),
                             user=command.get("user_name")),
            response_url=command.get("response_url") or None,
        )
    except CommandSyntaxError as exc:
        return messages.usage(str(exc))


def _link_message(begun: Begun) -> SlackMessage:
    return messages.connect_link(link_url=begun.link_url, login_host=begun.login_url, run_as=begun.run_as,
                                 expires_at=begun.expires_at)


def _ephemeral(message: SlackMessage) -> dict:
    return {**message.as_payload(), "response_type": "ephemeral"}


class LinkAnswers:
    """The JSON of the private answer that carries a connect link, as `json.dumps` of `_connect_org_answer` would
    make it, from a template: the blocks differ between two answers only by the link when they have the same login
    host, run-as user and expiry (shown to the second), so the message is built and serialised once per second
    and kind, and each answer only puts its link in. Building and serialising it was the largest part of the
    acknowledgement that Bolt's own doesn't do."""

    # Random, so no text of a command can contain it; JSON-safe (letters, digits, dashes).
    _PLACEHOLDER = f"qc-link-{secrets.token_hex(16)}"

    def __init__(self) -> None:
        self._second: int | None = None
        # Per login host and run-as user: the JSON split where the link goes, and the fallback text's length.
        self._templates: dict[tuple[str, str | None], tuple[list[str], int]] = {}

    def render(self, begun: Begun) -> str:
        second = int(begun.expires_at.timestamp())
        if second != self._second:
            self._second, self._templates = second, {}  # the templates of a past second never serve again
        key = (begun.login_url, begun.run_as)
        template = self._templates.get(key)
        if template is None:
            placeholder = Begun(link_url=self._PLACEHOLDER, login_url=begun.login_url, run_as=begun.run_as,
                                expires_at=begun.expires_at)
            payload = _ephemeral(_link_message(placeholder))
            template = self._templates[key] = (json.dumps(payload).split(self._PLACEHOLDER),
                                               len(payload["text"]) - len(self._PLACEHOLDER))
        parts, text_length = template
        # The fallback text carries the link; one the message would cut to Slack's limit is built in full.
        if text_length + len(begun.link_url) > FALLBACK_TEXT_MAX:
            return json.dumps(_ephemeral(_link_message(begun)))
        return json.dumps(begun.link_url)[1:-1].join(parts)


class ConnectOrgAcknowledgement(AsyncMiddleware):
    """Answers `/qc connect-org` with its link right here, for an asker this process already knows may connect
    orgs (`QC_ADMIN_USERS`, or a recent `users.info`): the answer needs nothing else, and Bolt's way to a
    listener (matching each listener, building its arguments, running it as a task and polling every 10 ms for
    its acknowledgement) would cost more than the answer itself. Everything else goes on to the listeners: an
    asker Slack must be asked about (answered through response_url) or who is refused (audited). A middleware
    runs after Bolt's authorization, so only an installed workspace is answered; and after the rate limit."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._answers = LinkAnswers()

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        command = req.body
        if command.get("command") != messages.COMMAND:
            return await next()
        try:
            parsed = parse(command.get("text") or "")
        except CommandSyntaxError:
            return await next()
        if not isinstance(parsed, ConnectOrg) or self._services.permissions.known_decision(
                team_id=command["team_id"], user_id=command["user_id"]) is not True:
            return await next()
        begun = _begin(parsed, command=command, services=self._services)
        body = (json.dumps(_ephemeral(begun)) if isinstance(begun, SlackMessage) else self._answers.render(begun))
        return BoltResponse(status=200, body=body, headers=_JSON)


_JSON: dict[str, str | Sequence[str]] = {"content-type": "application/json"}


async def _check(parsed: Check, *, command: dict, services: Services) -> SlackMessage:
    """Anyone may ask: the report shows what `/qc status` shows, checked now, and no secret."""
    team_id = command["team_id"]
    if parsed.target is None:
        return await services.check_report.run(team_id=team_id, org_ids=None)
    found = await _find_org(parsed.target, command=command, services=services)
    if isinstance(found, SlackMessage):
        return found
    return await services.check_report.run(team_id=team_id, org_ids=[found.org_id])


async def _find_org(target: str, *, command: dict, services: Services) -> OrgSummary | SlackMessage:
    """The org the admin named, or the answer saying why there is none (unknown, or several of that name)."""
    found = await services.disconnector.find(team_id=command["team_id"], target=target)
    if found.problem == "ambiguous":
        return messages.org_ambiguous(target=target, matches=[(org.org_name, org.org_id) for org in found.candidates])
    if found.org is None:
        return messages.org_not_found(target=target, known=[org.org_name for org in found.candidates])
    return found.org


async def _disconnect_confirmation(parsed: DisconnectOrg, *, command: dict, services: Services) -> SlackMessage:
    """Which org is meant, and a Confirm/Cancel step before anything is revoked or deleted."""
    org = await _find_org(parsed.target, command=command, services=services)
    if isinstance(org, SlackMessage):
        return org
    return messages.disconnect_confirmation(org_name=org.org_name, org_id=org.org_id, delete_app=parsed.delete_app,
                                            app_name=services.settings.desired_app.api_name)


async def _rotate_secret(parsed: RotateSecret, *, command: dict, services: Services) -> SlackMessage:
    org = await _find_org(parsed.target, command=command, services=services)
    if isinstance(org, SlackMessage):
        return org
    begun = await services.rotator.begin(team_id=command["team_id"], user_id=command["user_id"], org_id=org.org_id,
                                         incident=parsed.incident)
    if begun.connected_app is not None:
        return messages.connected_app_rotation_steps(org_name=org.org_name,
                                                     instance_url=begun.connected_app.instance_url,
                                                     app_name=services.settings.desired_app.api_name)
    if begun.problem is not None:
        return messages.credentials_failed(code=begun.problem, detail=None, org_name=org.org_name)
    return messages.rotation_started(org_name=org.org_name, incident=parsed.incident)


async def _revoke_confirmation(parsed: RevokeTokens, *, command: dict, services: Services) -> SlackMessage:
    org = await _find_org(parsed.target, command=command, services=services)
    if isinstance(org, SlackMessage):
        return org
    return messages.revoke_confirmation(org_name=org.org_name, org_id=org.org_id, username=parsed.username,
                                        app_name=services.settings.desired_app.api_name)
