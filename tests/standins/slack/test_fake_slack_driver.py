"""The fake playing Slack towards a real Bolt AsyncApp served by aiohttp on loopback."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from standins.slack import FakeSlack, FakeSlackError, ManualClock, sign
from standins.slack.harness import serve_app

SECRET = "driver-signing-secret"
MODAL = {
    "type": "modal",
    "callback_id": "connect",
    "title": {"type": "plain_text", "text": "Connect"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Pick an org"}}],
}


def status_blocks(value: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "block_id": "status", "text": {"type": "mrkdwn", "text": "*Org connected*"}},
        {
            "type": "actions",
            "block_id": "buttons",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Reveal"},
                    "action_id": "reveal",
                    "value": value,
                    "style": "primary",
                },
            ],
        },
    ]


@pytest.fixture
async def fake(clock: ManualClock):
    async with FakeSlack(signing_secret=SECRET, clock=clock) as fake:
        fake.add_user(user_id="UADMIN01", name="ada", is_admin=True)
        fake.add_user(user_id="UMEMBER1", name="bob")
        fake.add_channel(channel_id="CGENERAL", name="general", members=["UADMIN01", "UMEMBER1"])
        yield fake


@pytest.fixture
async def bot(fake: FakeSlack):
    """A small Bolt app; yields (events URL, list of bodies its listeners saw)."""
    seen: list[dict[str, Any]] = []
    app = AsyncApp(
        client=AsyncWebClient(base_url=fake.api_url, token=fake.team.bot_token), signing_secret=SECRET
    )

    @app.command("/qc")
    async def qc(ack, body, command, respond, client) -> None:
        seen.append(body)
        text = command["text"]
        if text == "help":
            await ack("Usage: `/qc connect-org [sandbox]`")
        elif text == "broken":
            await ack(blocks=[{"type": "header", "text": {"type": "mrkdwn", "text": "nope"}}])
        elif text == "post":
            await ack()
            await client.chat_postMessage(
                channel=command["channel_id"], text="Org connected", blocks=status_blocks("secret-42")
            )
        elif text == "respond":
            await ack()
            await respond("only for you")
        elif text == "modal":
            await ack()
            await client.views_open(trigger_id=body["trigger_id"], view=MODAL)
        else:
            await ack()

    @app.action("reveal")
    async def reveal(ack, body, respond) -> None:
        seen.append(body)
        await ack()
        await respond(replace_original=True, text=f"revealed for {body['user']['id']}")

    @app.event("app_home_opened")
    async def home(event, client) -> None:
        seen.append(event)
        if event["tab"] == "home":
            await client.views_publish(
                user_id=event["user"],
                view={
                    "type": "home",
                    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Orgs"}}],
                },
            )

    async with serve_app(app.web_app()) as base:
        yield f"{base}/slack/events", seen


async def test_slash_command_is_signed_and_shaped_like_slack(fake: FakeSlack, bot) -> None:
    url, seen = bot
    delivery = await fake.send_slash_command(
        url, text="connect-org sandbox", user_id="UADMIN01", channel_id="CGENERAL"
    )
    assert delivery.ok, delivery.text
    body = delivery.request_body.decode()
    assert "command=%2Fqc" in body and "text=connect-org+sandbox" in body
    fields = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    assert list(fields) == [
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    ]
    assert fields["response_url"].startswith(f"{fake.base_url}/hooks/commands/{fake.team.team_id}/")
    headers = delivery.request_headers
    assert headers["X-Slack-Signature"] == sign(
        SECRET, headers["X-Slack-Request-Timestamp"], delivery.request_body
    )
    assert headers["User-Agent"] == "Slackbot 1.0 (+https://api.slack.com/robots)"
    assert seen[0]["text"] == "connect-org sandbox" and seen[0]["user_name"] == "ada"


async def test_ack_text_is_shown_to_the_user_only(fake: FakeSlack, bot) -> None:
    url, _ = bot
    delivery = await fake.send_slash_command(url, text="help", user_id="UADMIN01", channel_id="CGENERAL")
    assert delivery.ok and delivery.ack_error is None
    [shown] = fake.ephemerals("UADMIN01")
    assert (shown.via, shown.text) == ("ack", "Usage: `/qc connect-org [sandbox]`")
    assert fake.messages() == []

    broken = await fake.send_slash_command(url, text="broken", user_id="UADMIN01", channel_id="CGENERAL")
    assert broken.ack_error and "invalid_blocks" in broken.ack_error


async def test_stale_or_tampered_requests_get_401(fake: FakeSlack, bot, clock: ManualClock) -> None:
    url, seen = bot
    stale = await fake.send_slash_command(
        url, text="help", user_id="UADMIN01", channel_id="CGENERAL", timestamp=int(clock()) - 301
    )
    tampered = await fake.send_slash_command(
        url, text="help", user_id="UADMIN01", channel_id="CGENERAL", signature="v0=" + "0" * 64
    )
    assert (stale.status, tampered.status) == (401, 401)
    assert seen == [] and fake.ephemerals() == []


async def test_click_sends_block_actions_and_response_url_replaces(fake: FakeSlack, bot) -> None:
    url, seen = bot
    await fake.send_slash_command(url, text="post", user_id="UADMIN01", channel_id="CGENERAL")
    [message] = await fake.wait_for(lambda: fake.messages("CGENERAL"))
    assert message.text == "Org connected"

    delivery = await fake.click(url, message=message, action_id="reveal", user_id="UADMIN01")
    assert delivery.ok
    payload = seen[-1]
    assert payload["type"] == "block_actions"
    assert payload["container"] == {
        "type": "message",
        "message_ts": message.ts,
        "channel_id": "CGENERAL",
        "is_ephemeral": False,
    }
    assert payload["actions"][0] | {"action_ts": "x"} == {
        "action_id": "reveal",
        "block_id": "buttons",
        "type": "button",
        "value": "secret-42",
        "text": {"type": "plain_text", "text": "Reveal", "emoji": True},
        "action_ts": "x",
    }
    assert payload["user"] == {
        "id": "UADMIN01",
        "username": "ada",
        "name": "ada",
        "team_id": fake.team.team_id,
    }
    assert payload["message"]["ts"] == message.ts and payload["state"] == {"values": {}}
    assert payload["enterprise"] is None and payload["is_enterprise_install"] is False
    await fake.wait_for(lambda: message.text == "revealed for UADMIN01")
    [post] = fake.response_url_posts
    assert post.status == 200 and post.body["replace_original"] is True

    assert message.blocks == []  # replace_original replaces the whole message, buttons included
    with pytest.raises(FakeSlackError, match="no button with action_id 'reveal'"):
        await fake.click(url, message=message, action_id="reveal", user_id="UADMIN01")


async def test_respond_posts_an_ephemeral_through_response_url(fake: FakeSlack, bot) -> None:
    url, _ = bot
    await fake.send_slash_command(url, text="respond", user_id="UADMIN01", channel_id="CGENERAL")
    [shown] = await fake.wait_for(lambda: fake.ephemerals("UADMIN01"))
    assert (shown.via, shown.text) == ("response_url", "only for you")
    assert fake.response_url_posts[0].kind == "commands"


async def test_trigger_from_a_command_opens_a_modal(fake: FakeSlack, bot) -> None:
    url, _ = bot
    delivery = await fake.send_slash_command(url, text="modal", user_id="UADMIN01", channel_id="CGENERAL")
    [view] = await fake.wait_for(lambda: fake.opened_views)
    assert view.trigger_id == delivery.trigger_id and view.user_id == "UADMIN01"


async def test_app_home_opened_publishes_home(fake: FakeSlack, bot) -> None:
    url, seen = bot
    assert seen == []
    event = fake.app_home_opened_event(user_id="UMEMBER1")
    delivery = await fake.send_event(url, event=event)
    assert delivery.ok
    home = await fake.wait_for(lambda: fake.home_views.get("UMEMBER1"))
    assert home.blocks[0]["text"]["text"] == "Orgs"
    envelope = delivery.request_body
    assert b'"type": "event_callback"' in envelope and b'"authorizations"' in envelope


async def test_url_verification_challenge(fake: FakeSlack, bot) -> None:
    url, _ = bot
    delivery = await fake.send_url_verification(url)
    assert delivery.ok and delivery.ack_error is None


async def test_response_url_allows_five_uses_within_thirty_minutes(
    fake: FakeSlack, clock: ManualClock
) -> None:
    fields = fake.slash_command_payload(text="x", user_id="UADMIN01", channel_id="CGENERAL")
    hook = AsyncWebhookClient(fields["response_url"])
    for i in range(5):
        assert (await hook.send(text=f"use {i}")).status_code == 200
    sixth = await hook.send(text="too many")
    assert (sixth.status_code, sixth.body) == (404, '{"ok": false, "error": "used_url"}')
    assert len(fake.ephemerals("UADMIN01")) == 5

    later = AsyncWebhookClient(
        fake.slash_command_payload(text="x", user_id="UADMIN01", channel_id="CGENERAL")["response_url"]
    )
    assert (await later.send(text="x", blocks=[{"type": "nope"}])).status_code == 400
    clock.advance(30 * 60 + 1)
    expired = await later.send(text="late")
    assert (expired.status_code, expired.body) == (404, '{"ok": false, "error": "expired_url"}')


async def test_in_channel_and_delete_original_through_response_url(fake: FakeSlack) -> None:
    client = AsyncWebClient(base_url=fake.api_url, token=fake.team.bot_token)
    await client.chat_postMessage(channel="CGENERAL", text="status", blocks=status_blocks("v"))
    [message] = fake.messages()
    payload = fake.block_action_payload(user_id="UMEMBER1", action_id="reveal", message=message)
    hook = AsyncWebhookClient(payload["response_url"])
    await hook.send(text="for everyone", response_type="in_channel")
    assert [m.text for m in fake.messages("CGENERAL")] == ["status", "for everyone"]
    await hook.send(delete_original=True)
    assert [m.text for m in fake.messages("CGENERAL")] == ["for everyone"]
    assert message.deleted


async def test_driver_refuses_impossible_situations(fake: FakeSlack) -> None:
    fake.add_channel(channel_id="CPRIVATE", name="private", members=["UADMIN01"])
    with pytest.raises(FakeSlackError, match="not a member"):
        fake.slash_command_payload(text="x", user_id="UMEMBER1", channel_id="CPRIVATE")
    with pytest.raises(FakeSlackError, match="unknown user"):
        fake.slash_command_payload(text="x", user_id="UGHOST", channel_id="CGENERAL")


async def test_clicks_in_ephemerals_and_home_views(fake: FakeSlack) -> None:
    seen: list[dict[str, Any]] = []
    app = AsyncApp(
        client=AsyncWebClient(base_url=fake.api_url, token=fake.team.bot_token), signing_secret=SECRET
    )

    @app.action("reveal")
    async def reveal(ack, body, respond) -> None:
        seen.append(body)
        await ack()
        if "response_url" in body:
            await respond(replace_original=True, text="revealed")

    client = AsyncWebClient(base_url=fake.api_url, token=fake.team.bot_token)
    await client.chat_postEphemeral(
        channel="CGENERAL", user="UADMIN01", text="psst", blocks=status_blocks("k")
    )
    await client.views_publish(user_id="UADMIN01", view={"type": "home", "blocks": status_blocks("h")})
    [ephemeral] = fake.ephemerals("UADMIN01")
    async with serve_app(app.web_app()) as base:
        url = f"{base}/slack/events"
        with pytest.raises(FakeSlackError, match="only UADMIN01 can see"):
            await fake.click(url, message=ephemeral, action_id="reveal", user_id="UMEMBER1")
        assert (await fake.click(url, message=ephemeral, action_id="reveal", user_id="UADMIN01")).ok
        assert seen[0]["container"]["is_ephemeral"] is True and "message" not in seen[0]
        await fake.wait_for(lambda: ephemeral.text == "revealed")

        home = fake.home_views["UADMIN01"]
        assert (await fake.click(url, message=home, action_id="reveal", user_id="UADMIN01")).ok
        assert seen[1]["container"] == {"type": "view", "view_id": home.view_id}
        assert seen[1]["view"]["type"] == "home" and "response_url" not in seen[1]
        assert seen[1]["actions"][0]["value"] == "h"


async def test_slow_ack_times_out_like_slack(fake: FakeSlack) -> None:
    release = asyncio.Event()
    app = AsyncApp(
        client=AsyncWebClient(base_url=fake.api_url, token=fake.team.bot_token), signing_secret=SECRET
    )

    @app.command("/qc")
    async def slow(ack) -> None:
        await release.wait()
        await ack()

    fake.ack_timeout = 0.3
    async with serve_app(app.web_app()) as base:
        delivery = await fake.send_slash_command(
            f"{base}/slack/events", text="x", user_id="UADMIN01", channel_id="CGENERAL"
        )
        release.set()
    assert delivery.timed_out and not delivery.ok and delivery.status is None


async def test_event_retries_carry_slack_headers(fake: FakeSlack, bot) -> None:
    url, _ = bot
    delivery = await fake.send_event(
        url, event=fake.app_home_opened_event(user_id="UADMIN01", tab="messages"), retry_num=1
    )
    assert delivery.ok
    assert delivery.request_headers["X-Slack-Retry-Num"] == "1"
    assert delivery.request_headers["X-Slack-Retry-Reason"] == "http_timeout"


async def test_transcript_renders_what_people_see(fake: FakeSlack) -> None:
    client = AsyncWebClient(base_url=fake.api_url, token=fake.team.bot_token)
    await client.chat_postMessage(channel="CGENERAL", text="Org connected", blocks=status_blocks("v"))
    await client.chat_postEphemeral(channel="CGENERAL", user="UADMIN01", text="key: abc")
    transcript = fake.transcript("CGENERAL")
    assert "*Org connected*" in transcript and "[Reveal]" in transcript
    assert "[only visible to UADMIN01 in CGENERAL]\n  key: abc" in transcript


async def test_raw_block_action_signed_and_tampered(fake: FakeSlack, bot) -> None:
    url, seen = bot
    tampered = await fake.send_block_action(
        url, user_id="UADMIN01", action_id="reveal", value="x", channel_id="CGENERAL", signature="v0=bad"
    )
    assert tampered.status == 401 and seen == []
    delivery = await fake.send_block_action(
        url, user_id="UADMIN01", action_id="reveal", value="x", block_id="b1", channel_id="CGENERAL"
    )
    assert delivery.ok and delivery.response_url
    assert seen[0]["actions"][0]["block_id"] == "b1" and seen[0]["channel"] == {
        "id": "CGENERAL",
        "name": "general",
    }
    # No original message to replace: Slack shows the response as a new ephemeral message.
    [shown] = await fake.wait_for(lambda: fake.ephemerals("UADMIN01"))
    assert shown.text == "revealed for UADMIN01"
