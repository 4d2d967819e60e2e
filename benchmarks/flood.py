"""SPEC §6/§8: Slack's real acknowledgements during a flood of unsigned 1 MB requests to `/slack/events`.

Runs a real `qc-bot serve` (log level INFO, as in production) on loopback. While `--flood` unsigned 1 MB
requests are sent, `--in-flight` at a time, this process plays Slack and sends one signed `/qc help` every
`--ack-interval` seconds and probes `/healthz`. It prints the acknowledgement and `/healthz` latencies
during the flood and how many bytes the bot's log grew by. The flood takes three shapes in turn: no
signature headers at all; a fresh timestamp and a made-up signature with a 1 MB body; the same with a body
just under the size limit (read in full and checked, the costliest refusal). Bounded by `--flood` requests
and `--seconds`. Run from the repository root:

    python benchmarks/flood.py [--flood 2000] [--in-flight 32] [--seconds 120]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import percentile, serving_stack, signed_command  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

MEGABYTE = 1_000_000
UNDER_THE_LIMIT = 500 * 1024


def flood_request(number: int, host: str) -> bytes:
    """One unsigned request, as raw bytes: the flooder does not need an HTTP client's comforts."""
    shape = number % 3
    size = UNDER_THE_LIMIT if shape == 2 else MEGABYTE
    body = b"text=" + b"A" * (size - 5)
    headers = ["POST /slack/events HTTP/1.1", f"Host: {host}", "Content-Type: application/x-www-form-urlencoded",
               f"Content-Length: {len(body)}", "Connection: close"]
    if shape:
        headers += [f"X-Slack-Request-Timestamp: {int(time.time())}", f"X-Slack-Signature: v0={'0' * 64}"]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def send_flood_request(host: str, port: int, number: int, outcomes: Counter[str]) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as error:
        outcomes[f"connect failed ({type(error).__name__})"] += 1
        return
    try:
        writer.write(flood_request(number, f"{host}:{port}"))
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=30)
        outcomes[status_line.decode(errors="replace").split(" ", 2)[1] if status_line else "closed"] += 1
    except (OSError, TimeoutError) as error:
        outcomes[f"cut off ({type(error).__name__})"] += 1
    finally:
        writer.close()


async def flood(stack: Stack, *, requests: int, in_flight: int, seconds: float, outcomes: Counter[str]) -> float:
    host, port = stack.bot_url.removeprefix("http://").split(":")
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    numbers = iter(range(requests))

    async def worker() -> None:
        for number in numbers:
            if time.monotonic() > deadline:
                return
            await send_flood_request(host, int(port), number, outcomes)

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return time.monotonic() - started


async def probe(session: aiohttp.ClientSession, *, url: str, interval: float, stop: asyncio.Event,
                latencies: list[float], failures: Counter[str], signed: Stack | None = None) -> None:
    """Every `interval` seconds one request (a signed `/qc help` when `signed` is given, else a GET)."""
    while not stop.is_set():
        started = time.perf_counter()
        try:
            if signed is not None:
                body, headers = signed_command(signed, text="help")
                started = time.perf_counter()
                response = await session.post(url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(10))
            else:
                response = await session.get(url, timeout=aiohttp.ClientTimeout(10))
            async with response:
                await response.read()
                if response.status != 200:
                    failures[str(response.status)] += 1
            latencies.append(time.perf_counter() - started)
        except (aiohttp.ClientError, TimeoutError) as error:
            failures[type(error).__name__] += 1
        await asyncio.sleep(interval)


def summary(name: str, latencies: list[float], failures: Counter[str]) -> str:
    if not latencies:
        return f"{name}: no answer at all ({dict(failures)})"
    over = sum(1 for latency in latencies if latency > 3.0)
    return (f"{name}: p50 {1000 * statistics.median(latencies):.1f} ms, p99 {1000 * percentile(latencies, 0.99):.1f} "
            f"ms, max {1000 * max(latencies):.1f} ms over {len(latencies)} requests; {over} over 3 s; "
            f"failures {dict(failures) or 'none'}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=2000, help="unsigned 1 MB requests to send in all")
    parser.add_argument("--in-flight", type=int, default=32, help="flood requests in flight at once")
    parser.add_argument("--seconds", type=float, default=120.0, help="stop the flood after this long")
    parser.add_argument("--ack-interval", type=float, default=0.1, help="seconds between signed commands")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        stack = await serving_stack(Path(folder))
        log = Path(folder) / "serve.log"
        try:
            outcomes: Counter[str] = Counter()
            acks: list[float] = []
            health: list[float] = []
            ack_failures: Counter[str] = Counter()
            health_failures: Counter[str] = Counter()
            stop = asyncio.Event()
            async with aiohttp.ClientSession() as session:
                await probe_once(session, stack)
                log_before = log.stat().st_size
                probes = [
                    asyncio.create_task(probe(session, url=stack.events_url, interval=arguments.ack_interval,
                                              stop=stop, latencies=acks, failures=ack_failures, signed=stack)),
                    asyncio.create_task(probe(session, url=stack.bot_url + "/healthz", interval=0.1, stop=stop,
                                              latencies=health, failures=health_failures)),
                ]
                elapsed = await flood(stack, requests=arguments.flood, in_flight=arguments.in_flight,
                                      seconds=arguments.seconds, outcomes=outcomes)
                stop.set()
                await asyncio.gather(*probes)
                log_growth = log.stat().st_size - log_before
            print(f"flood: {sum(outcomes.values())} unsigned requests of up to 1 MB, {arguments.in_flight} in flight, "
                  f"in {elapsed:.1f} s; answers {dict(sorted(outcomes.items()))}")
            print(summary("signed /qc acks during the flood", acks, ack_failures))
            print(summary("/healthz during the flood", health, health_failures))
            print(f"log growth during the flood: {log_growth} bytes")
        finally:
            await stack.stop()


async def probe_once(session: aiohttp.ClientSession, stack: Stack) -> None:
    """Warm the bot up (its first command pays for Slack's auth.test) before anything is measured."""
    body, headers = signed_command(stack, text="help")
    async with session.post(stack.events_url, data=body, headers=headers) as response:
        assert response.status == 200, response.status


if __name__ == "__main__":
    asyncio.run(main())
