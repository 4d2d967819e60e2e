"""An org's API session: instance URL plus an access token that is refreshed once when it expires."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.redaction import Secret
from bot.salesforce.errors import SessionExpired

T = TypeVar("T")
TokenRefresher = Callable[[], Awaitable[Secret]]


class OrgSession:
    def __init__(self, *, instance_url: str, access_token: Secret, refresh: TokenRefresher | None) -> None:
        self.instance_url = instance_url
        self._access_token = access_token
        self._refresh = refresh
        self._refresh_lock = asyncio.Lock()

    async def call(self, operation: Callable[[Secret], Awaitable[T]]) -> T:
        """Run `operation` with the access token; on `SessionExpired` refresh once and run it again."""
        token = self._access_token
        try:
            return await operation(token)
        except SessionExpired:
            if self._refresh is None:
                raise
            async with self._refresh_lock:
                if self._access_token is token:
                    self._access_token = await self._refresh()
            return await operation(self._access_token)
