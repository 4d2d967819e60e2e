"""Clients that hold connections open cannot starve a real `qc-bot serve` (SPEC §6, §8): a half-sent request
head is cut off, and 1,100 of them at once neither exhaust the process's file descriptors nor lock out Slack."""

import asyncio
import resource
import time

import pytest

from bot.timings import Timings
from tests.support.stack import Stack

pytestmark = pytest.mark.sqlite_only(reason="the HTTP server's connection limits; the database plays no part")

HALF_SENT_HEAD = b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/x-www-form-urlencoded\r\n"


async def serving_process(tmp_path, **options) -> Stack:
    stack = Stack(tmp_path)
    await stack.start(in_process=False)
    if options:
        await stack.kill_bot_process()
        await stack.start_bot_process(**options)
    return stack


async def hold_half_sent_head(stack) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = stack.bot_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(HALF_SENT_HEAD)
    await writer.drain()
    return reader, writer


async def test_a_half_sent_request_head_is_cut_off(tmp_path):
    stack = await serving_process(tmp_path)
    try:
        reader, writer = await hold_half_sent_head(stack)
        started = time.monotonic()
        try:
            closed = await asyncio.wait_for(reader.read(), timeout=Timings().idle_connection_seconds + 20)
        finally:
            writer.close()
        assert closed == b"", "the server closes the connection without answering a request it never got"
        assert time.monotonic() - started >= Timings().idle_connection_seconds - 1
    finally:
        await stack.stop()


async def test_1100_clients_holding_half_sent_requests_do_not_lock_out_slack(tmp_path):
    clients = 1_100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < clients + 200:
        if hard != resource.RLIM_INFINITY and hard < clients + 200:
            pytest.skip(f"this test process may open only {hard} files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (clients + 200, hard))
    # A container's usual limit: 1,024 descriptors, soft and hard.
    stack = await serving_process(tmp_path, open_files=1024)
    held = []
    try:
        for _ in range(clients):
            held.append(await hold_half_sent_head(stack))
        async with stack.browser.get(stack.bot_url + "/healthz", timeout=5) as health:
            assert health.status == 200
        acknowledged = await stack.slash("help")
        assert acknowledged.status == 200 and not acknowledged.timed_out
        assert "Too many open files" not in stack.process_log()
        assert "Traceback" not in stack.process_log()
    finally:
        for _, writer in held:
            writer.close()
        await stack.stop()
