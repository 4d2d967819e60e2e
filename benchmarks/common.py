"""What the benchmarks share: a real `qc-bot serve` between the stand-ins, signed commands, percentiles."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

from standins.slack import sign
from tests.support.stack import ADMIN, CHANNEL, SIGNING_SECRET, Stack


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def serving_stack(folder: Path, *, env: dict[str, str] | None = None,
                        database_url: str | None = None) -> Stack:
    """The stand-ins and a `qc-bot serve` process logging at INFO, as in production; Slack waits up to 10 s. Its
    database is a SQLite file in `folder` unless `database_url` names another."""
    stack = Stack(folder, env=env, database_url=database_url)
    await stack.start(in_process=False)
    await stack.kill_bot_process()
    await stack.start_bot_process(log_level="INFO")
    stack.slack.ack_timeout = 10.0
    return stack


def signed_command(stack: Stack, *, text: str) -> tuple[bytes, dict[str, str]]:
    """A `/qc <text>` slash command from the admin, signed now: its body and headers."""
    fields = stack.slack.slash_command_payload(text=text, user_id=ADMIN, channel_id=CHANNEL)
    return signed_form(fields)


def signed_form(fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The form `fields` as Slack would send them, signed now: the body and headers."""
    body = urlencode(fields).encode()
    timestamp = str(int(time.time()))
    return body, {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": timestamp,
                  "X-Slack-Signature": sign(SIGNING_SECRET, timestamp, body)}
