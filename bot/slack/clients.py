"""Slack Web API clients: whom the bot speaks as in each workspace, with one retry policy for every call.

Single-workspace mode has one bot token; multi-workspace mode takes each workspace's token from its stored
installation. `ResponseUrlReply` answers a request through its response_url with the same retries.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.config import Settings
from bot.redaction import Secret
from bot.retry import Backoff
from storage.database import Store

logger = logging.getLogger(__name__)


def slack_retry_handlers(
    policy: Backoff, *, connection_errors: int = 2, rate_limits: int = 3, server_errors: int = 2
) -> list[AsyncRetryHandler]:
    """Retries for every Web API client, waiting on `policy`: dropped connections, 429 (honouring
    Retry-After) and 5xx, each up to the number of retries given (0: not retried)."""
    intervals = PolicyIntervals(policy)
    handlers: list[AsyncRetryHandler] = []
    if connection_errors:
        handlers.append(AsyncConnectionErrorRetryHandler(max_retry_count=connection_errors,
                                                         interval_calculator=intervals))
    if rate_limits:
        handlers.append(RateLimitRetry(policy, max_retry_count=rate_limits))
    if server_errors:
        handlers.append(AsyncServerErrorRetryHandler(max_retry_count=server_errors, interval_calculator=intervals))
    return handlers


class PolicyIntervals(RetryIntervalCalculator):
    """slack_sdk's retry waits taken from our policy, jitter included. (slack_sdk's own default adds up to a
    second of random jitter to every wait, which no timing of ours could turn off.)"""

    def __init__(self, policy: Backoff) -> None:
        self.policy = policy

    def calculate_sleep_duration(self, current_attempt: int) -> float:
        return self.policy.delay(current_attempt)


class RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """429: wait as long as Slack's Retry-After asks, lengthened only by our policy's jitter (slack_sdk's own
    handler always adds up to a second); without the header, the policy's delay."""

    def __init__(self, policy: Backoff, *, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count, interval_calculator=PolicyIntervals(policy))
        self.policy = policy

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error or RuntimeError("a rate-limit retry without a response")
        state.next_attempt_requested = True
        retry_after = _retry_after_seconds(response)
        await asyncio.sleep(self.policy.delay(state.current_attempt) if retry_after is None
                            else self.policy.at_least(retry_after))
        state.increment_current_attempt()


def _retry_after_seconds(response: HttpResponse) -> float | None:
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) and values else values
            try:
                return max(float(str(value)), 0.0)
            except ValueError:
                return None
    return None


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
