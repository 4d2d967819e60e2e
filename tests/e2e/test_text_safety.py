"""SPEC §3 "Text that cannot go wrong", over HTTP: an org named to do harm never reaches Slack unescaped, an
app with dozens of callback URLs still gets its status delivered, a message Slack refuses anyway is followed
by a plain-text fallback and a private note, and odd command text gets answers Slack accepts."""

import json
from datetime import timedelta

import pytest

from standins.slack import validate_blocks
from tests.support.mrkdwn import mrkdwn_texts
from tests.support.stack import ADMIN, CHANNEL

pytestmark = pytest.mark.sqlite_only(reason="how text is escaped and trimmed for Slack; the database plays no part")

HOSTILE = "<!channel> Acme & <Sons>"
ESCAPED = "&lt;!channel&gt; Acme &amp; &lt;Sons&gt;"
DAY = timedelta(days=1)


def mrkdwn_of(payload: dict) -> list[str]:
    """The top-level `text` (Slack notifies with it) and every mrkdwn text object of a Slack payload."""
    top = [payload["text"]] if isinstance(payload.get("text"), str) else []
    return top + mrkdwn_texts(payload.get("blocks")) + mrkdwn_texts(payload.get("view"))


def everything_sent(stack) -> list[str]:
    """The mrkdwn of every Web API call, response_url post and slash-command answer the bot sent Slack."""
    texts = [text for call in stack.slack.calls for text in mrkdwn_of(call.params)]
    texts += [text for post in stack.slack.response_url_posts if isinstance(post.body, dict)
              for text in mrkdwn_of(post.body)]
    return texts


async def test_a_hostile_org_name_never_reaches_slack_unescaped(stack):
    stack.org.name = HOSTILE
    stack.org.add_oauth_token(app_name="QualityClouds", user=stack.org.admin, created=stack.clock.now(),
                              last_used=stack.clock.now())
    await stack.connect()
    status = await stack.status_message()
    assert ESCAPED in status.text, "the name reached the channel, escaped"
    await stack.slack.wait_for(lambda: "credentials sign in to" in stack.slack.messages(CHANNEL)[0].text,
                               what="the sign-in proof")
    await stack.slack.wait_for(lambda: stack.query("SELECT 1 FROM tracked_tokens WHERE kind = 'app'"),
                               what="the app's token to be tracked")
    await stack.slash("status")
    await stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals(ADMIN) if "Nearest expiry" in str(e.blocks)],
                               what="the dashboard")
    await stack.slack.send_event(stack.events_url, event=stack.slack.app_home_opened_event(user_id=ADMIN))
    await stack.slack.wait_for(lambda: stack.slack.home_views or None, what="the App Home")
    stack.clock.advance(60 * DAY + timedelta(minutes=1))  # the 30-day warnings fall due
    await stack.slack.wait_for(lambda: [m for m in stack.slack.messages(CHANNEL) if "expires in" in m.text],
                               what="an expiry warning")
    await stack.slash(f"disconnect-org {stack.org.id}")
    confirmation = await stack.slack.wait_for(
        lambda: [e for e in stack.slack.ephemerals(ADMIN) if "disconnect_org_confirm" in str(e.blocks)],
        what="the confirmation")
    await stack.slack.click(stack.events_url, message=confirmation[-1], action_id="disconnect_org_confirm",
                            user_id=ADMIN)
    await stack.slack.wait_for(lambda: [m for m in stack.slack.messages(CHANNEL)
                                        if "disconnected Salesforce org" in m.text], what="the disconnect notice")
    await stack.slash(f"disconnect-org {HOSTILE}")
    await stack.settle()

    sent = everything_sent(stack)
    assert sum(ESCAPED in text for text in sent) >= 6, "status, dashboard, home, warning, confirmation, notice"
    for text in sent:
        assert "<!channel>" not in text and "<Sons>" not in text and "Acme & " not in text, text
    assert not any(call.error == "invalid_blocks" for call in stack.slack.calls)


