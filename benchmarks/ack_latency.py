"""SPEC §8: slash-command acknowledgement latency of `qc-bot serve` against a bare Bolt app, at 200 concurrent
requests, and the event loop's health while hundreds of connect-org journeys are in flight.

Both servers run as their own process (one core each at most on a 2-core machine); this process plays Slack,
Salesforce and the admins' browsers. Run from the repository root:

    python benchmarks/ack_latency.py [--concurrency 200] [--rounds 5] [--journeys 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import percentile, serving_stack, signed_command  # noqa: E402
from tests.support.stack import ADMIN, CHANNEL, SIGNING_SECRET, Stack  # noqa: E402


async def measure_acks(stack: Stack, url: str, *, concurrency: int, rounds: int) -> list[float]:
    """Send `concurrency` signed `/qc connect-org` commands at once, `rounds` times; return each ack's latency.

    Requests are built and signed before the clock starts and answers are only read, not parsed: this process
    also plays Slack for the bot, and its own work must not be counted against either server.
    """
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for _ in range(rounds):
            requests = [signed_command(stack, text="connect-org") for _ in range(concurrency)]
            gc.collect()
            gc.disable()
            try:
                results = await asyncio.gather(*(post(session, url, body, headers) for body, headers in requests))
            finally:
                gc.enable()
            assert all(status == 200 for status, _ in results), {status for status, _ in results}
            latencies += [elapsed for _, elapsed in results]
    return latencies


async def post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status, time.perf_counter() - started


async def start_bare_app(stack: Stack) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": stack.slack.team.bot_token,
                   "SLACK_API_URL": stack.slack.api_url, "PATH": ""}
    process = subprocess.Popen([sys.executable, str(REPO_ROOT / "benchmarks" / "bare_bolt_app.py"), str(port)],
                               env=environment)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        return process, url
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)


async def measure_journeys(stack: Stack, *, journeys: int) -> dict[str, float]:
    """Run `journeys` connect-org journeys at once while probing /healthz; the probe's latency shows whether
    anything blocks the bot's event loop."""
    stack.org.deploy_polls_until_done = 1
    probe_latencies: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            started = time.perf_counter()
            async with stack.browser.get(stack.bot_url + "/healthz") as response:
                await response.read()
            probe_latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)

    prober = asyncio.create_task(probe())
    started = time.perf_counter()
    seen = len(stack.slack.ephemerals(ADMIN))
    await asyncio.gather(*(stack.slash("connect-org") for _ in range(journeys)))
    answers = await stack.slack.wait_for(
        lambda: stack.slack.ephemerals(ADMIN)[seen:] if len(stack.slack.ephemerals(ADMIN)) - seen >= journeys
        else None, what="every link")
    links = [re.search(r"http://[^\s\"'>|]+/salesforce/oauth/start\?link=[\w\-=]+", answer.text).group(0)
             for answer in answers]
    visits = await asyncio.gather(*(stack.browse(link) for link in links))
    failed = [visit.final for visit in visits if visit.final.status != 200]
    assert not failed, failed[0]
    await stack.slack.wait_for(lambda: len(stack.slack.messages(CHANNEL)) >= journeys, timeout=600,
                               what=f"{journeys} status messages")
    elapsed = time.perf_counter() - started
    done.set()
    await prober
    return {"journeys": journeys, "seconds": elapsed, "probe_p50_ms": 1000 * percentile(probe_latencies, 0.5),
            "probe_p99_ms": 1000 * percentile(probe_latencies, 0.99),
            "probe_max_ms": 1000 * max(probe_latencies)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--journeys", type=int, default=200)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        stack = await serving_stack(Path(folder))
        try:
            bare, bare_url = await start_bare_app(stack)
            try:
                urls = {"bare Bolt app": bare_url + "/slack/events", "qc-bot serve": stack.events_url}
                for url in urls.values():
                    await measure_acks(stack, url, concurrency=20, rounds=1)  # warm-up
                # Alternate the two servers round by round, so drift in the machine's load hits both alike.
                rounds: dict[str, list[list[float]]] = {name: [] for name in urls}
                for _ in range(arguments.rounds):
                    for name, url in urls.items():
                        rounds[name].append(await measure_acks(stack, url, concurrency=arguments.concurrency,
                                                               rounds=1))
            finally:
                bare.terminate()
                bare.wait()
            for name, per_round in rounds.items():
                values = [latency for round_values in per_round for latency in round_values]
                print(f"{name:>14}: ack p50 {1000 * statistics.median(values):7.1f} ms   "
                      f"p99 {1000 * percentile(values, 0.99):7.1f} ms   ({len(values)} acks)")
            ratios = [percentile(ours, 0.99) / percentile(base, 0.99)
                      for ours, base in zip(rounds["qc-bot serve"], rounds["bare Bolt app"], strict=True)]
            print(f"p99 overhead ratio per round: {', '.join(f'{r:.2f}' for r in ratios)}; median "
                  f"{statistics.median(ratios):.2f}x (target ≤ 1.2x); p99 target: well under 3000 ms")
            result = await measure_journeys(stack, journeys=arguments.journeys)
            print(f"{result['journeys']} journeys in flight: all done in {result['seconds']:.1f} s; /healthz during "
                  f"them p50 {result['probe_p50_ms']:.1f} ms, p99 {result['probe_p99_ms']:.1f} ms, "
                  f"max {result['probe_max_ms']:.1f} ms")
        finally:
            await stack.stop()


if __name__ == "__main__":
    asyncio.run(main())
