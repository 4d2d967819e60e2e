"""Who may connect and disconnect orgs (SPEC §3): Slack workspace admins and owners, plus `QC_ADMIN_USERS`."""

from __future__ import annotations

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
        now = self._clock.now()
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError as exc:
            logger.warning("users.info failed for %s (%s); treating as not an admin", user_id,
                           exc.response.get("error"))
            return False
        user = response.get("user") or {}
        allowed = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        self._cache[(team_id, user_id)] = (allowed, now + self._cache_for)
        return allowed
