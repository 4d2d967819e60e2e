"""A captured signed request replayed to another replica is refused there, as a replay to the same replica is
(SPEC §6, §10): two real `qc-bot serve` processes on one PostgreSQL database share what they have admitted
(table `slack_replays`). Each request goes straight to one replica's port, as a replayer picking its target
would; counted where it shows, in the answers and at the fake Slack. And the table stays small: the maintenance
round deletes the keys that expired.

PostgreSQL only (the one engine replicas share): skipped with a reason where Debian's postgresql is not
installed, a failure under CI.
"""

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from standins.slack.driver import sign
from tests.support.replicas import ReplicaSet
from tests.support.stack import ADMIN, CHANNEL, FAST_PROCESS, SIGNING_SECRET, Stack

LINK = "/salesforce/oauth/start?link="


@pytest.fixture
async def replica_set(tmp_path, postgres_url):
    # The admin is known to both replicas, so a replica that admits the command answers with the link itself. The
    # tests' timings give the shared check 10 s instead of 1 s: a loaded machine's slow database is no outage.
    replicas = ReplicaSet(tmp_path, database_url=postgres_url, env={"QC_ADMIN_USERS": ADMIN, **FAST_PROCESS})
    await replicas.start(in_process=False)
    yield replicas
    await replicas.stop()


def signed(body: bytes, *, content_type: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(SIGNING_SECRET, stamp, body)}


async def post(replicas: ReplicaSet, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with replicas.browser.post(url + "/slack/events", data=body, headers=headers) as response:
        return response.status, await response.text()


async def test_a_signed_command_sent_to_both_replicas_is_answered_by_one(replica_set):
    first, second = (replica.url for replica in replica_set.replicas)
    command = replica_set.slack.slash_command_payload(text="connect-org", user_id=ADMIN, channel_id=CHANNEL)
    body = urlencode(command).encode()
    headers = signed(body, content_type="application/x-www-form-urlencoded")

    answered = await post(replica_set, first, body, headers)
    replayed = await post(replica_set, second, body, headers)

    assert answered[0] == 200 and LINK in answered[1], answered
    assert replayed == (200, ""), "the other replica answers a replay as the first would: empty, nothing done"
    assert await post(replica_set, first, body, headers) == (200, "")

    # At the same moment, to both: one of them admits it, whichever the database ordered first.
    command = replica_set.slack.slash_command_payload(text="connect-org", user_id=ADMIN, channel_id=CHANNEL)
    body = urlencode(command).encode()
    headers = signed(body, content_type="application/x-www-form-urlencoded")
    answers = await asyncio.gather(*(post(replica_set, url, body, headers) for url in (first, second) * 3))
    assert sorted(LINK in text for status, text in answers if status == 200) == [False] * 5 + [True], answers
    await replica_set.settle()
    assert replica_set.slack.response_url_posts == [], "nothing was answered later either"


async def test_an_event_resent_to_the_other_replica_signed_afresh_is_handled_once(replica_set):
    first, second = (replica.url for replica in replica_set.replicas)
    event = replica_set.slack.app_home_opened_event(user_id=ADMIN)
    body = json.dumps(replica_set.slack.event_envelope(event=event)).encode()

    assert (await post(replica_set, first, body, signed(body, content_type="application/json")))[0] == 200
    published = await replica_set.slack.wait_for(
        lambda: [call for call in replica_set.slack.calls if call.method == "views.publish"] or None,
        what="the Home tab", timeout=30)
    # Slack's resend carries the same event_id under a new signature.
    resent = signed(body, content_type="application/json", timestamp=int(time.time()) + 1)
    assert await post(replica_set, second, body, {**resent, "X-Slack-Retry-Num": "1"}) == (200, "")

    await replica_set.settle()
    assert [call for call in replica_set.slack.calls if call.method == "views.publish"] == published
    [(rows,)] = replica_set.query("SELECT COUNT(*) FROM slack_replays WHERE request_key LIKE 'event:%'")
    assert rows == 1


async def test_expired_replay_keys_are_pruned_by_the_maintenance_round(tmp_path, postgres_url):
    stack = await Stack(tmp_path, database_url=postgres_url).start()  # in process, fast timings: a round a moment
    try:
        live = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for key, until in (("signature:expired", "2026-01-01T00:00:00.000000Z"), ("signature:live", live)):
            stack.query("INSERT INTO slack_replays (request_key, expires_at) VALUES (:key, :until)",
                        {"key": key, "until": until})
        await stack.slack.wait_for(
            lambda: stack.query("SELECT request_key FROM slack_replays") == [("signature:live",)],
            what="the expired key pruned, the live one kept", timeout=30)
    finally:
        await stack.stop()
