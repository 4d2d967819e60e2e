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


@dataclass(frozen=True)
class EcaConsumer:
    """An External Client App's OAuth consumer as Connect REST lists it."""

    app_id: str
    url: str
    """`/services/data/vNN.0/apps/oauth/credentials/<appId>/<consumerId>`."""
    key: str | None
    staged_url: str | None
    """Its staged credentials (API 65.0+)."""


@dataclass(frozen=True)
class StagedCredentials:
    """The consumer's one staged set: new credentials (`Active`), or the former ones a rotation left behind
    (`Rotated`, valid until `expires_at`), or `Expired`."""

    url: str
    key: Secret
    secret: Secret | None
    state: str
    expires_at: datetime | None


STAGED_API_VERSION = "65.0"
"""Staged credentials exist from API 65.0 (Winter '26); everything else stays on the pinned version."""


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
        """Key and secret of an External Client App through Connect REST, or None when the org lists no such app.

        usage → the app's identifier; credentials → its consumer; the consumer's `?part=key`, then `?part=secret`.
        The secret counts only if the key read before it is still the consumer's key afterwards, so it is known
        to belong to the org's current key. Needs the org setting "Allow access to External Client App consumer
        secrets via REST API" and the External Client App user permissions; a refusal raises `SalesforceError`
        with Salesforce's code and text.
        """
        consumer = await self.eca_consumer(developer_name=developer_name)
        if consumer is None:
            return None
        consumer_path = consumer.url
        key = (await self._get(f"{consumer_path}?part=key", what="External Client App credentials")).get("key")
        if not isinstance(key, str) or not key:
            return None
        secret = (await self._get(f"{consumer_path}?part=secret", what="External Client App credentials")).get("secret")
        key_after = (await self._get(f"{consumer_path}?part=key", what="External Client App credentials")).get("key")
        if key_after != key or not isinstance(secret, str) or not secret:
            # Rotated between the reads: the secret cannot be matched to a key.
            return AppCredentials(Secret(key_after) if isinstance(key_after, str) and key_after else Secret(key), None)
        return AppCredentials(Secret(key), Secret(secret))

    async def eca_consumer(self, *, developer_name: str) -> EcaConsumer | None:
        """The External Client App's consumer (usage → the app's identifier → its first consumer), or None when
        the org lists no such app."""
        usage = await self._get(f"{self._base}/apps/oauth/usage", what="External Client App list")
        app_id = next(
            (app.get("identifier") for app in usage.get("apps", []) if app.get("developerName") == developer_name),
            None,
        )
        if not app_id:
            return None
        app_path = f"{self._base}/apps/oauth/credentials/{quote(str(app_id))}"
        consumers = await self._get(app_path, what="External Client App credentials")
        consumer = next(iter(consumers.get("consumers", [])), None)
        if not consumer or not consumer.get("id"):
            return None
        staged = consumer.get("stagedCredentialsUrl")
        return EcaConsumer(app_id=str(app_id), url=f"{app_path}/{quote(str(consumer['id']))}",
                           key=consumer.get("key") if isinstance(consumer.get("key"), str) else None,
                           staged_url=staged if isinstance(staged, str) and staged.startswith("/services/") else None)

    async def staged_credentials(self, staged_url: str) -> list[StagedCredentials]:
        payload = await self._get(staged_url, what="staged credentials")
        return [_staged(entry) for entry in payload.get("stagedCredentials", []) if isinstance(entry, dict)]

    async def stage_credentials(self, staged_url: str) -> StagedCredentials:
        """New credentials in the consumer's staged slot. The body is `{}`: an empty POST is reported to hang."""
        payload = await self._send("POST", staged_url, what="staged credentials", json_body={}) or {}
        entries = [entry for entry in payload.get("stagedCredentials", []) if isinstance(entry, dict)]
        if not entries:
            raise SalesforceError("Salesforce staged credentials but returned none.")
        return _staged(entries[0])

    async def promote_staged(self, url: str) -> None:
        """`rotate`: the staged set becomes the consumer's key and secret; the former ones take the staged slot.
        Never repeated on a lost answer: a second `rotate` would promote the former set back."""
        await self._send("PATCH", url, what="credentials rotation", json_body={"command": "rotate"})

    async def delete_staged(self, url: str) -> None:
        """End a staged set at once (for a `Rotated` one: the former credentials stop working)."""
        try:
            await self.delete_resource(url, what="staged credentials deletion")
        except SalesforceError as exc:
            if exc.code != "NOT_FOUND":
                raise

    async def create(self, sobject: str, fields: dict[str, Any]) -> str:
        """Insert one record (`POST /sobjects/<type>`); returns its id."""
        payload = await self._send("POST", f"{self._base}/sobjects/{sobject}", what=f"{sobject} insert",
                                   json_body=fields)
        record_id = payload.get("id") if payload else None
        if not isinstance(record_id, str) or not record_id:
            raise SalesforceError(f"Salesforce created the {sobject} but returned no id.")
        return record_id

    async def delete(self, sobject: str, record_id: str) -> None:
        """Delete one record (`DELETE /sobjects/<type>/<id>`); one already gone counts as deleted."""
        try:
            await self._send("DELETE", f"{self._base}/sobjects/{sobject}/{quote(record_id)}", what=f"{sobject} delete")
        except SalesforceError as exc:
            if exc.code not in ("NOT_FOUND", "ENTITY_IS_DELETED"):
                raise

    @property
    def base(self) -> str:
        """`/services/data/vNN.0`: where the resources of the pinned API version live."""
        return self._base

    async def get(self, path: str, *, what: str) -> dict[str, Any]:
        """A REST resource by its path on the instance (`/services/data/...`), as JSON."""
        return await self._get(path, what=what)

    async def delete_resource(self, path: str, *, what: str) -> None:
        """DELETE a REST resource by its path on the instance (`/services/data/...`)."""
        await self._send("DELETE", path, what=what)

    async def _get(self, path: str, *, what: str) -> dict[str, Any]:
        return await self._send("GET", path, what=what) or {}

    async def _send(
        self, method: str, path: str, *, what: str, json_body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        async def send(token: Secret) -> dict[str, Any] | None:
            headers = {"Authorization": f"Bearer {token.reveal()}", "Accept": "application/json"}
            data = None
            if json_body is not None:
                headers["Content-Type"] = "application/json"
                data = json.dumps(json_body).encode()
            response = await self._http.request(method, self._session.instance_url + path, what=what,
                                                headers=headers, data=data,
                                                idempotent=method in ("GET", "DELETE"))
            if response.status == 204:
                return None
            return _rest_payload(response, what=what)

        return await self._session.call(send)


def _staged(entry: dict[str, Any]) -> StagedCredentials:
    secret = entry.get("secret")
    return StagedCredentials(url=str(entry.get("url") or ""), key=Secret(str(entry.get("key") or "")),
                             secret=Secret(secret) if isinstance(secret, str) and secret else None,
                             state=str(entry.get("state") or ""),
                             expires_at=parse_datetime(entry.get("expirationDate")))


def _rest_payload(response: HttpResponse, *, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(response.body) if response.body else {}
    except ValueError:
        payload = {}
    if response.status in (200, 201) and isinstance(payload, dict):
        return payload
    errors = payload if isinstance(payload, list) else [payload]
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    code = first.get("errorCode")
    message = first.get("message") or f"HTTP {response.status}"
    if code == "INVALID_SESSION_ID" or response.status == 401:
        raise SessionExpired(str(message))
    raise SalesforceError(f"The {what} request failed: {message}", code=code)
