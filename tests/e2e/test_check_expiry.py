"""`qc-bot check-expiry [--at] [--dry-run]` as an operator runs it: a real process beside the bot's database,
posting to the Slack stand-in."""

from datetime import timedelta

import pytest

from tests.support.cli import iso, qc_bot
from tests.support.stack import CHANNEL

DAY = timedelta(days=1)


def table_rows(stack):
    return {table: stack.query(f"SELECT * FROM {table} ORDER BY 1")
            for table in ("tracked_tokens", "notifications", "token_syncs", "audit_log", "orgs")}


async def tracked_and_stopped(stack):
    """A connected org whose QualityClouds token (90-day lifetime, issued by the External Client App after the
    connection) is tracked; then the bot is stopped."""
    # The clock moves an hour below: with propagation the proof still running would give up (❌ on the card, and
    # the check-expiry runs below would announce the sign-in working again).
    stack.org.credentials_propagation = timedelta(0)
    await stack.connect()
    await stack.status_message()
    await stack.token_sync_done()
    await stack.slack.wait_for(lambda: not stack.query("SELECT 1 FROM connections WHERE proof_status = 'proving'"),
                               what="the live sign-in proof to end")
    created = stack.clock.now()
    stack.org.issue_app_token("QualityClouds", user=stack.org.admin, created=created)
    stack.clock.advance(timedelta(minutes=60))  # the next token sync reads it
    await stack.slack.wait_for(lambda: stack.query("SELECT 1 FROM tracked_tokens WHERE kind = 'app'"))
    await stack.stop_bot()
    return created + 90 * DAY



async def test_a_dry_run_prints_what_it_would_send_and_changes_nothing(stack):
    expires = await tracked_and_stopped(stack)
    database, rows, calls = stack.database_bytes(), table_rows(stack), len(stack.slack.calls)

    code, output, errors = await qc_bot(stack, "check-expiry", "--dry-run", "--at", iso(expires - 6 * DAY))
    assert code == 0, errors
    assert "dry run: nothing is sent or recorded" in output
    assert "would send: 7-day warning for Acme Corp" in output
    assert "QualityClouds refresh token of admin@acme.example" in output and f"to channel {CHANNEL}" in output
    assert "1 warning would be sent." in output
    assert stack.database_bytes() == database and table_rows(stack) == rows
    assert len(stack.slack.calls) == calls, "a dry run never talks to Slack"


async def test_at_in_the_future_sends_early_once_and_the_past_cannot_go_back(stack):
    expires = await tracked_and_stopped(stack)

    code, output, errors = await qc_bot(stack, "check-expiry", "--at", iso(expires - 6 * DAY))
    assert code == 0, errors
    assert "sent: 7-day warning for Acme Corp" in output and "1 warning sent." in output
    warning = stack.slack.messages(CHANNEL)[-1]
    assert "expires in 6 days" in warning.text, "the wording is as of --at"

    again = await qc_bot(stack, "check-expiry", "--at", iso(expires - 6 * DAY))
    assert "No warning is due." in again[1]
    past = await qc_bot(stack, "check-expiry", "--at", iso(expires - 20 * DAY))
    assert "No warning is due." in past[1], "the 30-day warning is passed over: the nearer one went out"
    assert len(stack.slack.messages(CHANNEL)) == 2

    # The server, started at the real moment, does not send the 7-day warning a second time: the next
    # thing the channel hears is the 1-day warning.
    stack.clock.set(expires - 6 * DAY)
    await stack.start_bot()
    stack.clock.set(expires - DAY + timedelta(minutes=1))
    texts = await stack.slack.wait_for(
        lambda: [m.text for m in stack.slack.messages(CHANNEL)] if len(stack.slack.messages(CHANNEL)) >= 3
        else None)
    assert len(texts) == 3 and "expires in 1 day" in texts[2]


async def test_a_warning_slack_refuses_is_reported_and_left_for_the_server(stack):
    expires = await tracked_and_stopped(stack)
    stack.slack.fail_next("chat.postMessage", error="internal_error", count=10)
    code, output, _ = await qc_bot(stack, "check-expiry", "--at", iso(expires + DAY))
    assert code == 1
    assert "NOT SENT (Slack: internal_error; qc-bot serve retries it): expiry notice" in output
    assert "0 warnings sent. 1 could not be sent yet." in output and "No warning is due." not in output


@pytest.mark.sqlite_only(reason="a missing SQLite file")
async def test_bad_arguments_are_explained(stack):
    code, _, errors = await qc_bot(stack, "check-expiry", "--at", "next tuesday")
    assert code == 2 and "not an ISO-8601 date and time: 'next tuesday'" in errors
    stack.extra_env["QC_DB_PATH"] = str(stack.tmp_path / "missing.db")
    code, _, errors = await qc_bot(stack, "check-expiry", "--dry-run")
    assert code == 1 and "there is no database at" in errors
    assert not (stack.tmp_path / "missing.db").exists()
