"""Floods do not grow tables (SPEC §7): `/qc` commands and `/slack/install` starts are rate-limited with a polite
answer, refusals beyond a limit are audited as one count, and the database files are the owner's alone."""

import asyncio
import json
from datetime import timedelta

from tests.e2e.test_many_workspaces import multi  # noqa: F401 - a fixture: multi-workspace mode
from tests.support.stack import ADMIN, MEMBER, Stack

SLOW_DOWN = "faster than I take them"


async def flood(count, send):
    """`count` requests, 50 at a time (a script would not wait for each answer)."""
    answers = []
    for start in range(0, count, 50):
        answers += await asyncio.gather(*(send() for _ in range(min(50, count - start))))
    return answers


def audit_rows(stack, action):
    return stack.query("SELECT outcome, detail FROM audit_log WHERE action = :action", {"action": action})


def counted_refusals(stack, scope, expected):
    """The audit entries counting `scope`'s refusals, once they add up to `expected`."""
    rows = audit_rows(stack, scope)
    assert all(outcome == "rate_limited" for outcome, _ in rows)
    return rows if sum(json.loads(detail)["refused"] for _, detail in rows) == expected else None


async def test_a_flood_of_refused_commands_gets_polite_answers_and_a_bounded_audit(stack):
    answers = await flood(600, lambda: stack.slash("connect-org", user=MEMBER))
    assert all(answer.ok for answer in answers)
    slowed = [answer for answer in answers if SLOW_DOWN in json.dumps(answer.body)]
    assert len(slowed) >= 600 - 20
    assert all(answer.body["response_type"] == "ephemeral" for answer in slowed)

    refused = 600 - len(slowed)
    assert refused <= 20
    # Each refusal is audited after its acknowledgement (the answer above): wait for the last of them.
    refused_one_by_one = await stack.slack.wait_for(
        lambda: rows if len(rows := audit_rows(stack, "connect_requested")) >= refused else None,
        what="the refusals audited one by one")
    assert len(refused_one_by_one) == refused
    counted = await stack.slack.wait_for(lambda: counted_refusals(stack, "command_user", len(slowed)),
                                         what="the refusals counted")
    # One entry per maintenance round (every 0.2 s under the tests' timings, every minute in production).
    assert 1 <= len(counted) <= 20
    assert stack.query("SELECT COUNT(*) FROM audit_log")[0][0] == len(refused_one_by_one) + len(counted)
    assert stack.log_text().count("Rate limit reached") == len(counted)  # not one line per refusal

    # The member's flood leaves the workspace's admins their commands.
    assert "/salesforce/oauth/start" in await stack.request_link(user=ADMIN)

    # A minute later the member is answered again, as before the flood.
    stack.clock.advance(timedelta(minutes=1))
    again = await stack.slash("connect-org", user=MEMBER)
    assert SLOW_DOWN not in json.dumps(again.body)
    await stack.slack.wait_for(lambda: len(audit_rows(stack, "connect_requested")) == len(refused_one_by_one) + 1,
                               what="the member's next refusal audited")


async def test_a_flood_of_install_starts_stores_a_bounded_number_of_states(multi):  # noqa: F811 - the fixture
    async def start_install():
        async with multi.browser.get(multi.bot_url + "/slack/install", allow_redirects=False) as response:
            return response.status, response.headers.get("Retry-After"), await response.text()

    answers = await flood(600, start_install)
    started = [answer for answer in answers if answer[0] == 302]
    busy = [answer for answer in answers if answer[0] == 429]
    assert len(started) + len(busy) == 600 and 1 <= len(started) <= 10
    assert all(retry_after == "60" and "Too many installations started" in text for _, retry_after, text in busy)
    assert multi.query("SELECT COUNT(*) FROM slack_install_states")[0][0] == len(started)
    counted = await multi.slack.wait_for(lambda: counted_refusals(multi, "install_address", len(busy)),
                                         what="the refusals counted")
    assert 1 <= len(counted) <= 20

    # Someone installing later is not locked out by an old flood.
    multi.clock.advance(timedelta(minutes=1))
    assert (await multi.slack.install(multi.bot_url + "/slack/install")).status == 200


async def test_a_real_start_creates_the_database_files_owner_only(tmp_path, umask_022):
    stack = Stack(tmp_path)
    await stack.start(in_process=False)  # `qc-bot serve` as a process, under the umask of this test
    try:
        await stack.connect()
        files = sorted(tmp_path.glob("qc-bot.db*"))
        assert {file.name for file in files} >= {"qc-bot.db", "qc-bot.db-wal", "qc-bot.db-shm"}
        assert {file.name: oct(file.stat().st_mode & 0o777) for file in files} == {
            file.name: "0o600" for file in files}
    finally:
        await stack.stop()
