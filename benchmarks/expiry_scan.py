"""Benchmark of the expiry scan (SPEC §8: "an expiry scan over 100,000 tracked tokens in under a second;
memory flat in the number of orgs").

The design it measures: every tracked token stores `next_warning_at`, the moment its next warning falls due,
in the partial index `tracked_tokens_due`. A scan is one range query on that index for what is due, read in
batches of 500 (keyset pagination), each batch queued in the outbox and rescheduled in one transaction. It
never loops over orgs or tokens, so its time grows with what is due and its memory with the batch size;
the total number of tokens only deepens the B-tree by a level or two.

    python benchmarks/expiry_scan.py                 # 100,000 tokens over 1,000 orgs, and 10,000 to compare
    python benchmarks/expiry_scan.py --tokens 200000
    python benchmarks/expiry_scan.py --engine postgresql   # only one engine (default: both)

Each scenario runs on a fresh copy of a database seeded through the real repositories, in the steady state
of a running server: every warning already due at "now" was sent (SQLite: a copy of the file; PostgreSQL, in a
throwaway cluster of Debian's binaries as the tests start it: a database created from the seeded one as its
template). Time is measured without tracemalloc, peak Python memory in a second run with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the PostgreSQL of the tests, from a checkout

from bot.provisioning.settings import RefreshTokenPolicy
from bot.redaction import Secret
from bot.watch.expiry import (
    ExpiryScanner,
    TokenObservation,
    due_threshold,
    next_warning_at,
    thresholds_with_expiry,
    track,
)
from storage.crypto import SecretBox
from storage.database import Store, sqlite_url
from storage.tracked_tokens import DUE_TOKENS_SQL
from tests.support.postgres import Cluster, throwaway_cluster

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WARN_DAYS = (30, 7, 1)
TOKENS_PER_ORG = 100
KEY = Secret(Fernet.generate_key().decode())


@dataclass(frozen=True)
class Scenario:
    name: str
    as_of: datetime
    dry_run: bool = False


SCENARIOS = (
    Scenario("nothing due (scan right after the last one)", NOW),
    Scenario("one 15-minute scan interval later", NOW + timedelta(minutes=15)),
    Scenario("after a day of downtime", NOW + timedelta(days=1)),
    Scenario("dry run with every token due (120 days on)", NOW + timedelta(days=120), dry_run=True),
)


def store_at(url: str, *, read_only: bool = False) -> Store:
    return Store(url=url, secret_box=SecretBox(keys=[KEY]), read_only=read_only)


class Databases:
    """Where one engine's seeded database and its fresh copies live."""

    def __init__(self, engine: str, workdir: Path, cluster: Cluster | None) -> None:
        self.engine = engine
        self._workdir = workdir
        self._cluster = cluster

    @contextlib.contextmanager
    def seeded(self, tokens: int) -> Iterator[str]:
        if self._cluster is None:
            yield sqlite_url(self._workdir / f"seed-{tokens}.db")
        else:
            with self._cluster.fresh_database() as url:
                yield url

    @contextlib.contextmanager
    def copy_of(self, seeded_url: str) -> Iterator[str]:
        if self._cluster is None:
            copy = self._workdir / "scan.db"
            shutil.copyfile(make_url(seeded_url).database or "", copy)
            yield sqlite_url(copy)
            copy.unlink()
        else:
            with self._cluster.fresh_database(copy_of=make_url(seeded_url).database or "") as url:
                yield url


