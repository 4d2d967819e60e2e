"""`qc-bot check-expiry [--at ISO-8601] [--dry-run]`: one expiry scan, for operators and tests (SPEC §4).

The scan is the one `qc-bot serve` runs (bot.watch.expiry), over the tokens as of the server's last sync. Its
warnings go through the outbox like every message, then this command delivers them itself (with the bot
token, or each workspace's installation in multi-workspace mode), so what it prints as sent is what Slack
confirmed. `--dry-run` opens the database read-only and creates no Slack client at all: it cannot change
anything.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.slack.clients import outbox_clients, slack_retry_handlers
from bot.slack.outbox import SlackDelivery, notification_by_key
from bot.timings import Timings
from bot.watch.expiry import ExpiryScanner, PlannedWarning
from storage.crypto import SecretBox
from storage.database import DatabaseNotReady, Store

NOTHING_DUE = "No warning is due."


async def check_expiry(
    settings: Settings, *, at: datetime | None, dry_run: bool, clock: Clock | None = None, out: TextIO | None = None
) -> int:
    """Run the scan and print one line per warning; 0 when everything due was sent (or, dry, would be)."""
    out = out or sys.stdout
    clock = clock or SystemClock()
    now = clock.now()
    as_of = at or now
    store = Store(path=settings.db_path, secret_box=SecretBox(keys=settings.encryption_keys), read_only=dry_run)
    try:
        await store.open()
    except DatabaseNotReady as exc:
        print(f"qc-bot: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"Expiry scan as of {as_of:%Y-%m-%dT%H:%M:%SZ}"
              + (" (dry run: nothing is sent or recorded)" if dry_run else ""), file=out)
        scanner = ExpiryScanner(store=store, warn_days=settings.expiry_warn_days)
        if dry_run:
            count = await scanner.scan(as_of=as_of, now=now, dry_run=True,
                                       on_warning=lambda warning: print(_line("would send", warning), file=out))
            print(_summary(count, "would be sent") if count else NOTHING_DUE, file=out)
            return 0
        planned: list[PlannedWarning] = []
        await scanner.scan(as_of=as_of, now=now, on_warning=planned.append)
        return await _deliver(settings, store=store, clock=clock, planned=planned, out=out)
    finally:
        await store.close()


async def _deliver(
    settings: Settings, *, store: Store, clock: Clock, planned: list[PlannedWarning], out: TextIO
) -> int:
    if not planned:
        print(NOTHING_DUE, file=out)
        return 0
    timings = Timings()
    template = AsyncWebClient(base_url=settings.slack_api_url,
                              retry_handlers=slack_retry_handlers(timings.slack_retry))
    clients = outbox_clients(settings=settings, store=store, template=template)
    delivery = SlackDelivery(store=store, clients=clients, clock=clock, timings=timings, sender="check-expiry")
    await delivery.deliver_now(warning.dedupe_key for warning in planned)
    failures = 0
    for warning in planned:
        notification = await store.run(notification_by_key(warning.dedupe_key))
        status = notification.status if notification is not None else "missing"
        if status == "sent":
            print(_line("sent", warning), file=out)
            continue
        failures += 1
        error = notification.last_error if notification is not None else None
        verb = (f"NOT SENT (Slack: {error}; qc-bot serve retries it)" if status == "pending"
                else f"NOT SENT (Slack refused it: {error})")
        print(_line(verb, warning), file=out)
    print(_summary(len(planned) - failures, "sent") + (f" {failures} could not be sent yet." if failures else ""),
          file=out)
    return 1 if failures else 0


def _line(verb: str, warning: PlannedWarning) -> str:
    owner = warning.owner or "an unknown user"
    token = (f"qc-bot's own refresh token (authorized by {owner})" if warning.token_kind == "bot"
             else f"{warning.app_name} refresh token of {owner}")
    what = "expiry notice" if warning.threshold_days == 0 else f"{warning.threshold_days}-day warning"
    return (f"{verb}: {what} for {warning.org_name} ({warning.org_id}), {token}, expires "
            f"{warning.expires_at:%Y-%m-%d %H:%M} UTC, to channel {warning.channel_id}")


def _summary(count: int, done: str) -> str:
    return f"{count} warning{'' if count == 1 else 's'} {done}."
