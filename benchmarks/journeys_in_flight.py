"""Issue 14: a hundred `/qc connect-org` journeys in flight at once in one `qc-bot serve` on PostgreSQL, beside the
same on SQLite in the same run: how long until every journey has ended, and whether anything blocks the bot's event
loop meanwhile.

Each journey connects an org of its own (one org's journeys take turns, so they would measure the queue): the
links are asked for first (signed commands from several admins, as one person may start only 20 at once), then
each admin's browser goes through Salesforce's authorize page and back, one after the other as fast as they answer,
so the journeys' provisioning, credential reads and live sign-ins overlap; then the benchmark waits until every
journey has ended. Throughout, it probes the event loop alone every 20 ms with a request for a path the bot does not
serve, which aiohttp's router answers with 404 on the loop without other work: its latency is the loop's lag (plus
loopback HTTP), so a synchronous database call on the loop would show there. `serve` runs production timings (a
deploy is polled after 1 s, then 1.5 s, ...; the stand-in finishes it at the second poll). This process plays Slack,
Salesforce and the browsers; the PostgreSQL is a throwaway cluster of Debian's binaries (tests/support/postgres.py).
Run from the repository root:

    python benchmarks/journeys_in_flight.py [--journeys 100]

Figures on the shared 2-core machine (load average 12 to 14 from other people's work), one run (with the replicas
and pg branches merged):
- SQLite: 100 journeys of 100 orgs, all ended after 39.2 s (0 failed); event-loop lag p50 18.9 ms, p99 127.2 ms,
  max 158.6 ms
- PostgreSQL: all ended after 32.6 s (0 failed); event-loop lag p50 10.8 ms, p99 145.9 ms, max 153.3 ms
- PostgreSQL / SQLite: all ended 0.83x, event-loop lag p99 1.15x, max 0.97x. No stall anywhere near a database
  call's worth of blocking on either engine; the lag is of the order a busy machine gives any process.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import percentile
from storage.database import sqlite_url
from tests.support.replicas import throwaway_postgres
from tests.support.stack import Stack

LINK = re.compile(r"http://[^\s\"'>|]+/salesforce/oauth/start\?link=[\w\-=]+")
LOOP_PROBE = "/benchmark-loop-probe"
"""A path the bot does not serve."""
CHANNEL = "CJOURNEYS1"
PER_ADMIN = 20
"""Connect-org commands one person may have answered at once (RateLimits.command_per_user's burst)."""


@dataclass(frozen=True)
class Result:
    journeys: int
    failed: int
    seconds: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float


def admin_address(number: int) -> str:
    """The e-mail address of the Slack admin who asks for journey `number`, and of its org's admin."""
    return f"journeys{number // PER_ADMIN}@acme.example"


async def links_for(stack: Stack, *, journeys: int) -> dict[str, list[str]]:
    """The links of `journeys` connect-org commands, by their requester's e-mail address."""
    admins = {f"UJRN{number // PER_ADMIN:04d}": admin_address(number) for number in range(journeys)}
    for user_id, email in admins.items():
        stack.slack.add_user(user_id=user_id, name=user_id.lower(), is_admin=True, email=email)
    stack.slack.add_channel(channel_id=CHANNEL, name="journeys", members=list(admins))
    await asyncio.gather(*(stack.slack.send_slash_command(
        stack.events_url, text="connect-org", user_id=f"UJRN{number // PER_ADMIN:04d}", channel_id=CHANNEL)
        for number in range(journeys)))

    def answered() -> dict[str, list[str]] | None:
        links = {email: [found.group(0) for answer in stack.slack.ephemerals(user_id)
                         if (found := LINK.search(answer.text))] for user_id, email in admins.items()}
        return links if sum(len(each) for each in links.values()) >= journeys else None

    return await stack.slack.wait_for(answered, timeout=60, what="every link")


async def journeys_on(database_url: str, folder: Path, *, journeys: int) -> Result:
    stack = Stack(folder, database_url=database_url)
    # Before the stand-in starts (each org's My Domain gets its port) and the bot (which allows their hosts).
    orgs = []
    for number in range(journeys):
        org = stack.salesforce.add_org(name=f"Org {number}", admin_username=f"admin@org{number}.example")
        org.admin.email = admin_address(number)  # the requester's own address: no "was this you?" question
        org.deploy_polls_until_done = 1
        orgs.append(org)
    await stack.start(in_process=False)
    lags: list[float] = []
    done = asyncio.Event()

    async def probe_loop() -> None:
        assert stack.browser is not None
        while not done.is_set():
            sent = time.perf_counter()
            async with stack.browser.get(stack.bot_url + LOOP_PROBE) as response:
                await response.read()
            lags.append(time.perf_counter() - sent)
            await asyncio.sleep(0.02)

    try:
        await stack.kill_bot_process()
        await stack.start_bot_process(log_level="INFO")  # as in production: DEBUG would log every Slack call
        stack.slack.ack_timeout = 10.0
        links = await links_for(stack, journeys=journeys)
        prober = asyncio.create_task(probe_loop())
        started = time.perf_counter()
        for org in orgs:
            stack.salesforce.sign_in(org)  # who is signed in when this browser reaches the authorize page
            visit = await stack.browse(links[org.admin.email].pop())
            assert visit.final.status == 200, visit.final.body[-500:]
        await stack.slack.wait_for(lambda: stack.query(
            "SELECT COUNT(*) FROM connections WHERE status IN ('provisioned', 'failed')") == [(journeys,)],
            timeout=300, what=f"{journeys} journeys ended")
        elapsed = time.perf_counter() - started
        done.set()
        await prober
        [(failed,)] = stack.query("SELECT COUNT(*) FROM connections WHERE status = 'failed'")
        return Result(journeys=journeys, failed=failed, seconds=elapsed, lag_p50_ms=1000 * percentile(lags, 0.5),
                      lag_p99_ms=1000 * percentile(lags, 0.99), lag_max_ms=1000 * max(lags))
    finally:
        done.set()
        await stack.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=100)
    arguments = parser.parse_args()
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as folder, throwaway_postgres() as postgres_url:
        for engine in ("SQLite", "PostgreSQL"):
            place = Path(folder, engine)
            place.mkdir()
            url = sqlite_url(place / "qc-bot.db") if engine == "SQLite" else postgres_url
            result = results[engine] = await journeys_on(url, place, journeys=arguments.journeys)
            print(f"{engine:>10}: {result.journeys} journeys of {result.journeys} orgs, all ended after "
                  f"{result.seconds:.1f} s ({result.failed} failed); event-loop lag p50 {result.lag_p50_ms:.1f} ms, "
                  f"p99 {result.lag_p99_ms:.1f} ms, max {result.lag_max_ms:.1f} ms")
    postgres, sqlite = results["PostgreSQL"], results["SQLite"]
    print(f"PostgreSQL / SQLite: all ended {postgres.seconds / sqlite.seconds:.2f}x, event-loop lag p99 "
          f"{postgres.lag_p99_ms / sqlite.lag_p99_ms:.2f}x, max {postgres.lag_max_ms / sqlite.lag_max_ms:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
