"""Issue 14: a hundred `/qc connect-org` journeys in flight at once in one `qc-bot serve` on PostgreSQL, beside the
same on SQLite in the same run: how long until every journey has ended, and whether anything blocks the
bot's event loop meanwhile.

The journeys are `ack_latency.measure_journeys`' (signed commands from several admins, their browsers through
Salesforce's authorize page and back, every card in the channel; it also probes /healthz, which asks the database,
so its latency includes waiting for a database connection); this benchmark then waits until every journey has ended
(provisioned, or failed: they all connect the same org). Throughout, it probes the event loop alone every 20 ms: a
request for a path the bot does not serve, which aiohttp's router answers with 404 on the loop without any other
work, so its latency is the loop's lag (plus loopback HTTP). A hundred is the most one workspace may start at once
(`RateLimits`' command_per_team burst). This process plays Slack, Salesforce and the browsers; the PostgreSQL is a
throwaway cluster of Debian's binaries (tests/support/postgres.py). Run from the repository root:

    python benchmarks/journeys_in_flight.py [--journeys 100]

Figures on the shared 2-core machine, one run (PostgreSQL / SQLite as ratios):
- FILLED
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ack_latency import measure_journeys
from benchmarks.common import percentile
from storage.database import sqlite_url
from tests.support.replicas import throwaway_postgres
from tests.support.stack import Stack

LOOP_PROBE = "/benchmark-loop-probe"
"""A path the bot does not serve."""


@dataclass(frozen=True)
class Result:
    journeys: int
    failed: int
    cards_seconds: float
    provisioned_seconds: float
    healthz_p99_ms: float
    lag_p50_ms: float
    lag_max_ms: float


async def journeys_on(database_url: str, folder: Path, *, journeys: int) -> Result:
    stack = Stack(folder, database_url=database_url)
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
        prober = asyncio.create_task(probe_loop())
        started = time.perf_counter()
        cards = await measure_journeys(stack, journeys=journeys)
        await stack.slack.wait_for(lambda: stack.query(
            "SELECT COUNT(*) FROM connections WHERE status IN ('provisioned', 'failed')") == [(journeys,)],
            timeout=300, what=f"{journeys} journeys ended")
        provisioned = time.perf_counter() - started
        [(failed,)] = stack.query("SELECT COUNT(*) FROM connections WHERE status = 'failed'")
        done.set()
        await prober
        return Result(journeys=journeys, failed=failed, cards_seconds=cards["seconds"], provisioned_seconds=provisioned,
                      healthz_p99_ms=cards["probe_p99_ms"], lag_p50_ms=1000 * percentile(lags, 0.5),
                      lag_max_ms=1000 * max(lags))
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
            print(f"{engine:>10}: {result.journeys} journeys in flight: every card up after "
                  f"{result.cards_seconds:.1f} s, every journey ended after {result.provisioned_seconds:.1f} s "
                  f"({result.failed} failed); event-loop lag p50 {result.lag_p50_ms:.1f} ms, "
                  f"max {result.lag_max_ms:.1f} ms; /healthz p99 {result.healthz_p99_ms:.1f} ms")
    postgres, sqlite = results["PostgreSQL"], results["SQLite"]
    print(f"PostgreSQL / SQLite: all ended {postgres.provisioned_seconds / sqlite.provisioned_seconds:.2f}x, "
          f"event-loop lag max {postgres.lag_max_ms / sqlite.lag_max_ms:.2f}x, "
          f"/healthz p99 {postgres.healthz_p99_ms / sqlite.healthz_p99_ms:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
