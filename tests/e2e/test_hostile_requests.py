"""Requests that cannot hurt (SPEC §6): malformed, replayed, oversized and slow requests to `/slack/events`,
sent over HTTP to the real bot the way an adversary (or a confused proxy) would."""

import asyncio
import json
import time

import pytest

from bot.slack.inbound import MAX_BODY_BYTES
from standins.slack.driver import sign
from tests.support.stack import ADMIN, CHANNEL, SIGNING_SECRET, Stack

pytestmark = pytest.mark.sqlite_only(reason="requests refused before any storage: signatures, replays, sizes")

FORM = "application/x-www-form-urlencoded"


def signed_headers(body: bytes, *, content_type: str = FORM, timestamp: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(SIGNING_SECRET, timestamp, body)}


async def post(stack, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with stack.browser.post(stack.events_url, data=body, headers=headers) as response:
        return response.status, await response.text()


def connections(stack) -> int:
    return stack.query("SELECT COUNT(*) FROM connections")[0][0]


async def test_malformed_requests_get_4xx_and_no_traceback(stack):
    now = str(int(time.time()))
    bogus = "v0=" + "0" * 64
    form = b"command=%2Fqc&text=help&user_id=" + ADMIN.encode()
    cases = {
        "timestamp abc": (form, {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": bogus}, 401),
        "timestamp 1e3": (form, {"X-Slack-Request-Timestamp": "1e3", "X-Slack-Signature": bogus}, 401),
        "empty timestamp": (form, {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": bogus}, 401),
        "no headers at all": (form, {}, 401),
        "signature not v0 hex": (form, {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=zz"}, 401),
        "unsigned non-UTF-8": (b"\xff\xfe\xfa", {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": bogus},
                               401),
        "signed non-UTF-8": (b"text=\xff\xfe", signed_headers(b"text=\xff\xfe"), 400),
        "signed broken JSON": (b'{"type": "event_callback",',
                               signed_headers(b'{"type": "event_callback",', content_type="application/json"), 400),
        "signed form sent as JSON": (form, signed_headers(form, content_type="application/json"), 400),
        "signed JSON that is not an object": (b"[1, 2]", signed_headers(b"[1, 2]", content_type="application/json"),
                                              400),
        "signed form with a broken payload": (b"payload=%7Bnot+json", signed_headers(b"payload=%7Bnot+json"), 400),
    }
    answers = {name: (await post(stack, body, headers))[0] for name, (body, headers, _) in cases.items()}
    assert answers == {name: expected for name, (_, _, expected) in cases.items()}
    assert "Traceback" not in stack.log_text()
    assert connections(stack) == 0 and stack.slack.response_url_posts == []


async def test_a_replayed_signed_connect_org_returns_nothing_new(stack):
    original = await stack.slash("connect-org")
    assert original.status == 200
    await stack.link_shown_after(0)
    await stack.settle()
    links_before = len(stack.slack.ephemerals(ADMIN)) + len(stack.slack.response_url_posts)

    status, text = await post(stack, original.request_body, original.request_headers)

    assert (status, text) == (200, "")
    await stack.settle()
    assert len(stack.slack.ephemerals(ADMIN)) + len(stack.slack.response_url_posts) == links_before
    assert "/salesforce/oauth/start" not in text


async def test_a_resent_event_is_handled_once_whether_or_not_slack_signed_it_again(stack):
    event = stack.slack.app_home_opened_event(user_id=ADMIN)
    body = json.dumps(stack.slack.event_envelope(event=event)).encode()
    first = signed_headers(body, content_type="application/json")
    assert (await post(stack, body, first))[0] == 200
    publishes = await stack.slack.wait_for(
        lambda: [call for call in stack.slack.calls if call.method == "views.publish"] or None,
        what="the Home tab")

    same_bytes = await post(stack, body, first)
    resigned = await post(stack, body, {**signed_headers(body, content_type="application/json",
                                                         timestamp=str(int(time.time()) + 1)),
                                        "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})

    assert same_bytes == (200, "") and resigned == (200, "")
    await stack.settle()
    assert [call for call in stack.slack.calls if call.method == "views.publish"] == publishes


async def test_an_oversized_body_gets_413_and_is_neither_read_nor_logged(stack):
    marker = b"OVERSIZED-BODY-MARKER"
    oversized = b"text=" + marker * (MAX_BODY_BYTES // len(marker) + 1)
    signed = await post(stack, oversized, signed_headers(oversized))
    unsigned = await post(stack, oversized, {"Content-Type": FORM, "X-Slack-Request-Timestamp": str(int(time.time())),
                                             "X-Slack-Signature": "v0=" + "1" * 64})
    assert signed[0] == 413 and unsigned[0] == 413
    assert marker.decode() not in stack.log_text()
    assert connections(stack) == 0


async def test_refused_bodies_are_counted_not_logged(stack):
    marker = "REFUSED-BODY-MARKER"
    body = ("text=" + marker * 5_000).encode()  # about 100 kB, under the size limit: read, then refused
    log_before = len(stack.log_text())
    for _ in range(10):
        status, _ = await post(stack, body, {"Content-Type": FORM, "X-Slack-Request-Timestamp": str(int(time.time())),
                                             "X-Slack-Signature": "v0=" + "2" * 64})
        assert status == 401
    grown = stack.log_text()[log_before:]
    assert marker not in grown
    summaries = [line for line in grown.splitlines() if "Refused" in line and "Slack endpoint" in line]
    assert len(summaries) <= 1, summaries
    assert len(grown) < 2_000, grown


async def test_a_half_sent_body_is_answered_408_and_cut_off(stack):
    host, port = stack.bot_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    timestamp = str(int(time.time()))
    writer.write((f"POST /slack/events HTTP/1.1\r\nHost: {host}\r\nContent-Type: {FORM}\r\n"
                  f"X-Slack-Request-Timestamp: {timestamp}\r\nX-Slack-Signature: v0={'3' * 64}\r\n"
                  "Content-Length: 1000\r\n\r\ntext=only-a-part").encode())
    await writer.drain()
    try:
        # Fast timings give a body one second; the deadline is generous for a loaded machine.
        answer = await asyncio.wait_for(reader.read(), timeout=15)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"Connection: close" in answer


async def test_a_newline_in_signed_request_content_cannot_forge_a_log_line(stack):
    forged = "INFO bot.forged Connection 1 provisioned"
    body = (f"command=%2Fqc&text=connect-org&team_id={stack.slack.team.team_id}&channel_id={CHANNEL}"
            f"&user_id=UNOBODY%0A{forged.replace(' ', '+')}&response_url=http%3A%2F%2F127.0.0.1%3A9%2Fx"
            "&trigger_id=1.2.3").encode()
    status, _ = await post(stack, body, signed_headers(body))
    assert status == 200
    await stack.slack.wait_for(lambda: "forged" in stack.log_text() or None, what="the refusal to be logged")
    lines = stack.log_text().splitlines()
    assert not any(line.startswith(forged) for line in lines)
    assert any("UNOBODY\\nINFO bot.forged" in line for line in lines)


async def test_a_newline_in_a_path_cannot_forge_a_line_in_the_served_log(tmp_path):
    stack = Stack(tmp_path)
    await stack.start(in_process=False)
    try:
        async with stack.browser.get(stack.bot_url + "/nowhere%0A2026-01-01%2000:00:00,000%20INFO%20bot:%20forged",
                                     timeout=5) as response:
            assert response.status == 404
        await stack.slack.wait_for(lambda: "forged" in stack.process_log() or None, what="the access log line")
        lines = stack.process_log().splitlines()
        assert not any(line.startswith("2026-01-01") for line in lines)
        assert any("/nowhere\\n2026-01-01 00:00:00,000 INFO bot: forged 404" in line for line in lines)
    finally:
        await stack.stop()
