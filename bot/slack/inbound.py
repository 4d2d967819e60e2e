"""The door of `POST /slack/events`: what a request must be before Bolt sees it (SPEC §6).

Bolt trusts its input once the signature holds, and answers anything odd before that with a 500 and a
traceback (a timestamp that is not a number, a body that is not UTF-8 or not JSON), logging every refused
body in full. The gate answers all of those itself, cheaply and in order of cost:

1. headers first: a missing signature, a timestamp that is not plain digits or is outside Slack's
   five-minute window → 401, before a byte of the body is read;
2. the body, bounded in size (`MAX_BODY_BYTES` → 413) and in time (`body_seconds` → 408);
3. the signature over those exact bytes → 401;
4. a signature seen before (a replay, or Slack resending what we already answered) → 200 with an empty
   body: nothing is done twice and a replayer learns nothing;
5. the body must be what Bolt will parse (UTF-8; a JSON object, or a form whose `payload` is one) → 400;
6. an event whose `event_id` was seen before → 200, empty, as a replay; and where replicas share a database
   (`SharedReplays`), a request another replica admitted already → the same.

Refusals are counted, never logged one by one: one line per `_SUMMARY_SECONDS` says how many and why.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import cast
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.slack.replays import SharedReplays

logger = logging.getLogger(__name__)

# Slack's largest requests are interactions: a `block_actions` or `view_submission` payload carries the whole
# view or message it came from plus its state. Slack refuses views over 250 kB of JSON (`view_too_large`) and
# messages over 50 blocks; form encoding can about double JSON's size. Slash commands and events are a few kB.
MAX_BODY_BYTES = 512 * 1024
# Slack's own rule (and slack_sdk's): a signature is valid for five minutes either side of its timestamp.
SIGNATURE_WINDOW_SECONDS = 300
# Slack resends an event it saw no acknowledgement for: at once, after a minute and after five; a resend
# may be signed afresh, so an event is also remembered by its `event_id`, for longer than the last resend.
EVENT_MEMORY_SECONDS = 600
# Entries enter only with a valid signature, so only Slack (or a holder of the signing secret) can fill the
# cache: 50,000 distinct requests in five minutes is over 160 a second, far beyond a workspace's traffic.
REPLAY_CACHE_ENTRIES = 50_000
_SUMMARY_SECONDS = 60.0

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")

REFUSED: web.RequestKey[str] = web.RequestKey("qc_refused", str)


class _Refusal(Exception):
    def __init__(self, *, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_ANSWERS = {
    400: "malformed request",
    401: "invalid request",
    408: "request body too slow",
    413: "request too large",
}


class ReplayCache:
    """Keys of requests already accepted, each until its signature could no longer be valid.

    In one process only: replicas on PostgreSQL consult `SharedReplays` too, after this cache (which answers a
    replay to the same process without a database round trip). Under a flood beyond `capacity` the oldest
    entries go first (and that is logged): an evicted entry reopens one replay window, while refusing new
    requests would drop Slack's real ones.
    """

    def __init__(self, *, capacity: int = REPLAY_CACHE_ENTRIES, now: Callable[[], float] = time.time) -> None:
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._capacity = capacity
        self._now = now
        self._evicted = 0
        self._last_eviction_note = -_SUMMARY_SECONDS

    def remember(self, key: str, *, until: float) -> bool:
        """Remember `key` until `until` (epoch seconds); False if it is already remembered (a replay)."""
        now = self._now()
        while self._expiry and next(iter(self._expiry.values())) <= now:
            self._expiry.popitem(last=False)
        expiry = self._expiry.get(key)
        if expiry is not None and expiry > now:
            return False
        self._expiry[key] = until
        while len(self._expiry) > self._capacity:
            self._expiry.popitem(last=False)
            self._evict_noted()
        return True

    def forget(self, key: str) -> None:
        self._expiry.pop(key, None)

    def __len__(self) -> int:
        return len(self._expiry)

    def _evict_noted(self) -> None:
        self._evicted += 1
        moment = time.monotonic()
        if moment - self._last_eviction_note >= _SUMMARY_SECONDS:
            logger.warning("Replay cache full (%d signed requests in five minutes): evicted %d oldest entries",
                           self._capacity, self._evicted)
            self._evicted, self._last_eviction_note = 0, moment


class RefusalCounter:
    """Counts refused requests by reason and logs at most one line per `interval` seconds."""

    def __init__(self, *, interval: float = _SUMMARY_SECONDS) -> None:
        self._interval = interval
        self._counts: Counter[str] = Counter()
        self._last_line = -interval

    def count(self, reason: str) -> None:
        self._counts[reason] += 1
        moment = time.monotonic()
        if moment - self._last_line >= self._interval:
            summary = ", ".join(f"{count} {why}" for why, count in self._counts.most_common())
            logger.info("Refused %d request(s) to the Slack endpoint (%s); the next summary comes in %.0f s at "
                        "the earliest", sum(self._counts.values()), summary, self._interval)
            self._counts.clear()
            self._last_line = moment


class SlackRequestGate:
    """Admits a request to Bolt only once it is well-formed, within limits, signed, and new."""

    def __init__(self, *, signing_secret: str, body_seconds: float, shared: SharedReplays | None = None) -> None:
        self._key = signing_secret.encode()
        self._body_seconds = body_seconds
        self._replays = ReplayCache()
        self._shared = shared
        self._refusals = RefusalCounter()

    async def handle(self, request: web.Request, *,
                     dispatch: Callable[[AsyncBoltRequest], Awaitable[BoltResponse]]) -> web.StreamResponse:
        """Answer a refused request here; hand an admitted one to `dispatch` (Bolt) and return its answer."""
        try:
            timestamp, signature = self._signed_headers(request)
            body = await self._read_body(request)
            if not self._signed(body, timestamp=timestamp, signature=signature):
                raise _Refusal(status=401, reason="bad signature")
            key, until = f"signature:{signature}", float(int(timestamp) + SIGNATURE_WINDOW_SECONDS)
            if not self._replays.remember(key, until=until):
                return self._replayed(request)
            keys = [(key, until)]
            text, event_id = _parse(body, content_type=request.content_type)
            if event_id is not None:
                key, until = f"event:{event_id}", time.time() + EVENT_MEMORY_SECONDS
                if not self._replays.remember(key, until=until):
                    return self._replayed(request)
                keys.append((key, until))
            if self._shared is not None and not await self._shared.admit(keys):
                return self._replayed(request)
        except _Refusal as refusal:
            return await self._refuse(request, refusal)
        # Bolt reads the headers once, into its own dictionary: as its aiohttp adapter does, it gets them as they
        # are rather than a copy (its annotation asks for a dict; any mapping of strings serves).
        response = await dispatch(AsyncBoltRequest(body=text, query=request.query_string,
                                                    headers=cast(dict[str, str | Sequence[str]], request.headers)))
        if response.status >= 500:
            # We did not do what was asked: Slack's resend of this very request deserves a real attempt.
            for key, _ in keys:
                self._replays.forget(key)
            if self._shared is not None:
                await self._shared.forget([key for key, _ in keys])
        return await to_aiohttp_response(response)

    def _signed_headers(self, request: web.Request) -> tuple[str, str]:
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
            raise _Refusal(status=401, reason="missing or malformed signature headers")
        if abs(time.time() - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
            raise _Refusal(status=401, reason="stale timestamp")
        return timestamp, signature

    def _signed(self, body: bytes, *, timestamp: str, signature: str) -> bool:
        # Slack's v0 scheme, over the bytes as received: slack_sdk's verifier decodes the body first and raises
        # on bytes that are not UTF-8, which must be a refusal rather than an error. (`hmac.digest` is the
        # one-shot form: no HMAC object per request.)
        expected = hmac.digest(self._key, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hex()
        return hmac.compare_digest("v0=" + expected, signature)

    async def _read_body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise _Refusal(status=413, reason="too large")
        if request.content.is_eof():
            # The whole body came with the headers (Slack's requests are a few kB): nothing to wait for, so no
            # timer to arm. A chunked body has no Content-Length to check above: its size is checked here.
            body = request.content.read_nowait()
            if len(body) > MAX_BODY_BYTES:
                raise _Refusal(status=413, reason="too large")
            return body
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self._body_seconds):
                while chunk := await request.content.readany():
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise _Refusal(status=413, reason="too large")
                    chunks.append(chunk)
        except TimeoutError:
            raise _Refusal(status=408, reason="body too slow") from None
        return b"".join(chunks)

    def _replayed(self, request: web.Request) -> web.Response:
        request[REFUSED] = "replay"
        self._refusals.count("replayed")
        return web.Response(status=200)

    async def _refuse(self, request: web.Request, refusal: _Refusal) -> web.StreamResponse:
        request[REFUSED] = refusal.reason
        self._refusals.count(refusal.reason)
        response = web.json_response({"error": _ANSWERS[refusal.status]}, status=refusal.status)
        if refusal.status in (408, 413):
            response.force_close()  # the rest of that body is not worth another request on this connection
        if refusal.status == 408:
            # A client that stopped sending holds the connection until it is cut: answer, then close at once
            # (aiohttp would otherwise linger, waiting for the rest of the body).
            await response.prepare(request)
            await response.write_eof()
            request.protocol.force_close()
        return response


def _parse(body: bytes, *, content_type: str) -> tuple[str, str | None]:
    """The body as text, and the event's `event_id` if it is an Events API callback; refuses (400) what
    Bolt could not parse the way it parses (JSON when declared so or when it starts with `{`, else a form
    whose optional `payload` field is JSON)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refusal(status=400, reason="not UTF-8") from None
    if not text:
        return text, None
    try:
        if content_type == "application/json" or text.startswith("{"):
            document = json.loads(text)
        else:
            payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload") if "payload" in text else None
            document = {} if payload is None else json.loads(payload)
    except ValueError:
        raise _Refusal(status=400, reason="malformed JSON") from None
    if not isinstance(document, dict):
        raise _Refusal(status=400, reason="malformed JSON") from None
    event_id = document.get("event_id") if document.get("type") == "event_callback" else None
    return text, event_id if isinstance(event_id, str) and event_id else None
