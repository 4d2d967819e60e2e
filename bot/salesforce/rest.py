"""The REST API: SOQL queries and the Connect REST OAuth credential resources of External Client Apps."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from bot.redaction import Secret
from bot.salesforce.errors import SalesforceError, SessionExpired
from bot.salesforce.http import HttpResponse, SalesforceHttp
from bot.salesforce.metadata import API_VERSION
from bot.salesforce.session import OrgSession


def soql_string(value: str) -> str:
    """`value` as a quoted SOQL string literal (backslashes and quotes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_datetime(value: object) -> datetime | None:
    """A REST datetime such as `2026-11-28T15:46:10.000+0000` (None stays None)."""
    if not isinstance(value, str) or not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


@dataclass(frozen=True)
class AppCredentials:
    consumer_key: Secret
    consumer_secret: Secret | None


class RestClient:
    def __init__(self, *, http: SalesforceHttp, session: OrgSession, api_version: str = API_VERSION) -> None:
        self._http = http
        self._session = session
        self._base = f"/services/data/v{api_version}"

    async def query(self, soql: str) -> list[dict[str, Any]]:
        """Every record of a SOQL query, following `nextRecordsUrl` (Salesforce answers in batches)."""
        payload = await self._get(f"{self._base}/query?{urlencode({'q': soql})}", what="SOQL query")
        records: list[dict[str, Any]] = []
        while True:
            batch = payload.get("records")
            records += batch if isinstance(batch, list) else []
            next_url = payload.get("nextRecordsUrl")
            if payload.get("done", True) or not isinstance(next_url, str) or not next_url.startswith("/services/"):
                return records
            payload = await self._get(next_url, what="SOQL query")

    async def external_client_app_credentials(self, *, developer_name: str) -> AppCredentials | None:
        """Key and secret of an External Client App through Connect REST (`/apps/oauth/...`), or None.

        Needs the org setting "Allow access to External Client App consumer secrets via REST API" and
        the user permission to view client secrets; a refusal raises `SalesforceError` with Salesforce's text.
        """
        usage = await self._get(f"{self._base}/apps/oauth/usage", what="External Client App list")
        app_id = next(
            (app.get("identifier") for app in usage.get("apps", []) if app.get("developerName") == developer_name),
            None,
        )
        if not app_id:
            return None
        consumers = await self._get(f"{self._base}/apps/oauth/credentials/{quote(str(app_id))}",
                                    what="External Client App credentials")
        consumer = next(iter(consumers.get("consumers", [])), None)
        if not consumer or not consumer.get("id"):
            return None
        detail = await self._get(
            f"{self._base}/apps/oauth/credentials/{quote(str(app_id))}/{quote(str(consumer['id']))}"
            "?part=keyandsecret",
            what="External Client App credentials",
        )
        key, secret = detail.get("key"), detail.get("secret")
        if not isinstance(key, str) or not key:
            return None
        return AppCredentials(Secret(key), Secret(secret) if isinstance(secret, str) and secret else None)

    @property
    def base(self) -> str:
        """`/services/data/vNN.0`: where the resources of the pinned API version live."""
        return self._base

    async def get(self, path: str, *, what: str) -> dict[str, Any]:
        """A REST resource by its path on the instance (`/services/data/...`), as JSON."""
        return await self._get(path, what=what)

    async def _get(self, path: str, *, what: str) -> dict[str, Any]:
        async def send(token: Secret) -> dict[str, Any]:
            response = await self._http.request(
                "GET", self._session.instance_url + path, what=what,
                headers={"Authorization": f"Bearer {token.reveal()}", "Accept": "application/json"},
            )
            return _rest_payload(response, what=what)

        return await self._session.call(send)


def _rest_payload(response: HttpResponse, *, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(response.body) if response.body else {}
    except ValueError:
        payload = {}
    if response.status == 200 and isinstance(payload, dict):
        return payload
    errors = payload if isinstance(payload, list) else [payload]
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    code = first.get("errorCode")
    message = first.get("message") or f"HTTP {response.status}"
    if code == "INVALID_SESSION_ID" or response.status == 401:
        raise SessionExpired(str(message))
    raise SalesforceError(f"The {what} request failed: {message}", code=code)
