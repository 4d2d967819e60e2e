"""Button clicks: the authorize link (a URL button, acknowledged only), "Reveal credentials", "Re-authorize",
the confirmations of `/qc disconnect-org` and `/qc revoke-tokens`, "Retire old credentials", and the
requester's answer about an authorization made with their link."""

from __future__ import annotations

import json
import logging

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.connect.journey import Decided, SlackNames
from bot.failures import RevealProblem
from bot.orgs.rotation import RetireFailed
from bot.services import Services
from bot.slack.clients import ResponseUrlReply
from handlers.checks import may_administer, team_of

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
        team_id = team_of(body)
        reveal_id = body["actions"][0].get("value") or ""
        outcome = await services.reveals.reveal(reveal_id=reveal_id, team_id=team_id, user_id=user_id)
        if outcome.problem is not None or outcome.handoff is None:
            await respond(**messages.reveal_refused(outcome.problem or RevealProblem.UNKNOWN).as_payload(),
                          response_type="ephemeral", replace_original=False)
            return
        view = messages.reveal_modal(handoff=outcome.handoff, consumer_key=outcome.consumer_key,
                                     consumer_secret=outcome.consumer_secret, secret_note=outcome.secret_note)
        try:
            await client.views_open(trigger_id=body["trigger_id"], view=view)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            # Releasing after a lost answer could show the credentials a second time, but only to this user.
            reason = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            logger.warning("Could not show the credentials (%s); the reveal stays available", reason)
            await services.reveals.release(reveal_id=reveal_id, team_id=team_id, user_id=user_id)
            await respond(**messages.reveal_retry().as_payload(), response_type="ephemeral", replace_original=False)
            return
        await respond(**messages.revealed(org_name=outcome.org_name).as_payload(), response_type="ephemeral",
                      replace_original=True)

    @app.action(messages.ACTION_REAUTHORIZE)
    async def reauthorize(ack: AsyncAck, body: dict, respond: ResponseUrlReply, client: AsyncWebClient) -> None:
        await ack()
        user_id, team_id = body["user"]["id"], team_of(body)
        if not await may_administer(action="connect_requested", team_id=team_id, user_id=user_id, client=client,
                                    services=services):
            await _answer(body, respond, client, messages.not_allowed())
            return
        begun = await services.reauthorizer.begin(team_id=team_id, enterprise_id=(body.get("enterprise") or {})
                                                  .get("id"), user_id=user_id,
                                                  org_id=body["actions"][0].get("value") or "",
                                                  names=SlackNames(team=(body.get("team") or {}).get("domain"),
                                                                   user=body["user"].get("username")))
        if begun is None:
            await _answer(body, respond, client, messages.org_gone())
            return
        await _answer(body, respond, client, messages.connect_link(
            link_url=begun.link_url, login_host=begun.login_url, run_as=begun.run_as, expires_at=begun.expires_at))

    @app.action(messages.ACTION_DISCONNECT_CONFIRM)
    async def confirm_disconnect(ack: AsyncAck, body: dict, respond: ResponseUrlReply, client: AsyncWebClient) -> None:
        await ack()
        user_id, team_id = body["user"]["id"], team_of(body)
        if not await may_administer(action="disconnect_requested", team_id=team_id, user_id=user_id,
                                    client=client, services=services):
            await respond(**messages.not_allowed().as_payload(), response_type="ephemeral", replace_original=True)
            return
        choice = json.loads(body["actions"][0].get("value") or "{}")
        outcome = await services.disconnector.disconnect(team_id=team_id, user_id=user_id,
                                                         org_id=str(choice.get("org_id") or ""),
                                                         delete_app=bool(choice.get("delete_app")))
        if outcome.gone:
            answer = messages.org_gone()
        elif outcome.problem is not None:
            answer = messages.disconnect_failed(code=outcome.problem, detail=outcome.detail)
        else:
            answer = messages.disconnected(org_name=outcome.org_name, org_id=outcome.org_id,
                                           app_deleted=outcome.app_deleted, revoked=outcome.revoked,
                                           app_name=services.settings.desired_app.api_name)
        await respond(**answer.as_payload(), response_type="ephemeral", replace_original=True)

    @app.action(messages.ACTION_DISCONNECT_CANCEL)
    async def cancel_disconnect(ack: AsyncAck, body: dict, respond: ResponseUrlReply) -> None:
        await ack()
        org_id = body["actions"][0].get("value") or ""
        await respond(**messages.disconnect_cancelled(org_id=org_id).as_payload(), response_type="ephemeral",
                      replace_original=True)


    @app.action(messages.ACTION_RETIRE_OLD_CREDENTIALS)
    async def retire_old_credentials(ack: AsyncAck, body: dict, respond: ResponseUrlReply,
                                     client: AsyncWebClient) -> None:
        await ack()
        user_id, team_id = body["user"]["id"], team_of(body)
        if not await may_administer(action="retire_requested", team_id=team_id, user_id=user_id, client=client,
                                    services=services):
            await respond(**messages.not_allowed().as_payload(), response_type="ephemeral", replace_original=False)
            return
        try:
            retired, org_name = await services.rotator.retire(team_id=team_id, user_id=user_id,
                                                              rotation_id=body["actions"][0].get("value") or "")
        except RetireFailed as failed:
            answer = messages.credentials_failed(code=failed.code, detail=failed.detail, org_name=failed.org_name)
        else:
            answer = messages.retire_answer(retired=retired, org_name=org_name)
        await respond(**answer.as_payload(), response_type="ephemeral", replace_original=False)

    @app.action(messages.ACTION_REVOKE_TOKENS_CONFIRM)
    async def confirm_revoke(ack: AsyncAck, body: dict, respond: ResponseUrlReply, client: AsyncWebClient) -> None:
        await ack()
        user_id, team_id = body["user"]["id"], team_of(body)
        if not await may_administer(action="revoke_requested", team_id=team_id, user_id=user_id, client=client,
                                    services=services):
            await respond(**messages.not_allowed().as_payload(), response_type="ephemeral", replace_original=True)
            return
        choice = json.loads(body["actions"][0].get("value") or "{}")
        outcome = await services.revoker.revoke(team_id=team_id, user_id=user_id,
                                                org_id=str(choice.get("org_id") or ""),
                                                username=choice.get("username") or None)
        if outcome.problem is not None:
            answer = messages.credentials_failed(code=outcome.problem, detail=outcome.detail, org_name=outcome.org_name)
        else:
            answer = messages.tokens_revoked(org_name=outcome.org_name, org_id=str(choice.get("org_id") or ""),
                                             user_id=None, count=outcome.count, usernames=outcome.usernames,
                                             app_name=services.settings.desired_app.api_name)
        await respond(**answer.as_payload(), response_type="ephemeral", replace_original=True)

    @app.action(messages.ACTION_REVOKE_TOKENS_CANCEL)
    async def cancel_revoke(ack: AsyncAck, body: dict, respond: ResponseUrlReply) -> None:
        await ack()
        await respond(**messages.revoke_cancelled(org_id=body["actions"][0].get("value") or "").as_payload(),
                      response_type="ephemeral", replace_original=True)

    @app.action(messages.ACTION_AUTHORIZATION_CONFIRM)
    async def confirm_authorization(ack: AsyncAck, body: dict, respond: ResponseUrlReply) -> None:
        await ack()
        decided = await services.journey.confirm(team_id=team_of(body), user_id=body["user"]["id"],
                                                 connection_id=body["actions"][0].get("value") or "")
        await _decision_answer(respond, decided, done=messages.authorization_confirmed(
            org_name=decided.org_name or "the org"))

    @app.action(messages.ACTION_AUTHORIZATION_CANCEL)
    async def cancel_authorization(ack: AsyncAck, body: dict, respond: ResponseUrlReply) -> None:
        await ack()
        decided = await services.journey.cancel(team_id=team_of(body), user_id=body["user"]["id"],
                                                connection_id=body["actions"][0].get("value") or "")
        await _decision_answer(respond, decided, done=messages.authorization_cancelled())


async def _decision_answer(respond: ResponseUrlReply, decided: Decided, *, done: messages.SlackMessage) -> None:
    """Replace the question with what happened; a refused click leaves it in place and says why."""
    if decided.problem is not None:
        await respond(**messages.confirmation_refused(decided.problem).as_payload(), response_type="ephemeral",
                      replace_original=False)
        return
    await respond(**done.as_payload(), response_type="ephemeral", replace_original=True)


async def _answer(
    body: dict, respond: ResponseUrlReply, client: AsyncWebClient, message: messages.SlackMessage
) -> None:
    """Answer the clicker privately: under the message they clicked, or in a modal for App Home clicks."""
    if body.get("response_url"):
        await respond(**message.as_payload(), response_type="ephemeral", replace_original=False)
    else:
        await client.views_open(trigger_id=body["trigger_id"],
                                view=messages.answer_modal(title="Re-authorize", message=message))
