"""Socket Mode: slack_sdk's aiohttp SocketModeClient and Bolt's AsyncSocketModeHandler against the fake."""

from __future__ import annotations

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from standins.slack import FakeSlack

SECRET = "socket-signing-secret"


@pytest.fixture
async def fake():
    async with FakeSlack(signing_secret=SECRET) as fake:
        fake.add_user(user_id="UADMIN01", name="ada", is_admin=True)
        fake.add_channel(channel_id="CGENERAL", name="general", members=["UADMIN01"])
        yield fake


async def test_connections_open_needs_an_app_token_and_tickets_are_single_use(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as info:
        await AsyncWebClient(base_url=fake.api_url).apps_connections_open(app_token=fake.team.bot_token)
    assert info.value.response["error"] == "not_allowed_token_type"
    answer = await AsyncWebClient(base_url=fake.api_url).apps_connections_open(app_token=fake.app_token)
    assert answer["url"].startswith(fake.base_url.replace("http://", "ws://") + "/link/?ticket=")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(answer["url"]) as ws:
            hello = await ws.receive_json()
            assert hello["type"] == "hello" and hello["connection_info"] == {"app_id": fake.app_id}
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(answer["url"])


async def test_socket_mode_client_acks_envelopes(fake: FakeSlack) -> None:
    received: list[SocketModeRequest] = []

    async def on_request(client: SocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        payload = {"text": f"got {request.payload['text']}"} if request.type == "slash_commands" else None
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload=payload)
        )

    client = SocketModeClient(app_token=fake.app_token, web_client=AsyncWebClient(base_url=fake.api_url))
    client.socket_mode_request_listeners.append(on_request)
    try:
        await client.connect()
        await fake.wait_for(lambda: fake.socket_connections)
        command = fake.slash_command_payload(text="status", user_id="UADMIN01", channel_id="CGENERAL")
        ack = await fake.socket_send(type="slash_commands", payload=command)
        assert ack == {"text": "got status"}
        assert received[0].accepts_response_payload is True and received[0].payload == command
        assert [e.text for e in fake.ephemerals("UADMIN01")] == ["got status"]

        event = fake.event_envelope(event=fake.app_home_opened_event(user_id="UADMIN01"))
        assert await fake.socket_send(type="events_api", payload=event) is None
        assert received[1].type == "events_api" and received[1].accepts_response_payload is False
        assert [a.type for a in fake.socket_acks] == ["slash_commands", "events_api"]

        await fake.socket_disconnect(reason="refresh_requested")
        await fake.wait_for(lambda: fake.socket_hello_count == 2)
        action = fake.block_action_payload(user_id="UADMIN01", action_id="reauth", channel_id="CGENERAL")
        assert await fake.socket_send(type="interactive", payload=action) is None
    finally:
        await client.close()


async def test_bolt_socket_mode_handler(fake: FakeSlack) -> None:
    app = AsyncApp(
        signing_secret=SECRET, client=AsyncWebClient(base_url=fake.api_url, token=fake.team.bot_token)
    )

    @app.command("/qc")
    async def qc(ack, command, client) -> None:
        await ack(f"working on {command['text']}")
        await client.chat_postMessage(channel=command["channel_id"], text="done")

    handler = AsyncSocketModeHandler(
        app, app_token=fake.app_token, web_client=AsyncWebClient(base_url=fake.api_url)
    )
    try:
        await handler.connect_async()
        await fake.wait_for(lambda: fake.socket_connections)
        payload = fake.slash_command_payload(text="help", user_id="UADMIN01", channel_id="CGENERAL")
        ack = await fake.socket_send(type="slash_commands", payload=payload)
        assert ack == {"text": "working on help"}
        await fake.wait_for(lambda: fake.messages("CGENERAL"))
    finally:
        await handler.close_async()


async def test_socket_send_without_ack_times_out(fake: FakeSlack) -> None:
    client = SocketModeClient(app_token=fake.app_token, web_client=AsyncWebClient(base_url=fake.api_url))
    try:
        await client.connect()
        await fake.wait_for(lambda: fake.socket_connections)
        with pytest.raises(TimeoutError, match="no ack"):
            await fake.socket_send(type="events_api", payload={"type": "event_callback"}, timeout=0.2)
    finally:
        await client.close()