async def seed(url: str, *, tokens: int) -> None:
    """`tokens` QualityClouds tokens (90-day lifetime) issued evenly over the last 90 days, 100 per org."""
    policy = RefreshTokenPolicy.parse("90d")
    thresholds = thresholds_with_expiry(WARN_DAYS)
    store = store_at(url)
    await store.open()

    def write(repos):  # type: ignore[no-untyped-def]
        for org_number in range(tokens // TOKENS_PER_ORG):
            org_id = f"00D{org_number:012d}AAA"
            repos.orgs.save_authorization(
                team_id="T1", org_id=org_id, org_name=f"Org {org_number}", is_sandbox=False,
                instance_url="https://org.my.salesforce.com", login_url="https://login.salesforce.com",
                channel_id="C1", connected_by="U1", salesforce_user_id="005A", salesforce_username="a@b.c",
                access_token=Secret("benchmark-access-token"), refresh_token=None, issued_at=NOW, now=NOW)
            for user in range(TOKENS_PER_ORG):
                number = org_number * TOKENS_PER_ORG + user
                issued = NOW - timedelta(days=90) * (number / tokens)
                token = track(TokenObservation(
                    key=f"T1:{org_id}:app:005{user:012d}", team_id="T1", org_id=org_id, kind="app",
                    app_name="QualityClouds", salesforce_user_id=f"005{user:012d}", salesforce_username=None,
                    policy=policy, issued_at=issued, last_used_at=None,
                ), previous=None, thresholds=thresholds, now=NOW)
                assert token.expires_at is not None
                sent = due_threshold(thresholds=thresholds, expires_at=token.expires_at, window_start=issued,
                                     warned_days=None, as_of=NOW)
                if sent is not None:  # the steady state: what was due by now went out already
                    token = replace(token, warned_days=sent, next_warning_at=next_warning_at(
                        thresholds=thresholds, expires_at=token.expires_at, window_start=issued, warned_days=sent))
                repos.tracked_tokens.save(token)

    await store.run(write)
    if store.engine_name == "postgresql":  # what autovacuum does soon after a bulk load: the planner's statistics
        await store.run(lambda repos: repos.db.execute("ANALYZE", {}))
    await store.close()


async def run_scan(url: str, scenario: Scenario, *, measure_memory: bool) -> tuple[int, float, int]:
    store = store_at(url, read_only=scenario.dry_run)
    await store.open()
    scanner = ExpiryScanner(store=store, warn_days=WARN_DAYS)
    if measure_memory:
        tracemalloc.start()
    started = time.perf_counter()
    warnings = await scanner.scan(as_of=scenario.as_of, now=NOW, dry_run=scenario.dry_run)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if measure_memory else 0
    if measure_memory:
        tracemalloc.stop()
    await store.close()
    return warnings, elapsed, peak


async def query_plan(url: str) -> list[str]:
    store = store_at(url, read_only=True)
    await store.open()
    values = {"as_of": "", "after_at": "", "after_key": "", "limit": 500}
    if store.engine_name == "sqlite":
        plan = await store.run(lambda repos: [row[3] for row in repos.db.execute(
            "EXPLAIN QUERY PLAN " + DUE_TOKENS_SQL, values)])
    else:
        plan = await store.run(lambda repos: [row[0] for row in repos.db.execute("EXPLAIN " + DUE_TOKENS_SQL, values)])
    await store.close()
    return plan


async def benchmark(databases: Databases, tokens: int, *, show_plan: bool) -> None:
    with databases.seeded(tokens) as seeded:
        started = time.perf_counter()
        await seed(seeded, tokens=tokens)
        seconds = time.perf_counter() - started
        print(f"\n{databases.engine}: {tokens:,} tokens over {tokens // TOKENS_PER_ORG:,} orgs "
              f"(seeded in {seconds:.1f} s)")
        for scenario in SCENARIOS:
            results = []
            for measure_memory in (False, True):
                with databases.copy_of(seeded) as copy:
                    results.append(await run_scan(copy, scenario, measure_memory=measure_memory))
            (warnings, elapsed, _), (_, _, peak) = results
            print(f"  {scenario.name:48} {warnings:7,} warnings  {elapsed * 1000:8.1f} ms  "
                  f"peak Python memory {peak / 1024:7.0f} KiB")
        if show_plan:
            print(f"  Query plan of the due query on {databases.engine} (one range search of the partial index, one "
                  "primary-key lookup of each due token's org):")
            for step in await query_plan(seeded):
                print(f"    {step}")


async def main(arguments: argparse.Namespace) -> None:
    engines = ["SQLite", "PostgreSQL"] if arguments.engine == "both" else [
        {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[arguments.engine]]
    with tempfile.TemporaryDirectory(prefix="qc-bot-bench-") as directory, contextlib.ExitStack() as stack:
        for engine in engines:
            cluster = stack.enter_context(throwaway_cluster()) if engine == "PostgreSQL" else None
            databases = Databases(engine, Path(directory), cluster)
            for tokens in sorted({arguments.compare, arguments.tokens}):
                await benchmark(databases, tokens, show_plan=tokens == arguments.tokens)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=100_000, help="tokens to track (default 100,000)")
    parser.add_argument("--compare", type=int, default=10_000, help="a smaller run to compare with (default 10,000)")
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
