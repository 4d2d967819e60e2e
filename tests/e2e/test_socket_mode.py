"""Socket Mode (SLACK_APP_TOKEN, no signing secret): Slack's side over the websocket, the Salesforce OAuth
routes still on the bot's own HTTP server."""

import pytest

from standins.slack import FakeSlackError
from tests.support.stack import ADMIN, CHANNEL, Stack

pytestmark = pytest.mark.sqlite_only(reason="Slack's transport; the journey's storage is the same as over HTTP")


@pytest.fixture
async def socket_stack(tmp_path):
    stack = Stack(tmp_path)
    stack.extra_env = {"SLACK_APP_TOKEN": stack.slack.app_token, "SLACK_SIGNING_SECRET": ""}
    await stack.start()
    yield stack
    await stack.stop()


async def test_a_journey_completes_over_the_websocket(socket_stack):
    stack, slack = socket_stack, socket_stack.slack
    await slack.wait_for(lambda: slack.socket_connections, what="the bot's Socket Mode connection")
    assert [call.method for call in slack.calls_to("apps.connections.open")] == ["apps.connections.open"]

    # The slash command arrives over the websocket and is acknowledged there; the link follows privately.
    seen = len(slack.ephemerals(ADMIN))
    payload = slack.slash_command_payload(text="connect-org", user_id=ADMIN, channel_id=CHANNEL)
    await slack.socket_send(type="slash_commands", payload=payload)  # raises unless the bot acknowledges
    link = await stack.link_shown_after(seen)

    # The browser still goes through the bot's HTTP server to Salesforce and back.
    visit = await stack.browse(link)
    assert visit.final.status == 200 and "return to Slack" in visit.final.body
    status = await stack.status_message()
    assert "Acme Corp" in status.text and "External Client App" in status.text

    # The reveal button click is an interactive envelope on the same websocket.
    offer = await slack.wait_for(lambda: [e for e in slack.ephemerals(ADMIN) if "Reveal" in str(e.blocks)])
    click = slack.block_action_payload(user_id=ADMIN, action_id="reveal_credentials", message=offer[0],
                                       value=offer[0].blocks[0]["accessory"]["value"])
    await slack.socket_send(type="interactive", payload=click)
    modal = await slack.wait_for(lambda: slack.opened_views[-1:], what="the credentials modal")
    consumer_secret = stack.salesforce.org("Acme Corp").consumer_secret("QualityClouds")
    assert consumer_secret in str(modal[0].view)


async def test_without_a_signing_secret_slack_events_are_not_served_over_http(socket_stack):
    delivery = await socket_stack.slash("help")
    assert delivery.status in (404, 405)
    async with socket_stack.browser.get(socket_stack.bot_url + "/healthz") as response:
        assert response.status == 200


async def test_the_websocket_closes_with_the_bot(socket_stack):
    slack = socket_stack.slack
    await slack.wait_for(lambda: slack.socket_connections, what="the bot's Socket Mode connection")
    await socket_stack.stop_bot()
    await slack.wait_for(lambda: slack.socket_connections == 0, what="the websocket to close")
    with pytest.raises(FakeSlackError):
        await slack.socket_send(type="slash_commands",
                                payload=slack.slash_command_payload(text="help", user_id=ADMIN, channel_id=CHANNEL))
