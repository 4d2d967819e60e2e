"""HTTP to Salesforce: host check before every request, timeouts, and bounded retries with backoff.

This is the one layer that retries a request Salesforce did not answer (no connection, a timeout, a dropped
connection, a bare 5xx); it gives up with `SalesforceUnavailable` once the policy's deadline would pass,
and no layer above retries that again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from bot.retry import Backoff
from bot.salesforce.errors import SalesforceError, SalesforceUnavailable
from bot.salesforce.hosts import HostPolicy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def retry_server_errors(response: HttpResponse) -> bool:
    return response.status in (500, 502, 503, 504)


class SalesforceHttp:
    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        host_policy: HostPolicy,
        retry: Backoff,
        timeout_seconds: float = 30.0,
    ) -> None:
        self._session = session
        self._hosts = host_policy
        self._retry = retry
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    @property
    def host_policy(self) -> HostPolicy:
        return self._hosts

    async def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        data: bytes | str | Mapping[str, str] | None = None,
        idempotent: bool = True,
        retry_on: Callable[[HttpResponse], bool] = retry_server_errors,
    ) -> HttpResponse:
        """Send one request, retrying transient failures until the backoff deadline.

        A request that is not `idempotent` (a code exchange, a deploy) is retried only when it
        certainly never reached Salesforce (the connection could not be opened).
        """
        self._hosts.require_salesforce_url(url, what=what)
        attempts = self._retry.start()
        shown_url = _without_query(url)
        while True:
            problem: str
            try:
                async with self._session.request(
                    method, url, headers=headers, data=data, timeout=self._timeout, allow_redirects=False
                ) as raw:
                    response = HttpResponse(raw.status, dict(raw.headers), await raw.read())
                logger.debug("Salesforce %s %s -> %s", method, shown_url, response.status)
                if not (idempotent and retry_on(response)):
                    return response
                problem = f"HTTP {response.status}"
            except aiohttp.ClientConnectorError as exc:
                problem = f"cannot connect ({exc.__class__.__name__})"
            except (TimeoutError, aiohttp.ClientError) as exc:
                if not idempotent:
                    # It may have reached Salesforce: not sent again here. Transient, so that a caller able to
                    # check what happened first (the journey reads the org again) may start over.
                    raise SalesforceError(
                        f"Salesforce did not answer the {what} request ({exc.__class__.__name__}).", transient=True
                    ) from exc
                problem = f"no answer ({exc.__class__.__name__})"
            delay = attempts.next_delay()
            if delay is None:
                raise SalesforceUnavailable(f"Salesforce kept failing the {what} request: {problem}.")
            logger.info("Retrying Salesforce %s %s in %.1fs after %s", method, shown_url, delay, problem)
            await asyncio.sleep(delay)


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
