"""Issue 14: hundreds of `/qc connect-org` journeys in flight at once in one `qc-bot serve` on PostgreSQL, beside
the same on SQLite in the same run: how long until every journey's card is in the channel, and whether anything
blocks the bot's event loop meanwhile (the latency of /healthz probed every 20 ms during the journeys: /healthz
touches no database, so a slow answer means the loop was busy or blocked, e.g. by a synchronous database call).

The journeys are `ack_latency.measure_journeys`' (the signed command, the admin's browser through Salesforce's
authorize page and back, provisioning, the card); this process plays Slack, Salesforce and the browsers. The
PostgreSQL is a throwaway cluster of Debian's binaries (tests/support/postgres.py). Run from the repository root:

    python benchmarks/journeys_in_flight.py [--journeys 200]

Figures on the shared 2-core machine, one run (PostgreSQL / SQLite as ratios):
- FILLED
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ack_latency import measure_journeys
from storage.database import sqlite_url
from tests.support.replicas import throwaway_postgres
from tests.support.stack import Stack


async def journeys_on(database_url: str, folder: Path, *, journeys: int) -> dict[str, float]:
    stack = Stack(folder, database_url=database_url)
    await stack.start(in_process=False)
    try:
        await stack.kill_bot_process()
        await stack.start_bot_process(log_level="INFO")  # as in production: DEBUG would log every Slack call
        stack.slack.ack_timeout = 10.0
        return await measure_journeys(stack, journeys=journeys)
    finally:
        await stack.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=200)
    arguments = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder, throwaway_postgres() as postgres_url:
        for engine in ("SQLite", "PostgreSQL"):
            place = Path(folder, engine)
            place.mkdir()
            url = sqlite_url(place / "qc-bot.db") if engine == "SQLite" else postgres_url
            results[engine] = await journeys_on(url, place, journeys=arguments.journeys)
            result = results[engine]
            print(f"{engine:>10}: {result['journeys']} journeys in flight, all done in {result['seconds']:.1f} s; "
                  f"/healthz during them p50 {result['probe_p50_ms']:.1f} ms, p99 {result['probe_p99_ms']:.1f} ms, "
                  f"max {result['probe_max_ms']:.1f} ms")
    postgres, sqlite = results["PostgreSQL"], results["SQLite"]
    print(f"PostgreSQL / SQLite: completion time {postgres['seconds'] / sqlite['seconds']:.2f}x, /healthz p99 "
          f"{postgres['probe_p99_ms'] / sqlite['probe_p99_ms']:.2f}x, "
          f"max {postgres['probe_max_ms'] / sqlite['probe_max_ms']:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
