"""Bolt's `authorize`: which bot token and identity answer an incoming Slack request.

Single-workspace mode asks Slack once per process (`auth.test`); multi-workspace mode reads the workspace's
stored installation. Neither calls Slack per request, so acknowledgements wait on nothing remote.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from storage.database import Repositories, Store
from storage.installations import SlackInstallation

# Long enough that a burst of commands from one workspace reads its installation once, short enough that a
# reinstall's new token is used within seconds.
INSTALLATION_MEMORY_SECONDS = 5.0


class _WorkspaceAuthorize(AsyncAuthorize, ABC):
    """Bolt's calling convention for an `AsyncAuthorize`, reduced to what qc-bot answers by: the workspace.
    An instance rather than a plain function: Bolt inspects a function's parameters and builds its arguments on
    every request, which the acknowledgement pays for."""

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        return await self.answer(enterprise_id=enterprise_id, team_id=team_id)

    @abstractmethod
    async def answer(self, *, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None: ...


class SingleWorkspaceAuthorize(_WorkspaceAuthorize):
    """Bolt's `authorize` in single-workspace mode: one `auth.test`, shared by every request.

    Bolt's built-in single-workspace authorization calls `auth.test` for each request that arrives before its
    first answer, so a burst right after start-up would send Slack one call per request.
    """

    def __init__(self, *, client: AsyncWebClient) -> None:
        self._client = client
        self._answer: AuthorizeResult | None = None
        self._lock = asyncio.Lock()

    async def answer(self, *, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        if self._answer is None:
            async with self._lock:
                if self._answer is None:
                    self._answer = AuthorizeResult.from_auth_test_response(
                        auth_test_response=await self._client.auth_test(), bot_token=self._client.token)
        return self._answer


class InstallationAuthorize(_WorkspaceAuthorize):
    """Bolt's `authorize` for many workspaces: the workspace's stored installation, and nothing else.

    Bolt's default asks Slack (`auth.test`) on every request before the listener may acknowledge it; the
    installation already holds the bot's id, user and scopes, so the acknowledgement waits only on the
    database, and not even on that for `remember_for` seconds after a workspace's last lookup: an installation
    changes rarely (install, reinstall, uninstall, token rotation; Slack stops sending an uninstalled app's
    commands), while a busy workspace's commands would each pay a database round trip and a decryption. What
    is remembered holds the bot token in plaintext, so it is dropped as soon as it lapses, never kept longer;
    and at once when this process saves or deletes the workspace's installation (`forget`): other replicas
    follow within `remember_for`.
    """

    def __init__(self, *, store: Store, remember_for: float = INSTALLATION_MEMORY_SECONDS,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._remember_for = remember_for
        self._now = now
        self._remembered: OrderedDict[tuple[str | None, str | None], tuple[AuthorizeResult, float]] = OrderedDict()
        # Counts `forget` calls: a lookup that began before one may have read what was just deleted or replaced.
        self._forgotten = 0

    def forget(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Drop what is remembered of the workspace `team_id`, and of every workspace of the Enterprise Grid org
        `enterprise_id` (whose requests an org-wide installation answers); more than needed costs a read."""
        self._forgotten += 1
        for key in [key for key in self._remembered
                    if (team_id is not None and key[1] == team_id)
                    or (enterprise_id is not None and key[0] == enterprise_id)]:
            del self._remembered[key]

    async def answer(self, *, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        moment = self._now()
        while self._remembered and next(iter(self._remembered.values()))[1] <= moment:
            self._remembered.popitem(last=False)
        key = (enterprise_id, team_id)
        remembered = self._remembered.get(key)
        if remembered is not None:
            return remembered[0]

        def find(repos: Repositories) -> SlackInstallation | None:
            return (repos.installations.find(enterprise_id=enterprise_id, team_id=team_id)
                    or repos.installations.find(enterprise_id=enterprise_id, team_id=None,
                                                is_enterprise_install=True))

        forgotten = self._forgotten
        installation = await self._store.run(find)
        if installation is None:
            return None  # not remembered: an install that completes now serves its first command at once
        answer = AuthorizeResult(enterprise_id=installation.enterprise_id, team_id=installation.team_id,
                                 bot_token=installation.bot_token.reveal(), bot_id=installation.bot_id,
                                 bot_user_id=installation.bot_user_id, bot_scopes=list(installation.bot_scopes))
        if forgotten != self._forgotten:
            return answer  # served once, as read, and not remembered: it may be what was just forgotten
        self._remembered[key] = (answer, self._now() + self._remember_for)
        self._remembered.move_to_end(key)  # entries stay in the order they lapse
        return answer
