"""Slack Web API clients: whom the bot speaks as in each workspace, with one retry policy for every call.

Single-workspace mode has one bot token; multi-workspace mode takes each workspace's token from its stored
installation. `ResponseUrlReply` answers a request through its response_url with the same retries.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.config import Settings
from bot.redaction import Secret
from storage.database import Store

logger = logging.getLogger(__name__)


def slack_retry_handlers(*, backoff_factor: float = 0.5) -> list[AsyncRetryHandler]:
    """Retries for every Web API client: connection errors, 429 (honouring Retry-After) and 5xx."""
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff_factor)
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=interval),
        AsyncRateLimitErrorRetryHandler(max_retry_count=3, interval_calculator=interval),
        AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=interval),
    ]


class ResponseUrlReply:
    """`respond()` for a listener: posts to the request's response_url through the app's shared HTTP session
    and the same retry handlers as every Web API client (Bolt's own respond opens a new session per call
    and does not retry)."""

    def __init__(self, *, response_url: str, session: aiohttp.ClientSession,
                 retry_handlers: list[AsyncRetryHandler]) -> None:
        self._response_url = response_url
        self._session = session
        self._retry_handlers = retry_handlers

    async def __call__(
        self,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        response_type: str = "ephemeral",
        replace_original: bool | None = None,
    ) -> None:
        # Built on first use: most requests are answered in their acknowledgement and never reply here.
        client = AsyncWebhookClient(url=self._response_url, session=self._session,
                                    retry_handlers=self._retry_handlers)
        response = await client.send(text=text, blocks=blocks, response_type=response_type,
                                     replace_original=replace_original)
        if response.status_code != 200:
            # An expired or overused response_url (5 uses, 30 minutes) is not worth failing the request.
            logger.warning("Slack refused a response_url reply (HTTP %s: %s)", response.status_code, response.body)


class WorkspaceNotInstalled(Exception):
    """No bot token serves this Slack workspace (never installed, uninstalled, or its token was revoked)."""


class SlackClients(Protocol):
    async def for_team(self, team_id: str) -> AsyncWebClient:
        """A Web API client with the workspace's bot token; raises `WorkspaceNotInstalled` if there is none."""
        ...


class SingleWorkspaceClients:
    """Single-workspace mode: one bot token for everything."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def for_team(self, team_id: str) -> AsyncWebClient:
        return self.client


class InstalledWorkspaceClients:
    """`SlackClients` for the outbox: a client with the bot token of the workspace a message belongs to."""

    def __init__(self, *, store: Store, template: AsyncWebClient) -> None:
        self._store = store
        self._template = template

    async def for_team(self, team_id: str) -> AsyncWebClient:
        installation = await self._store.run(lambda repos: repos.installations.for_team(team_id))
        if installation is None:
            raise WorkspaceNotInstalled(team_id)
        return client_with_token(self._template, installation.bot_token)


def client_with_token(template: AsyncWebClient, token: Secret) -> AsyncWebClient:
    """A client like `template` (API URL, HTTP session, timeout, retries) that calls Slack as `token`."""
    return AsyncWebClient(token=token.reveal(), base_url=template.base_url, session=template.session,
                          timeout=template.timeout, retry_handlers=list(template.retry_handlers))


def outbox_clients(*, settings: Settings, store: Store, template: AsyncWebClient) -> SlackClients:
    """Whom the outbox posts as: each installed workspace's own bot token, or the one configured token."""
    if settings.multi_workspace or settings.slack_bot_token is None:
        return InstalledWorkspaceClients(store=store, template=template)
    return SingleWorkspaceClients(client_with_token(template, settings.slack_bot_token))
