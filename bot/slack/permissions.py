"""Who may connect and disconnect orgs (SPEC §3): Slack workspace admins and owners, plus `QC_ADMIN_USERS`."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock

logger = logging.getLogger(__name__)


class Permissions:
    def __init__(self, *, admin_users: frozenset[str], clock: Clock, cache_for: timedelta = timedelta(minutes=5)):
        self._admin_users = admin_users
        self._clock = clock
        self._cache_for = cache_for
        self._cache: dict[tuple[str, str], tuple[bool, datetime]] = {}
        self._asking: dict[tuple[str, str], asyncio.Task[bool]] = {}

    def known_decision(self, *, team_id: str, user_id: str) -> bool | None:
        """The answer without asking Slack, when there is one (the allow-list, or a recent users.info)."""
        if user_id in self._admin_users:
            return True
        cached = self._cache.get((team_id, user_id))
        if cached is not None and cached[1] > self._clock.now():
            return cached[0]
        return None

    async def may_administer(self, *, client: AsyncWebClient, team_id: str, user_id: str) -> bool:
        known = self.known_decision(team_id=team_id, user_id=user_id)
        if known is not None:
            return known
        # Commands that arrive together for the same user share one users.info call.
        key = (team_id, user_id)
        asking = self._asking.get(key)
        if asking is None:
            asking = self._asking[key] = asyncio.create_task(self._ask_slack(client=client, key=key))
            asking.add_done_callback(lambda _: self._asking.pop(key, None))
        return await asyncio.shield(asking)

    async def _ask_slack(self, *, client: AsyncWebClient, key: tuple[str, str]) -> bool:
        user_id = key[1]
        now = self._clock.now()
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError as exc:
            logger.warning("users.info failed for %s (%s); treating as not an admin", user_id,
                           exc.response.get("error"))
            return False
        user = response.get("user") or {}
        allowed = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        self._cache[key] = (allowed, now + self._cache_for)
        return allowed
