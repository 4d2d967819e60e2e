"""The fake's Web API, exercised with the real slack_sdk AsyncWebClient over loopback HTTP."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from standins.slack import FakeSlack, ManualClock, WaitTimeout

SECRET = "test-signing-secret"
QUICK = FixedValueRetryIntervalCalculator(0.05)
BUTTON = {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "action_id": "go", "value": "v"}


@pytest.fixture
async def fake(clock: ManualClock):
    async with FakeSlack(signing_secret=SECRET, clock=clock) as fake:
        fake.add_user(user_id="UADMIN01", name="ada", is_admin=True)
        fake.add_user(user_id="UMEMBER1", name="bob")
        fake.add_channel(channel_id="CGENERAL", name="general", members=["UADMIN01"])
        fake.add_channel(channel_id="COUTSIDE", name="outside", members=["UADMIN01"], bot_is_member=False)
        fake.add_channel(
            channel_id="GSECRET1", name="secret", is_private=True, members=["UADMIN01"], bot_is_member=False
        )
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(base_url=fake.api_url, token=fake.team.bot_token)


async def error_of(coro) -> dict:
    with pytest.raises(SlackApiError) as info:
        await coro
    return info.value.response.data


async def test_auth_test_describes_the_bot(fake: FakeSlack, client: AsyncWebClient) -> None:
    data = (await client.auth_test()).data
    assert data == {
        "ok": True,
        "url": "https://qc-test.slack.com/",
        "team": "QC Test Workspace",
        "user": "qc-bot",
        "team_id": fake.team.team_id,
        "user_id": fake.team.bot_user_id,
        "bot_id": fake.team.bot_id,
        "is_enterprise_install": False,
    }
    assert fake.team.bot_token.startswith("xoxb-")
    assert fake.calls[-1].team_id == fake.team.team_id


async def test_answers_name_the_granted_scopes(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.team.scopes.discard("users:read")
    response = await client.auth_test()
    granted = response.headers["x-oauth-scopes"].split(",")
    assert "chat:write" in granted and "users:read" not in granted
    refused = await error_of(AsyncWebClient(base_url=fake.api_url, token="xoxb-unknown").auth_test())
    assert refused["error"] == "invalid_auth"


async def test_tokens_missing_unknown_revoked_and_wrong_kind(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert (await error_of(AsyncWebClient(base_url=fake.api_url).auth_test()))["error"] == "not_authed"
    bogus = AsyncWebClient(base_url=fake.api_url, token="xoxb-1-2-nope")
    assert (await error_of(bogus.auth_test()))["error"] == "invalid_auth"
    app_level = AsyncWebClient(base_url=fake.api_url, token=fake.app_token)
    assert (await error_of(app_level.auth_test()))["error"] == "not_allowed_token_type"
    fake.revoke_token(fake.team.bot_token)
    assert (await error_of(client.auth_test()))["error"] == "token_revoked"


async def test_token_in_form_field_works_but_not_inside_json(fake: FakeSlack) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{fake.api_url}auth.test", data={"token": fake.team.bot_token}) as resp:
            assert resp.status == 200 and (await resp.json())["ok"] is True
        async with session.post(
            f"{fake.api_url}chat.postMessage", json={"token": fake.team.bot_token, "channel": "CGENERAL"}
        ) as resp:
            answer = await resp.json()
    assert answer["error"] == "not_authed"
    assert answer["warning"] == "missing_charset"


async def test_unknown_method(client: AsyncWebClient) -> None:
    assert (await error_of(client.api_call("chat.fly")))["error"] == "unknown_method"


async def test_post_message_records_and_answers_like_slack(fake: FakeSlack, client: AsyncWebClient) -> None:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "**ugly but valid**"}},
        {"type": "actions", "elements": [BUTTON]},
    ]
    first = await client.chat_postMessage(channel="CGENERAL", text="hello", blocks=blocks)
    second = await client.chat_postMessage(channel="#general", text="again")
    assert first["channel"] == "CGENERAL" and first["message"]["text"] == "hello"
    assert first["ts"] < second["ts"] and first["ts"].count(".") == 1 and len(first["ts"].split(".")[1]) == 6
    stored = fake.messages("CGENERAL")
    assert [m.text for m in stored] == ["hello", "again"]
    assert all(block["block_id"] for block in stored[0].blocks)  # Slack fills in block ids
    assert stored[0].buttons()[0][1]["value"] == "v"
    call = fake.calls_to("chat.postMessage")[0]
    assert call.params["blocks"][0]["text"]["text"] == "**ugly but valid**"
    assert call.headers["Content-Type"].startswith("application/json")
    assert b"**ugly but valid**" in call.body


async def test_post_message_refusals(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert (await error_of(client.chat_postMessage(channel="CNOPE", text="x")))[
        "error"
    ] == "channel_not_found"
    assert (await error_of(client.chat_postMessage(channel="GSECRET1", text="x")))[
        "error"
    ] == "channel_not_found"
    with pytest.warns(UserWarning, match="top-level `text`"):
        assert (await error_of(client.chat_postMessage(channel="CGENERAL", text="")))["error"] == "no_text"
    too_long = client.chat_postMessage(channel="CGENERAL", text="x" * 40_001)
    assert (await error_of(too_long))["error"] == "msg_too_long"
    # Public channel without membership: fine with chat:write.public, refused without it.
    await client.chat_postMessage(channel="COUTSIDE", text="allowed")
    fake.scopes[fake.team.team_id].discard("chat:write.public")
    assert (await error_of(client.chat_postMessage(channel="COUTSIDE", text="x")))[
        "error"
    ] == "not_in_channel"
    fake.team.scopes.discard("chat:write")
    refused = await error_of(client.chat_postMessage(channel="CGENERAL", text="x"))
    assert refused["error"] == "missing_scope" and refused["needed"] == "chat:write"
    assert [m.text for m in fake.messages()] == ["allowed"]


@pytest.mark.parametrize(
    ("blocks", "fragment"),
    [
        ([{"type": "divider"}] * 51, "no more than 50 items allowed [json-pointer:/blocks]"),
        ([{"type": "banner"}], "unsupported block type"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "/blocks/0/text/text"),
        ([{"type": "section", "text": {"type": "markdown", "text": "x"}}], "/blocks/0/text/type"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "more than 0 characters"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "less than 151"),
        ([{"type": "actions", "elements": [{**BUTTON, "style": "secondary"}]}], "primary, danger"),
        (
            [{"type": "actions", "elements": [{**BUTTON, "text": {"type": "mrkdwn", "text": "Go"}}]}],
            "plain_text",
        ),
        ([{"type": "actions", "elements": [BUTTON, BUTTON]}], "duplicate action_id"),
        ([{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}], "duplicate block_id"),
    ],
)
async def test_invalid_blocks_are_refused_with_details(
    fake: FakeSlack, client: AsyncWebClient, blocks: list, fragment: str
) -> None:
    data = await error_of(client.chat_postMessage(channel="CGENERAL", text="fallback", blocks=blocks))
    assert data["error"] == "invalid_blocks"
    assert any(fragment in message for message in data["response_metadata"]["messages"]), data
    assert fake.messages() == []


async def test_form_encoded_blocks_are_parsed_too(fake: FakeSlack) -> None:
    blocks = json.dumps([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}])
    form = {"token": fake.team.bot_token, "channel": "CGENERAL", "text": "t", "blocks": blocks}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{fake.api_url}chat.postMessage", data=form) as resp:
            assert (await resp.json())["error"] == "invalid_blocks"
        async with session.post(f"{fake.api_url}chat.postMessage", data={**form, "blocks": "[{"}) as resp:
            assert (await resp.json())["error"] == "invalid_blocks_format"


async def test_ephemeral_and_update(fake: FakeSlack, client: AsyncWebClient) -> None:
    answer = await client.chat_postEphemeral(channel="CGENERAL", user="UADMIN01", text="just you")
    assert fake.ephemerals("UADMIN01")[0].ts == answer["message_ts"]
    refused = client.chat_postEphemeral(channel="CGENERAL", user="UMEMBER1", text="x")
    assert (await error_of(refused))["error"] == "user_not_in_channel"

    posted = await client.chat_postMessage(channel="CGENERAL", text="v1", blocks=[{"type": "divider"}])
    updated = await client.chat_update(channel="CGENERAL", ts=posted["ts"], text="v2")
    assert updated["ts"] == posted["ts"] and updated["text"] == "v2"
    message = fake.messages("CGENERAL")[0]
    assert message.text == "v2" and message.blocks[0]["type"] == "divider"  # blocks kept when omitted
    assert message.history[0]["text"] == "v1"
    missing = client.chat_update(channel="CGENERAL", ts="1.000001", text="x")
    assert (await error_of(missing))["error"] == "message_not_found"


async def test_replies_join_their_parents_thread_and_orphans_follow_the_switch(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = await client.chat_postMessage(channel="CGENERAL", text="card")
    reply = await client.chat_postMessage(channel="CGENERAL", text="r1", thread_ts=parent["ts"], reply_broadcast=True)
    nested = await client.chat_postMessage(channel="CGENERAL", text="r2", thread_ts=reply["ts"])
    card, first, second = fake.messages("CGENERAL")
    assert (first.thread_ts, first.reply_broadcast) == (parent["ts"], True)
    assert (second.thread_ts, second.reply_broadcast) == (parent["ts"], False), "threads are one level deep"
    assert nested["message"]["thread_ts"] == parent["ts"]

    card.deleted = True
    orphan = client.chat_postMessage(channel="CGENERAL", text="r3", thread_ts=parent["ts"])
    assert (await error_of(orphan))["error"] == "thread_not_found", "refused by default: Slack does not say"
    elsewhere = client.chat_postMessage(channel="COUTSIDE", text="r4", thread_ts=reply["ts"])
    assert (await error_of(elsewhere))["error"] in ("not_in_channel", "thread_not_found")
    fake.orphan_replies = "top_level"
    await client.chat_postMessage(channel="CGENERAL", text="r5", thread_ts=parent["ts"])
    assert fake.messages("CGENERAL")[-1].thread_ts is None


async def test_users_info_and_conversations_info(fake: FakeSlack, client: AsyncWebClient) -> None:
    user = (await client.users_info(user="UADMIN01"))["user"]
    assert {k: user[k] for k in ("id", "team_id", "name", "is_admin", "is_owner", "is_bot", "deleted")} == {
        "id": "UADMIN01",
        "team_id": fake.team.team_id,
        "name": "ada",
        "is_admin": True,
        "is_owner": False,
        "is_bot": False,
        "deleted": False,
    }
    assert {"real_name", "is_primary_owner", "tz"} <= user.keys()
    assert (await error_of(client.users_info(user="UNOBODY")))["error"] == "user_not_found"
    # conversations.info needs channels:read, which the default scopes do not include.
    refused = await error_of(client.conversations_info(channel="CGENERAL"))
    assert (refused["error"], refused["needed"]) == ("missing_scope", "channels:read")
    fake.team.scopes.add("channels:read")
    channel = (await client.conversations_info(channel="CGENERAL"))["channel"]
    assert (channel["name"], channel["is_member"], channel["is_private"]) == ("general", True, False)


async def test_ratelimited_then_retry_after_is_honoured(fake: FakeSlack) -> None:
    client = AsyncWebClient(base_url=fake.api_url, token=fake.team.bot_token)
    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    data = await error_of(client.chat_postMessage(channel="CGENERAL", text="x"))
    assert data["error"] == "ratelimited"

    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    started = time.monotonic()
    await client.chat_postMessage(channel="CGENERAL", text="after the wait")
    assert time.monotonic() - started >= 1.0
    limited, retried = fake.calls_to("chat.postMessage")[-2:]
    assert limited.status == 429 and retried.ok
    assert retried.monotonic - limited.monotonic >= 1.0
    assert [m.text for m in fake.messages()] == ["after the wait"]


async def test_server_errors_and_dropped_connections_are_retried(fake: FakeSlack) -> None:
    client = AsyncWebClient(
        base_url=fake.api_url,
        token=fake.team.bot_token,
        retry_handlers=[
            AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=QUICK),
            AsyncConnectionErrorRetryHandler(interval_calculator=QUICK),
        ],
    )
    fake.fail_next("chat.postMessage", status=500)
    fake.fail_next("chat.postMessage", status=503)
    await client.chat_postMessage(channel="CGENERAL", text="third time lucky")
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [500, 503, 200]

    fake.fail_next("auth.test", drop=True)
    assert (await client.auth_test())["ok"] is True
    assert [c.status for c in fake.calls_to("auth.test")] == [0, 200]

    fake.fail_next("users.info", error="fatal_error", count=2)
    assert (await error_of(client.users_info(user="UADMIN01")))["error"] == "fatal_error"
    assert (await error_of(client.users_info(user="UADMIN01")))["error"] == "fatal_error"
    assert (await client.users_info(user="UADMIN01"))["ok"] is True


MODAL = {
    "type": "modal",
    "callback_id": "connect",
    "title": {"type": "plain_text", "text": "Connect an org"},
    "submit": {"type": "plain_text", "text": "Connect"},
    "blocks": [
        {
            "type": "input",
            "block_id": "org",
            "label": {"type": "plain_text", "text": "Org"},
            "element": {"type": "plain_text_input", "action_id": "url"},
        }
    ],
}


async def test_views_open_trigger_rules(fake: FakeSlack, client: AsyncWebClient, clock: ManualClock) -> None:
    trigger = fake.issue_trigger_id(user_id="UADMIN01")
    view = (await client.views_open(trigger_id=trigger, view=MODAL))["view"]
    assert view["type"] == "modal" and view["id"] == fake.opened_views[0].view_id
    assert view["title"]["text"] == "Connect an org" and view["blocks"][0]["block_id"] == "org"
    assert (await error_of(client.views_open(trigger_id=trigger, view=MODAL)))[
        "error"
    ] == "exchanged_trigger_id"

    stale = fake.issue_trigger_id(user_id="UADMIN01")
    clock.advance(3.5)
    assert (await error_of(client.views_open(trigger_id=stale, view=MODAL)))["error"] == "expired_trigger_id"
    made_up = await error_of(client.views_open(trigger_id="123.456.abc", view=MODAL))
    assert made_up["error"] == "invalid_arguments"


async def test_views_validation(fake: FakeSlack, client: AsyncWebClient) -> None:
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "t" * 25}}
    data = await error_of(
        client.views_open(trigger_id=fake.issue_trigger_id(user_id="UADMIN01"), view=long_title)
    )
    assert data["error"] == "invalid_arguments"
    assert "[json-pointer:/view/title/text]" in data["response_metadata"]["messages"][0]
    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    data = await error_of(
        client.views_open(trigger_id=fake.issue_trigger_id(user_id="UADMIN01"), view=no_submit)
    )
    assert "submit is required" in data["response_metadata"]["messages"][0]
    huge = {**MODAL, "private_metadata": "x" * 260_000}
    data = await error_of(client.views_open(trigger_id=fake.issue_trigger_id(user_id="UADMIN01"), view=huge))
    assert data["error"] == "view_too_large"
    assert fake.opened_views == []


async def test_views_publish_and_update(fake: FakeSlack, client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Orgs*"}}]}
    first = (await client.views_publish(user_id="UADMIN01", view=home))["view"]
    assert fake.home_views["UADMIN01"].view_id == first["id"]
    republished = (await client.views_publish(user_id="UADMIN01", view=home, hash=first["hash"]))["view"]
    assert republished["id"] == first["id"]
    conflict = await error_of(client.views_publish(user_id="UADMIN01", view=home, hash=first["hash"]))
    assert conflict["error"] == "hash_conflict"
    assert (await error_of(client.api_call("views.publish", json={"view": home})))[
        "error"
    ] == "invalid_arguments"
    wrong_type = await error_of(client.views_publish(user_id="UADMIN01", view=MODAL))
    assert wrong_type["error"] == "invalid_arguments"
    too_many = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    assert (await error_of(client.views_publish(user_id="UADMIN01", view=too_many)))[
        "error"
    ] == "invalid_arguments"

    opened = (await client.views_open(trigger_id=fake.issue_trigger_id(user_id="UADMIN01"), view=MODAL))[
        "view"
    ]
    changed = {**MODAL, "title": {"type": "plain_text", "text": "Connecting…"}}
    updated = (await client.views_update(view_id=opened["id"], view=changed))["view"]
    assert (
        updated["title"]["text"] == "Connecting…"
        and fake.opened_views[0].view["title"]["text"] == "Connecting…"
    )
    assert (await error_of(client.views_update(view_id="VNOPE", view=changed)))["error"] == "not_found"


async def test_wait_for_returns_value_or_explains(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="CGENERAL", text="ping")
    found = await fake.wait_for(lambda: fake.messages("CGENERAL"), timeout=1)
    assert found[0].text == "ping"
    with pytest.raises(WaitTimeout) as info:
        await fake.wait_for(lambda: fake.ephemerals(), timeout=0.05, what="an ephemeral")
    assert "an ephemeral" in str(info.value) and "chat.postMessage" in str(info.value)


async def test_all_raw_bytes_holds_everything_the_bot_sent(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="CGENERAL", text="needle-1234")
    raw = fake.all_raw_bytes()
    assert b"needle-1234" in raw and b"POST /api/chat.postMessage" in raw


async def test_second_team_is_isolated(fake: FakeSlack) -> None:
    other = fake.add_team(team_id="T0OTHER01", name="Other", domain="other")
    fake.add_channel(other, channel_id="COTHER", name="other")
    client = AsyncWebClient(base_url=fake.api_url, token=other.bot_token)
    assert (await client.auth_test())["team_id"] == "T0OTHER01"
    assert (await error_of(client.chat_postMessage(channel="CGENERAL", text="x")))[
        "error"
    ] == "channel_not_found"
    await client.chat_postMessage(channel="COTHER", text="hi")
    assert fake.messages("COTHER")[0].team_id == "T0OTHER01"


def _section(text: str, **extra) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


OVER_THE_LIMIT = {
    "section text 3,001": [_section("x" * 3001)],
    "header 151": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
    "field 2,001": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
    "button text 76": [_section("x", accessory={**BUTTON, "text": {"type": "plain_text", "text": "b" * 76}})],
    "button value 2,001": [{"type": "actions", "elements": [{**BUTTON, "value": "v" * 2001}]}],
    "context text 3,001": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 3001}]}],
    "51 blocks": [_section("x")] * 51,
}


@pytest.mark.parametrize("blocks", OVER_THE_LIMIT.values(), ids=OVER_THE_LIMIT.keys())
async def test_every_limit_is_refused_as_invalid_blocks_by_every_method_that_takes_blocks(
    fake: FakeSlack, client: AsyncWebClient, blocks: list
) -> None:
    """Slack refuses a message over any Block Kit limit as a whole (`invalid_blocks`); so does the stand-in,
    whichever method carries it, and a message exactly at the limits is taken."""
    posted = await client.chat_postMessage(channel="CGENERAL", text="v1")
    attempts = {
        "chat.postMessage": client.chat_postMessage(channel="CGENERAL", text="t", blocks=blocks),
        "chat.postEphemeral": client.chat_postEphemeral(channel="CGENERAL", user="UADMIN01", text="t",
                                                        blocks=blocks),
        "chat.update": client.chat_update(channel="CGENERAL", ts=posted["ts"], text="t", blocks=blocks),
    }
    for method, attempt in attempts.items():
        assert (await error_of(attempt))["error"] == "invalid_blocks", method
    assert [m.text for m in fake.messages("CGENERAL")] == ["v1"] and fake.ephemerals("UADMIN01") == []
    at_the_limits = [_section("x" * 3000, accessory={**BUTTON, "text": {"type": "plain_text", "text": "b" * 75},
                                                      "value": "v" * 2000}),
                     {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
                     {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}]}]
    at_the_limits += [_section("x")] * (50 - len(at_the_limits))
    await client.chat_postMessage(channel="CGENERAL", text="t", blocks=at_the_limits)


async def test_views_over_their_limits_are_refused(fake: FakeSlack, client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [_section("x")] * 101}
    assert (await error_of(client.views_publish(user_id="UADMIN01", view=home)))["error"] == "invalid_arguments"
    await client.views_publish(user_id="UADMIN01", view={**home, "blocks": [_section("x")] * 100})
