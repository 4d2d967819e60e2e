"""The Repair and Re-create buttons of a drift alert (SPEC §4a): admins start a repair; anyone else is told
privately why not, and the refusal is audited."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.messages import drift as words
from bot.services import Services
from bot.slack.clients import ResponseUrlReply
from bot.watch.drift import RepairStart
from handlers.checks import may_administer, team_of


def register(app: AsyncApp, services: Services) -> None:
    async def repair(ack: AsyncAck, body: dict, respond: ResponseUrlReply, client: AsyncWebClient) -> None:
        await ack()
        user_id = body["user"]["id"]
        team_id = team_of(body)
        if not await may_administer(action="drift_repair_requested", team_id=team_id, user_id=user_id, client=client,
                                    services=services):
            await respond(**words.repair_not_allowed().as_payload(), response_type="ephemeral",
                          replace_original=False)
            return
        value = body["actions"][0].get("value") or ""
        started = (await services.drift.repair(team_id=team_id, user_id=user_id, alert_id=int(value))
                   if value.isdigit() else RepairStart.GONE)
        answer = {RepairStart.STARTED: words.repair_started(),
                  RepairStart.NOTHING_TO_DO: words.repair_not_needed(),
                  RepairStart.GONE: messages.org_gone()}[started]
        await respond(**answer.as_payload(), response_type="ephemeral", replace_original=False)

    app.action(messages.ACTION_DRIFT_REPAIR)(repair)
    app.action(messages.ACTION_DRIFT_RECREATE)(repair)
