"""The Connect REST OAuth Usage resources of an External Client App: who holds its refresh tokens.

Salesforce documents an External Client App's OAuth usage as available only here (not in `OauthToken`):
`/apps/oauth/usage` (the apps, with their `identifier`), `/apps/oauth/usage/{appId}/users` and
`/apps/oauth/usage/{appId}/{userId}/tokens` (`initialConnectionAt`, `lastUsedAt`, `username`...). These
collections come in pages whose `nextPageUrl` is present on every page, the last included; following it
past the end gives an empty page. So paging stops on an empty page (or a missing or repeated URL), and
after `MAX_PAGES` pages at most: a misbehaving answer can cost requests, never a loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bot.salesforce.errors import SalesforceError
from bot.salesforce.rest import RestClient, parse_datetime

MAX_PAGES = 50
"""Pages of one collection read at most (Salesforce's default page holds 100 entries)."""

# A user entry's fields are not documented; these are the names it could carry the user id under.
_USER_ID_FIELDS = ("userIdentifier", "identifier", "userId", "id")


class UsageTooLarge(SalesforceError):
    """A collection still had entries after `MAX_PAGES` pages."""


@dataclass(frozen=True, kw_only=True)
class UsageToken:
    """One refresh token of the app, as its OAuth Usage shows it."""

    user_id: str
    username: str | None
    created_at: datetime
    """`initialConnectionAt`: when the refresh token was granted."""
    last_used_at: datetime | None
    """`lastUsedAt`: when it last issued an access token."""


class OAuthUsageClient:
    def __init__(self, *, rest: RestClient) -> None:
        self._rest = rest

    async def tokens(self, *, developer_name: str) -> list[UsageToken]:
        """Every refresh token of the External Client App `developer_name` (none when Salesforce does not list
        the app: nobody has used it yet)."""
        app_id = await self.app_identifier(developer_name)
        if app_id is None:
            return []
        app = quote(app_id, safe="")
        found: list[UsageToken] = []
        async for user in self._pages(f"/apps/oauth/usage/{app}/users", key="users", what="OAuth usage users"):
            user_id = next((user[field] for field in _USER_ID_FIELDS if isinstance(user.get(field), str)), None)
            if not user_id:
                continue
            async for entry in self._pages(f"/apps/oauth/usage/{app}/{quote(user_id, safe='')}/tokens",
                                           key="tokens", what="OAuth usage tokens"):
                token = _usage_token(entry, user_id=user_id)
                if token is not None:
                    found.append(token)
        return found

    async def delete_tokens(self, *, app_id: str, user_id: str | None = None) -> None:
        """Revoke the app's refresh tokens (204): every user's, or one user's."""
        app = quote(app_id, safe="")
        path = f"/apps/oauth/usage/{app}/tokens" if user_id is None else (
            f"/apps/oauth/usage/{app}/{quote(user_id, safe='')}/tokens")
        await self._rest.delete_resource(self._rest.base + path, what="OAuth usage tokens deletion")

    async def app_identifier(self, developer_name: str) -> str | None:
        async for app in self._pages("/apps/oauth/usage", key="apps", what="External Client App list"):
            if app.get("developerName") == developer_name and isinstance(app.get("identifier"), str):
                return str(app["identifier"])
        return None

    async def _pages(self, path: str, *, key: str, what: str) -> AsyncIterator[dict[str, Any]]:
        url: str | None = self._rest.base + path
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if url is None or url in seen:
                return
            seen.add(url)
            page = await self._rest.get(url, what=what)
            entries = page.get(key)
            if not isinstance(entries, list) or not entries:
                return
            for entry in entries:
                if isinstance(entry, dict):
                    yield entry
            next_url = page.get("nextPageUrl")
            # Only a path on the same instance is followed: a URL elsewhere would carry our token there.
            url = next_url if isinstance(next_url, str) and next_url.startswith("/services/") else None
        raise UsageTooLarge(f"The {what} still had entries after {MAX_PAGES} pages.")


def _usage_token(entry: dict[str, Any], *, user_id: str) -> UsageToken | None:
    created = _when(entry.get("initialConnectionAt"))
    if created is None:
        return None
    owner = entry.get("userIdentifier")
    username = entry.get("username")
    return UsageToken(user_id=owner if isinstance(owner, str) and owner else user_id,
                      username=username if isinstance(username, str) and username else None,
                      created_at=created, last_used_at=_when(entry.get("lastUsedAt")))


def _when(value: object) -> datetime | None:
    """A Connect REST time (`2026-11-28T15:46:10.000Z`); one in another ISO 8601 spelling is read too, and
    anything else counts as unknown rather than failing the whole read."""
    try:
        return parse_datetime(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
