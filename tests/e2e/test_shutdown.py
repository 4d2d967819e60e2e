"""A stop is graceful for the journeys under way (SPEC §10): they get `Timings.shutdown_grace_seconds` to reach
their end before anything is cancelled. (The real process and SIGTERM: tests/bot/test_server.py.)"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.timings import fast_timings
from tests.support.stack import CARD_SETTING_UP, CHANNEL


async def test_a_journey_under_way_when_the_bot_stops_finishes_within_the_grace(make_stack):
    stack = await make_stack(timings=replace(fast_timings(), shutdown_grace_seconds=20.0))
    stack.org.credentials_propagation = timedelta(0)  # the new app signs in at once: the journey can end
    # Salesforce is slow to answer the journey's read of the org just as the bot is told to stop.
    slow = stack.salesforce.inject_hold("/services/Soap/m/", body_contains="readMetadata")
    await stack.browse(await stack.request_link())
    await slow.wait_arrived()
    await stack.stop_bot()  # the read times out, is retried, and the journey goes on to its end before the stop
    slow.release()

    assert stack.query("SELECT status, proof_status FROM connections") == [("provisioned", "proved")]
    card = stack.slack.messages(CHANNEL)[-1]
    assert not card.text.startswith(CARD_SETTING_UP) and "✅" in card.text, card.text
    assert "journey task(s) under way" not in stack.log_text()