async def test_a_connected_app_with_40_callback_urls_gets_its_status_delivered(stack):
    urls = [f"https://app{n}.partner.example.com/oauth/callback/with/a/long/path" for n in range(40)]
    stack.org.seed_connected_app(
        "QualityClouds", label="QualityClouds", contact_email="old@example.com", callback_urls=urls,
        scopes=["Api"], consumer_key="ExistingKey0123456789", consumer_secret="ExistingSecret0123456789",
        pkce_required=True, client_credentials_user=None)
    await stack.connect()
    status = await stack.status_message()
    await stack.settle()
    assert "Connected App" in status.text and "…and 37 more" in status.text
    assert status.blocks, "delivered as Block Kit, not as the plain-text fallback"
    assert validate_blocks(status.blocks) == []
    assert stack.query("SELECT dedupe_key FROM notifications WHERE status = 'undeliverable'") == []


async def test_a_message_slack_refuses_is_followed_by_a_fallback_and_a_private_note(stack):
    stack.slack.fail_next("chat.postMessage", error="invalid_blocks")
    await stack.connect()
    note = await stack.slack.wait_for(
        lambda: [e for e in stack.slack.ephemerals(ADMIN) if "Slack refused a message" in e.text], what="the note")
    assert f"<#{CHANNEL}>" in note[0].text and "invalid_blocks" in note[0].text
    posts = [call for call in stack.slack.calls if call.method == "chat.postMessage"]
    assert posts[0].error == "invalid_blocks"
    fallback = posts[1]
    assert fallback.ok and not fallback.params.get("blocks"), "plain text, no blocks"
    assert "Setting up QualityClouds in" in fallback.params["text"], "the card, as first posted"
    assert fallback.params["channel"] == CHANNEL
    status = await stack.status_message()
    assert "is connected to Quality Clouds" in status.text and "Consumer key" in status.text, "edited as usual"
    await stack.settle()
    assert len(stack.slack.messages(CHANNEL)) == 1, "the fallback took the status's place, once"
    assert [key.split(":")[-1] for (key,) in stack.query(
        "SELECT dedupe_key FROM notifications WHERE dedupe_key LIKE 'status:%' AND status = 'sent' ORDER BY id")
            ] == [key.split(":")[1] for (key,) in stack.query("SELECT dedupe_key FROM notifications WHERE dedupe_key"
                                                             " LIKE 'status:%' ORDER BY id LIMIT 1")] + ["refused"]


async def test_odd_command_text_gets_answers_slack_accepts(stack):
    await stack.connect()
    await stack.status_message()
    [org] = [dict(row._mapping) for row in stack.query("SELECT * FROM orgs")]
    for n in range(35):  # 35 more orgs, as a busy workspace has them
        row = dict(org, org_id=f"00D5g00000{n:08d}", org_name=f"Org {n} " + "x" * 60)
        stack.query(f"INSERT INTO orgs ({', '.join(row)}) VALUES ({', '.join(':' + column for column in row)})", row)
    assert org["team_id"]
    before = len(stack.slack.response_url_posts)

    answers = [await stack.slash(text) for text in (
        "x" * 3100, "disconnect-org " + "Very Long Org Name " * 24, "disconnect-org Nowhere",
        "connect-org run-as=ad\u202enimda@x.example", "connect-org run-as=" + "a" * 90 + "@acme.example",
        "<!channel> & <@U0EVIL>")]
    await stack.settle()
    replies = [answer.text for answer in answers] + [str(post.body) for post in stack.slack.response_url_posts[before:]]
    assert all(answer.status == 200 and answer.ack_error is None for answer in answers)
    assert all(post.status == 200 for post in stack.slack.response_url_posts[before:])
    assert "3,100 characters" in answers[0].text and "x" * 100 not in answers[0].text
    assert any("No connected org" in reply and "…and 16 more" in reply for reply in replies), replies
    assert "invisible or text-direction" in answers[3].text and "\u202e" not in answers[3].text
    assert "at most 80" in answers[4].text
    assert "the command `!channel`" in answers[5].text, "Slack's own wrapping taken off, nothing left to ping"
    bodies = [json.loads(answer.text) for answer in answers if answer.text] + [
        post.body for post in stack.slack.response_url_posts[before:]]
    for body in bodies:
        assert validate_blocks(body["blocks"]) == [] and "<!channel>" not in json.dumps(body)
