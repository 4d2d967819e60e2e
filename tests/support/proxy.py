"""A round-robin HTTP reverse proxy on loopback, the load balancer in front of several `qc-bot serve` replicas.

Each request goes to the next live backend with its method, path, query, headers and body unchanged (Slack's
signature covers the body and its timestamp header, so one byte changed would be refused), and the backend's
answer comes back unchanged: status, headers and the body as sent (not decompressed, redirects not followed). A
backend that refuses the connection is dropped, as a load balancer's health check would take it out of rotation,
and the request goes to the next one; a backend that dies after taking a request leaves it answered 502, since
a proxy cannot know whether it was acted on.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "content-length"})
"""Headers that describe one connection, not the message (RFC 9110 §7.6.1); the length is recomputed per hop."""


@dataclass(frozen=True)
class Forwarded:
    method: str
    path: str
    backend: str
    status: int


class NoBackendLeft(Exception):
    """Every backend refused the connection."""


class RoundRobinProxy:
    def __init__(self, *, backends: list[str]) -> None:
        """`backends`: base URLs such as http://127.0.0.1:3001."""
        self.backends = list(backends)
        self.live = list(backends)
        self.forwarded: list[Forwarded] = []
        """Every request a backend answered, in order."""
        self.dropped: list[str] = []
        self.url = ""
        self._next = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> RoundRobinProxy:
        # Not decompressed, no cookie jar, no pool limit: the bytes and headers each backend sent, many at once.
        # Idle connections are let go well before `qc-bot serve` closes them (10 s), as its README asks of a
        # proxy: reusing one the backend is closing at that moment would lose the request.
        self._session = aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
                                              connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=5))
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def answered_by(self, backend: str, *, path: str = "/") -> int:
        """How many requests under `path` `backend` answered."""
        return sum(1 for seen in self.forwarded if seen.backend == backend and seen.path.startswith(path))

    def add(self, backend: str) -> None:
        """Put `backend` (back) into rotation, as a health check does once a restarted replica answers."""
        if backend not in self.backends:
            self.backends.append(backend)
        if backend not in self.live:
            self.live.append(backend)

    def drop(self, backend: str) -> None:
        if backend in self.live:
            self.live.remove(backend)
            self.dropped.append(backend)

    def _pick(self) -> str:
        if not self.live:
            raise NoBackendLeft(f"every backend refused: {self.dropped}")
        backend = self.live[self._next % len(self.live)]
        self._next += 1
        return backend

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = [(name, value) for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP]
        while True:
            try:
                backend = self._pick()
            except NoBackendLeft as exhausted:
                return web.Response(status=503, text=str(exhausted))
            try:
                async with self._session.request(
                        request.method, backend + request.raw_path, data=body, headers=headers,
                        allow_redirects=False, skip_auto_headers=("User-Agent", "Content-Type",
                                                                  "Accept-Encoding")) as answer:
                    content = await answer.read()
                    self.forwarded.append(Forwarded(request.method, request.path, backend, answer.status))
                    return web.Response(status=answer.status, reason=answer.reason, body=content, headers=CIMultiDict(
                        (name, value) for name, value in answer.headers.items() if name.lower() not in HOP_BY_HOP))
            except aiohttp.ClientConnectorError:
                self.drop(backend)  # refused: nobody listens there any more
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as lost:
                return web.Response(status=502, text=f"the backend went away mid-request: {type(lost).__name__}")
