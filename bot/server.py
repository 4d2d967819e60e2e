"""Serving the web app to the network (`qc-bot serve`), so that slow or numerous clients cannot starve it.

- A connection must deliver a complete request head within `Timings.idle_connection_seconds` of opening or
  of its last answer (aiohttp's keep-alive timeout, which it also applies to a half-sent head), and a body
  within `Timings.request_body_seconds` (the Slack gate).
- At most `MAX_CONNECTIONS` connections are open: a new one closes the oldest, so clients holding
  half-sent requests cannot exhaust file descriptors or lock out Slack, whose requests finish in
  milliseconds. The process's file-descriptor limit is raised to what that needs.
- The body of a refused request is drained for at most `_LINGER_SECONDS`, then the connection is closed.
- SIGTERM (or SIGINT) stops the listener at once, answers the requests in flight (at most
  `Timings.shutdown_grace_seconds`), then runs the app's cleanup, which lets journeys under way settle and drains
  the outbox. A start-up that cannot go on raises `StartupFailed`, which the CLI prints as one line.

A reverse proxy in front adds what a single process cannot do well (see the README's "Running in
production").
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_protocol import RequestHandler

from bot.timings import Timings

logger = logging.getLogger(__name__)

MAX_CONNECTIONS = 512
# Descriptors the process needs besides client connections: the database, outgoing HTTP connections to Slack
# and Salesforce, logs.
_RESERVED_DESCRIPTORS = 256
_LINGER_SECONDS = 2.0
_NOTE_SECONDS = 60.0


def connection_limit(*, wanted: int = MAX_CONNECTIONS) -> int:
    """Raise the soft file-descriptor limit towards the hard one if it is short of `wanted` connections plus
    the reserve, and return how many connections fit."""
    try:
        import resource
    except ImportError:  # not a Unix: the platform's own limits apply
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + _RESERVED_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            logger.warning("Could not raise the open-file limit from %d to %d", soft, target)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - _RESERVED_DESCRIPTORS))


class StartupFailed(Exception):
    """`qc-bot serve` cannot start; the message says why in one line, for the operator (never a traceback)."""


class ConnectionCap:
    """aiohttp's protocol factory behind a cap: at `limit` open connections, the oldest is closed first."""

    def __init__(self, server: web.Server, *, limit: int) -> None:
        self._server = server
        self._limit = limit
        self._evicted = 0
        self._last_note = -_NOTE_SECONDS

    def __call__(self) -> RequestHandler:
        # A connection being closed has no transport any more, but stays listed until its task ends.
        open_connections = [handler for handler in self._server.connections if handler.transport is not None]
        if len(open_connections) >= self._limit:
            open_connections[0].force_close()
            self._note_eviction()
        return self._server()

    def _note_eviction(self) -> None:
        self._evicted += 1
        moment = time.monotonic()
        if moment - self._last_note >= _NOTE_SECONDS:
            logger.warning("%d connection(s) open: closed the oldest %d to accept new ones", self._limit,
                           self._evicted)
            self._evicted, self._last_note = 0, moment


class _CappedSite(web.BaseSite):
    """A TCP site on all interfaces whose connections go through a `ConnectionCap`."""

    def __init__(self, runner: web.AppRunner, *, listening: socket.socket, limit: int) -> None:
        super().__init__(runner)
        self._listening = listening
        self._port = listening.getsockname()[1]
        self._limit = limit

    @property
    def name(self) -> str:
        return f"http://0.0.0.0:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None, "the runner is set up before its sites start"
        self._server = await asyncio.get_running_loop().create_server(
            ConnectionCap(server, limit=self._limit), sock=self._listening, backlog=self._backlog)


def _listen(port: int) -> socket.socket:
    """A socket bound to `port` on every interface (IPv6 and IPv4 where the host has both)."""
    dual_stack = socket.has_dualstack_ipv6()
    return socket.create_server(("", port), family=socket.AF_INET6 if dual_stack else socket.AF_INET,
                                dualstack_ipv6=dual_stack, reuse_port=False)


async def run_until_stopped(app: Awaitable[web.Application], *, port: int, timings: Timings,
                            access_log_class: type[AbstractAccessLogger]) -> None:
    """Serve `app` on `port` until SIGINT or SIGTERM, then shut it down gracefully; raise `StartupFailed` if it
    cannot start."""
    limit = connection_limit()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Before start-up, so that a SIGTERM during it still ends in a clean shutdown rather than a killed process.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop_signal, stopped.set)
    # The port is taken before start-up, so that a port in use stops the process before anything (the scheduler,
    # a journey resumed) has begun.
    try:
        listening = _listen(port)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if inspect.iscoroutine(app):
            app.close()  # never built: nothing of it to close
        raise StartupFailed(f"cannot listen on port {port}: {reason}") from None
    runner = web.AppRunner(await app, handle_signals=False, access_log_class=access_log_class,
                           keepalive_timeout=timings.idle_connection_seconds, lingering_time=_LINGER_SECONDS,
                           shutdown_timeout=timings.shutdown_grace_seconds)
    try:
        await runner.setup()
        site = _CappedSite(runner, listening=listening, limit=limit)
        await site.start()
        logger.info("Serving on %s (at most %d connections)", site.name, limit)
        await stopped.wait()
        logger.info("Stopping: no new connections; answering the requests in flight (at most %.0f s)",
                    timings.shutdown_grace_seconds)
    finally:
        # Also after a failed start-up: what the app opened (HTTP sessions, the database) is closed again.
        await runner.cleanup()
        listening.close()
    logger.info("Stopped")
