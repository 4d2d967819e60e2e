"""`qc-bot check-expiry [--at ISO-8601] [--dry-run]`: a complete check on its own (SPEC §4), for a cron job
where no server runs all the time, and for operators.

First it brings every org up to date with the periodic check `qc-bot serve` runs (bot.watch.org_check):
qc-bot's own token refreshed (always, even one issued moments ago: a revoked connection is noticed and
announced now), the app's tokens read, the app's sign-in repeated. Orgs that a running server (or another
check-expiry) is checking at that moment are skipped, by their claims: never two refreshes of one rotating token
at once. Then the expiry scan (bot.watch.expiry) as of `--at`. Everything it queued goes through the outbox like
every message, and this command delivers it itself (with the bot token, or each workspace's installation),
so what it prints as sent is what Slack confirmed.

`--dry-run` opens the database read-only and creates no Slack client and no Salesforce client: it does not
refresh tokens either, because a refresh is a write in Salesforce (a rotating refresh token is replaced, and a
read-only run could not store the new one), so it scans what the last check stored and prints what would go out.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, SystemClock
from bot.config import Settings, process_claim_id
from bot.leases import Leases
from bot.orgs.access import org_access
from bot.slack.clients import outbox_clients, slack_retry_handlers
from bot.slack.outbox import SlackDelivery, notification_by_key
from bot.timings import Timings
from bot.watch.drift import DriftWatch
from bot.watch.expiry import ExpiryScanner, PlannedWarning
from bot.watch.org_check import org_checker
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
    store = Store(url=settings.database, secret_box=SecretBox(keys=settings.encryption_keys), read_only=dry_run)
    try:
        await store.open()
    except DatabaseNotReady as exc:
        print(f"qc-bot: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"Expiry scan as of {as_of:%Y-%m-%dT%H:%M:%SZ}"
              + (" (dry run: nothing is sent or recorded, and no org is checked)" if dry_run else ""), file=out)
        scanner = ExpiryScanner(store=store, warn_days=settings.expiry_warn_days)
        if dry_run:
            count = await scanner.scan(as_of=as_of, now=now, dry_run=True,
                                       on_warning=lambda warning: print(_line("would send", warning), file=out))
            print(_summary(count, "would be sent") if count else NOTHING_DUE, file=out)
            return 0
        timings = settings.timings
        async with aiohttp.ClientSession(headers={"User-Agent": "qc-bot"}) as session:
            template = AsyncWebClient(base_url=settings.slack_api_url, session=session,
                                      retry_handlers=slack_retry_handlers(timings.slack_retry))
            delivery = SlackDelivery(store=store, clients=outbox_clients(settings=settings, store=store,
                                                                         template=template),
                                     clock=clock, timings=timings,
                                     sender=f"check-expiry:{process_claim_id()}")
            await _check_orgs(settings, store=store, clock=clock, delivery=delivery, session=session,
                              timings=timings, out=out)
            planned: list[PlannedWarning] = []
            await scanner.scan(as_of=as_of, now=now, on_warning=planned.append)
            return await _deliver(store=store, delivery=delivery, planned=planned, out=out)
    finally:
        await store.close()


async def _check_orgs(
    settings: Settings, *, store: Store, clock: Clock, delivery: SlackDelivery, session: aiohttp.ClientSession,
    timings: Timings, out: TextIO,
) -> None:
    """The periodic check of every org, then the messages it queued (lost access, the sign-in) sent at once."""
    access = org_access(settings, session=session, timings=timings, store=store, clock=clock,
                        leases=Leases(store=store, clock=clock, holder=delivery.sender, timings=timings))
    drift = DriftWatch(settings=settings, store=store, clock=clock, access=access, delivery=delivery, journey=None)
    checker = org_checker(settings, store=store, clock=clock, access=access, delivery=delivery, timings=timings,
                          process="check-expiry", on_demand=True, drift=drift)
    results = await checker.check_all()
    skipped = sum(1 for result in results if not result.ran)
    print(f"Checked {len(results) - skipped} org{'' if len(results) - skipped == 1 else 's'}"
          + (f"; {skipped} skipped (being checked by another qc-bot process)" if skipped else "") + ".", file=out)
    sent = 0
    while batch := await delivery.deliver_due():
        sent += batch
    if sent:
        print(f"{sent} other message{'' if sent == 1 else 's'} sent (lost access, sign-in, drift).", file=out)


async def _deliver(*, store: Store, delivery: SlackDelivery, planned: list[PlannedWarning], out: TextIO) -> int:
    if not planned:
        print(NOTHING_DUE, file=out)
        return 0
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
