"""The gate of `/slack/events` on its own: the replay cache's memory and its policy under a flood, and a
request we failed being processed again when Slack resends it. Driven over HTTP, with Bolt's place taken
by a dispatcher that records what it was given."""

import logging
import time

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet
from slack_bolt.response import BoltResponse

from bot.redaction import Secret
from bot.slack.inbound import MAX_BODY_BYTES, RefusalCounter, ReplayCache, SlackRequestGate
from bot.slack.replays import SharedReplays
from bot.timings import fast_timings
from standins.slack.driver import sign
from storage.crypto import SecretBox
from storage.database import Store

SECRET = "gate-signing-secret"


def test_a_key_is_remembered_until_its_expiry_and_then_forgotten():
    now = [1_000.0]
    cache = ReplayCache(now=lambda: now[0])
    assert cache.remember("a", until=1_300)
    assert not cache.remember("a", until=1_300)
    now[0] = 1_301
    assert cache.remember("a", until=1_601), "an expired signature is refused by its timestamp, not the cache"


def test_a_full_cache_evicts_the_oldest_and_stays_bounded(caplog):
    cache = ReplayCache(capacity=3, now=lambda: 0.0)
    for key in "abcd":
        assert cache.remember(key, until=300)
    assert len(cache) == 3
    assert cache.remember("a", until=300), "the oldest went first"
    assert not cache.remember("d", until=300)
    assert sum("Replay cache full" in record.getMessage() for record in caplog.records) == 1


def test_refusals_are_summarised_at_most_once_per_interval(caplog):
    counter = RefusalCounter(interval=3600)
    with caplog.at_level(logging.INFO):
        for _ in range(50):
            counter.count("bad signature")
    assert [record.getMessage() for record in caplog.records if "Refused" in record.getMessage()] == [
        "Refused 1 request(s) to the Slack endpoint (1 bad signature); the next summary comes in 3600 s at the "
        "earliest"]


async def serve_gate(dispatch, *, shared=None):
    gate = SlackRequestGate(signing_secret=SECRET, body_seconds=5, shared=shared)
    app = web.Application()

    async def events(request: web.Request) -> web.StreamResponse:
        return await gate.handle(request, dispatch=dispatch)

    app.router.add_post("/slack/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/slack/events"


def signed(body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(SECRET, timestamp, body)}


async def test_a_request_answered_with_a_server_error_is_processed_again_when_resent():
    seen = []

    async def dispatch(request):
        seen.append(request.body)
        return BoltResponse(status=500 if len(seen) == 1 else 200, body="")

    runner, url = await serve_gate(dispatch)
    body = b"command=%2Fqc&text=help"
    headers = signed(body)
    try:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for _ in range(3):
                async with session.post(url, data=body, headers=headers) as response:
                    statuses.append(response.status)
    finally:
        await runner.cleanup()
    assert statuses == [500, 200, 200]
    assert len(seen) == 2, "the failed attempt is retried once; the answered one is not repeated"


async def test_an_oversized_body_without_a_length_is_refused_while_reading():
    async def dispatch(request):
        raise AssertionError("an oversized request must not reach Bolt")

    async def chunks():
        for _ in range(MAX_BODY_BYTES // 65_536 + 2):
            yield b"A" * 65_536

    runner, url = await serve_gate(dispatch)
    try:
        async with aiohttp.ClientSession() as session:
            headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64}
            async with session.post(url, data=chunks(), headers=headers) as response:
                assert response.status == 413
                assert "Content-Length" not in response.request_info.headers
    finally:
        await runner.cleanup()


async def test_two_gates_sharing_replays_admit_a_request_once_and_a_failed_one_again(database_url):
    """Two gates, as two replicas, on one database: what one admitted the other answers as a replay, unless the
    first failed it (then Slack's resend is processed, wherever it lands)."""
    store = Store(url=database_url, secret_box=SecretBox(keys=[Secret(Fernet.generate_key().decode())]))
    await store.open()
    seen = []

    async def dispatch(request):
        seen.append(request.body["text"])
        return BoltResponse(status=500 if request.body["text"] == "fails" else 200, body="")

    answer_seconds = fast_timings().replay_check_seconds
    runners = [await serve_gate(dispatch, shared=SharedReplays(store=store, answer_seconds=answer_seconds))
               for _ in range(2)]
    try:
        async with aiohttp.ClientSession() as session:
            answers = []
            for text in ("help", "fails"):
                body = f"command=%2Fqc&text={text}".encode()
                headers = signed(body)
                for _, url in (*runners, *runners):
                    async with session.post(url, data=body, headers=headers) as response:
                        answers.append((text, response.status, await response.text()))
    finally:
        for runner, _ in runners:
            await runner.cleanup()
        await store.close()
    assert answers == [("help", 200, ""), ("help", 200, ""), ("help", 200, ""), ("help", 200, ""),
                       ("fails", 500, ""), ("fails", 500, ""), ("fails", 500, ""), ("fails", 500, "")]
    assert seen == ["help", "fails", "fails", "fails", "fails"], "admitted once; a failed one each time it is resent"
