"""Rate limits on `/qc` commands (per user and per workspace) and on `GET /slack/install` starts (per address
and in all), SPEC §7: a flood is answered politely and costs neither database rows nor audit entries.

Token buckets in this process's memory, on the bot's clock: taking a token is a dictionary lookup and some
arithmetic, cheap enough for the acknowledgement path. Each replica keeps its own buckets, so N replicas admit up
to N times the rates below; a limit shared by replicas would need the buckets in the shared database (one
conditional UPDATE per request) or in a cache such as Redis. Refusals are counted per key, and the count of each
key is audited once per maintenance round (`drain_refusals`), never one audit entry per refused request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot import messages
from bot.clock import Clock

logger = logging.getLogger(__name__)

Scope = Literal["command_user", "command_team", "install_address", "install_all"]


@dataclass(frozen=True, kw_only=True)
class Rate:
    burst: int
    """How many may come at once after a quiet spell."""
    per_minute: float
    """How fast the allowance refills."""


@dataclass(frozen=True, kw_only=True)
class RateLimits:
    """Far above what people type or click, far below what fills a table: an admin connecting a dozen orgs in a
    row stays well inside, a script sending hundreds a second is cut off after the burst."""

    command_per_user: Rate = field(default_factory=lambda: Rate(burst=20, per_minute=10))
    command_per_team: Rate = field(default_factory=lambda: Rate(burst=100, per_minute=60))
    install_per_address: Rate = field(default_factory=lambda: Rate(burst=10, per_minute=5))
    install_in_all: Rate = field(default_factory=lambda: Rate(burst=60, per_minute=30))


class _Buckets:
    """Each bucket is a (tokens, epoch seconds) tuple, replaced on every take: float arithmetic, where datetimes
    would cost the acknowledgement more, and tuples of floats are left alone by the garbage collector, whose
    passes would otherwise walk every bucket of a flood from many workspaces."""

    def __init__(self, rate: Rate) -> None:
        self._rate = rate
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, *, now: float) -> bool:
        bucket = self._buckets.get(key)
        tokens = float(self._rate.burst) if bucket is None else self._refilled(bucket, now=now)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        return True

    def forget_full(self, *, now: float) -> None:
        """Drop the buckets that have refilled: they hold nothing a new bucket would not (memory stays flat)."""
        full = [key for key, bucket in self._buckets.items() if self._refilled(bucket, now=now) >= self._rate.burst]
        for key in full:
            del self._buckets[key]

    def _refilled(self, bucket: tuple[float, float], *, now: float) -> float:
        tokens, at = bucket
        elapsed_minutes = max(now - at, 0.0) / 60
        return min(float(self._rate.burst), tokens + elapsed_minutes * self._rate.per_minute)


@dataclass(frozen=True, kw_only=True)
class RefusalCount:
    scope: Scope
    team_id: str | None
    user_id: str | None
    refused: int


class RateLimiter:
    def __init__(self, *, limits: RateLimits, clock: Clock) -> None:
        self._clock = clock
        self._command_user = _Buckets(limits.command_per_user)
        self._command_team = _Buckets(limits.command_per_team)
        self._install_address = _Buckets(limits.install_per_address)
        self._install_all = _Buckets(limits.install_in_all)
        self._refused: dict[tuple[Scope, str | None, str | None], int] = {}

    def admit_command(self, *, team_id: str, user_id: str) -> bool:
        now = self._clock.now().timestamp()
        if not self._command_user.take(f"{team_id}:{user_id}", now=now):
            return self._refuse("command_user", team_id=team_id, user_id=user_id)
        if not self._command_team.take(team_id, now=now):
            return self._refuse("command_team", team_id=team_id, user_id=None)
        return True

    def admit_install(self, *, address: str | None) -> bool:
        now = self._clock.now().timestamp()
        if not self._install_address.take(address or "unknown", now=now):
            return self._refuse("install_address", team_id=None, user_id=None)
        if not self._install_all.take("all", now=now):
            return self._refuse("install_all", team_id=None, user_id=None)
        return True

    def _refuse(self, scope: Scope, *, team_id: str | None, user_id: str | None) -> bool:
        key = (scope, team_id, user_id)
        count = self._refused.get(key, 0)
        if count == 0:
            logger.warning("Rate limit reached (%s) for %s; further refusals are counted, not logged",
                           scope, user_id or team_id or "anonymous install starts")
        self._refused[key] = count + 1
        return False

    def drain_refusals(self) -> list[RefusalCount]:
        """What was refused since the last call, one count per scope and asker; the counts start again at 0."""
        refused, self._refused = self._refused, {}
        now = self._clock.now().timestamp()
        for buckets in (self._command_user, self._command_team, self._install_address, self._install_all):
            buckets.forget_full(now=now)
        return [RefusalCount(scope=scope, team_id=team_id, user_id=user_id, refused=count)
                for (scope, team_id, user_id), count in refused.items()]


class CommandRateLimit(AsyncMiddleware):
    """Answers a `/qc` command beyond its limit at once, with a private note, before any listener (and any
    database or Slack call) runs. Bolt's signature check comes first, so only genuine requests count."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        body = req.body
        if body.get("command") != messages.COMMAND:
            return await next()
        if self._limiter.admit_command(team_id=str(body.get("team_id")), user_id=str(body.get("user_id"))):
            return await next()
        payload = {**messages.slow_down().as_payload(), "response_type": "ephemeral"}
        return BoltResponse(status=200, body=json.dumps(payload), headers={"Content-Type": "application/json"})
