"""How long the live proof of SPEC §2 takes, and how many sign-in attempts it makes, when Salesforce needs a
given time to propagate a new app (the stand-in's default: 2 minutes).

It runs the bot's real proof (`bot.connect.proof.SignInProver`, production `Timings`: `proof_retry` with its
±20 % jitter and the 10-minute `proof_window`) against the Salesforce stand-in over loopback HTTP, on
simulated time: one manual clock drives both sides, and each wait between attempts moves that clock
instead of sleeping, so a run that would take minutes of wall time takes milliseconds. Every attempt is a
real client-credentials request the stand-in answers from its clock.

    python benchmarks/live_proof.py                    # 2 minutes of propagation, 200 runs
    python benchmarks/live_proof.py --propagation 300 --runs 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.clock import ManualClock
from bot.connect.proof import SignInProver
from bot.redaction import Secret
from bot.salesforce.hosts import HostPolicy
from bot.salesforce.http import SalesforceHttp
from bot.salesforce.oauth import SalesforceOAuth
from bot.timings import Timings
from standins.salesforce import FakeSalesforce


async def one_run(*, fake: FakeSalesforce, clock: ManualClock, oauth: SalesforceOAuth, timings: Timings,
                  propagation: timedelta, index: int) -> tuple[float, int, bool]:
    org = fake.orgs[0]
    org.credentials_propagation = propagation
    key, secret = f"benchKey{index:06d}", f"benchSecret{index:06d}"
    org.seed_connected_app(f"Bench{index}", consumer_key=key, consumer_secret=secret,
                           client_credentials_user=org.admin.username)
    org.credentials_changed(key)  # as a deploy that has just created the app
    started = clock.now()
    attempts = 0

    async def count() -> None:
        nonlocal attempts
        attempts += 1

    async def simulated_sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))

    prover = SignInProver(oauth=oauth, clock=clock, retry=timings.proof_retry, window=timings.proof_window,
                          sleep=simulated_sleep)
    outcome = await prover.prove(my_domain_url=org.my_domain_url, consumer_key=Secret(key),
                                 consumer_secret=Secret(secret), started_at=started, attempts_before=0,
                                 on_attempt=count)
    return (clock.now() - started).total_seconds(), attempts, outcome.problem is None


async def main(propagation_seconds: float, runs: int) -> None:
    clock = ManualClock()
    fake = FakeSalesforce(clock=clock.now)
    fake.add_org(name="Bench Corp", admin_username="admin@bench.example")
    await fake.start()
    timings = Timings()
    try:
        async with aiohttp.ClientSession() as session:
            http = SalesforceHttp(session=session, host_policy=HostPolicy.from_entries(fake.allowed_hosts),
                                  retry=timings.salesforce_retry, timeout_seconds=timings.salesforce_timeout_seconds)
            oauth = SalesforceOAuth(http=http, client_id="unused", client_secret=Secret("unused"),
                                    redirect_uri="https://unused.example/callback")
            results = [await one_run(fake=fake, clock=clock, oauth=oauth, timings=timings,
                                     propagation=timedelta(seconds=propagation_seconds), index=index)
                       for index in range(runs)]
    finally:
        await fake.stop()
    durations = sorted(duration for duration, _, _ in results)
    attempts = sorted(count for _, count, _ in results)
    proved = sum(ok for _, _, ok in results)
    policy = timings.proof_retry
    print(f"propagation {propagation_seconds:.0f} s; proof_retry {policy.initial:g} s ×{policy.factor:g} up to "
          f"{policy.maximum:g} s, jitter ±{policy.jitter:.0%}; window {timings.proof_window}; {runs} runs "
          "(simulated time, real HTTP to the stand-in)")
    print(f"proved: {proved}/{runs}")
    print(f"time to proof: min {durations[0]:.0f} s, median {statistics.median(durations):.0f} s, "
          f"max {durations[-1]:.0f} s")
    print(f"sign-in attempts: min {attempts[0]}, median {statistics.median(attempts):g}, max {attempts[-1]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--propagation", type=float, default=120.0, help="seconds (default 120)")
    parser.add_argument("--runs", type=int, default=200)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.propagation, arguments.runs))
