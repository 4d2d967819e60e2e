"""Raw-HTTP helpers that drive a ``FakeSalesforce`` like a client would (for tests and demos).

Nothing here knows the fake's internals: requests are plain aiohttp calls with hand-built query
strings, form bodies, SOAP envelopes and zips.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

import aiohttp

from .metadata_rules import FOLDERS
from .schema import MD_NS, SOAP_ENV_NS

DEFAULT_OPTIONS = {
    "allowMissingFiles": "false",
    "autoUpdatePackage": "false",
    "checkOnly": "false",
    "ignoreWarnings": "false",
    "performRetrieve": "false",
    "purgeOnDelete": "false",
    "rollbackOnError": "true",
    "singlePackage": "true",
    "testLevel": "NoTestRun",
}


def basic_auth(client_id: str, client_secret: str) -> dict[str, str]:
    """An HTTP Basic ``Authorization`` header (RFC 6749 form-encodes both parts first)."""
    from urllib.parse import quote

    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def metadata_file(type_name: str, inner_xml: str) -> str:
    """A metadata document: ``inner_xml`` (child elements, in WSDL order) inside ``<type_name>``."""
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{type_name} xmlns="{MD_NS}">{inner_xml}</{type_name}>\n'


def package_xml(members: Mapping[str, Iterable[str]], version: str = "63.0") -> str:
    types = "".join(
        "<types>" + "".join(f"<members>{escape(m)}</members>" for m in names) + f"<name>{t}</name></types>"
        for t, names in members.items()
    )
    return metadata_file("Package", f"{types}<version>{version}</version>")


def build_zip(
    components: Mapping[tuple[str, str], str],
    *,
    package: str | None = None,
    extra_files: Mapping[str, str | bytes] | None = None,
    root: str = "",
) -> bytes:
    """An mdapi zip: ``{(type, fullName): xml}`` plus a matching package.xml (unless given).

    ``root`` (e.g. ``"unpackaged/"``) puts everything under one folder, for ``singlePackage=false``.
    """
    members: dict[str, list[str]] = {}
    for type_name, name in components:
        members.setdefault(type_name, []).append(name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{root}package.xml", package if package is not None else package_xml(members))
        for (type_name, name), xml in components.items():
            folder, suffix = FOLDERS[type_name]
            archive.writestr(f"{root}{folder}/{name}.{suffix}", xml)
        for path, data in (extra_files or {}).items():
            archive.writestr(path, data)
    return buf.getvalue()


def envelope(session_id: str | None, body_xml: str) -> str:
    header = (
        f"<soapenv:Header><met:SessionHeader><met:sessionId>{escape(session_id)}</met:sessionId>"
        "</met:SessionHeader></soapenv:Header>"
        if session_id is not None
        else ""
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" '
        f'xmlns:met="{MD_NS}">{header}<soapenv:Body>{body_xml}</soapenv:Body></soapenv:Envelope>'
    )


def deploy_body(zip_bytes: bytes, **options: str) -> str:
    opts = {**DEFAULT_OPTIONS, **options}
    inner = "".join(f"<met:{k}>{v}</met:{k}>" for k, v in opts.items())
    return (
        f"<met:deploy><met:ZipFile>{base64.b64encode(zip_bytes).decode()}</met:ZipFile>"
        f"<met:DeployOptions>{inner}</met:DeployOptions></met:deploy>"
    )


def first(pattern: str, text: str) -> str | None:
    m = re.search(pattern, text, re.S)
    return m.group(1) if m else None


@dataclass
class SoapReply:
    status: int
    text: str
    raw: bytes

    @property
    def fault(self) -> str | None:
        return first(r"<faultcode>(.*?)</faultcode>", self.text)

    @property
    def faultstring(self) -> str | None:
        return first(r"<faultstring>(.*?)</faultstring>", self.text)


@dataclass
class Tokens:
    access_token: str
    instance_url: str
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def refresh_token(self) -> str | None:
        return self.raw.get("refresh_token")


class SalesforceDriver:
    """A tiny client for the fake: OAuth web server flow, REST, SOAP Metadata API."""

    def __init__(
        self, session: aiohttp.ClientSession, *, client_id: str, client_secret: str, redirect_uri: str
    ) -> None:
        self.session = session
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri

    async def authorize(self, host: str, **params: str) -> aiohttp.ClientResponse:
        query = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri}
        query.update(params)
        async with self.session.get(
            f"{host}/services/oauth2/authorize", params=query, allow_redirects=False
        ) as resp:
            await resp.read()
            return resp

    async def token(self, host: str, data: Mapping[str, str], **kwargs: Any) -> tuple[int, dict[str, Any]]:
        async with self.session.post(f"{host}/services/oauth2/token", data=dict(data), **kwargs) as resp:
            return resp.status, await resp.json(content_type=None)

    async def login(self, host: str, *, scope: str = "api refresh_token") -> Tokens:
        """Full web server flow with PKCE; raises AssertionError on any refusal."""
        verifier, challenge = pkce_pair()
        resp = await self.authorize(
            host, scope=scope, state="s1", code_challenge=challenge, code_challenge_method="S256"
        )
        assert resp.status == 302, resp.status
        query = parse_qs(urlparse(resp.headers["Location"]).query)
        assert "code" in query, query
        status, body = await self.token(
            host,
            {
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            },
        )
        assert status == 200, body
        return Tokens(body["access_token"], body["instance_url"], body)

    async def rest(
        self,
        instance_url: str,
        access_token: str,
        path: str,
        *,
        version: str = "63.0",
        params: Mapping[str, str] | None = None,
        method: str = "GET",
        json: Any = None,
    ) -> tuple[int, Any]:
        url = f"{instance_url}/services/data/v{version}/{path.lstrip('/')}"
        async with self.session.request(
            method, url, params=params, json=json, headers={"Authorization": f"Bearer {access_token}"}
        ) as resp:
            if resp.status == 204:
                return resp.status, None
            return resp.status, await resp.json(content_type=None)

    async def query(self, instance_url: str, access_token: str, soql: str) -> tuple[int, Any]:
        return await self.rest(instance_url, access_token, "query", params={"q": soql})

    async def soap(
        self,
        instance_url: str,
        session_id: str | None,
        body_xml: str,
        *,
        version: str = "63.0",
        suffix: str = "",
        content_type: str = "text/xml; charset=utf-8",
        soap_action: str = '""',
    ) -> SoapReply:
        url = f"{instance_url}/services/Soap/m/{version}{suffix}"
        headers = {"Content-Type": content_type, "SOAPAction": soap_action}
        async with self.session.post(
            url, data=envelope(session_id, body_xml).encode(), headers=headers
        ) as resp:
            raw = await resp.read()
            return SoapReply(resp.status, raw.decode(), raw)

    async def deploy(self, instance_url: str, session_id: str, zip_bytes: bytes, **options: str) -> str:
        reply = await self.soap(instance_url, session_id, deploy_body(zip_bytes, **options))
        deploy_id = first(r"<id>(\w+)</id>", reply.text)
        assert reply.status == 200 and deploy_id, reply.text
        return deploy_id

    async def check_status(
        self, instance_url: str, session_id: str, deploy_id: str, include_details: bool = True
    ) -> SoapReply:
        body = (
            f"<met:checkDeployStatus><met:asyncProcessId>{deploy_id}</met:asyncProcessId>"
            f"<met:includeDetails>{'true' if include_details else 'false'}</met:includeDetails>"
            "</met:checkDeployStatus>"
        )
        return await self.soap(instance_url, session_id, body)

    async def wait_deploy(
        self, instance_url: str, session_id: str, deploy_id: str, *, deadline_s: float = 5.0
    ) -> SoapReply:
        """Poll checkDeployStatus until done (each poll advances the fake; no sleeping)."""
        end = time.monotonic() + deadline_s
        while True:
            reply = await self.check_status(instance_url, session_id, deploy_id)
            assert reply.status == 200, reply.text
            if "<done>true</done>" in reply.text:
                return reply
            assert time.monotonic() < end, "deploy did not finish before the deadline"

    async def deploy_and_wait(
        self, instance_url: str, session_id: str, zip_bytes: bytes, **options: str
    ) -> SoapReply:
        deploy_id = await self.deploy(instance_url, session_id, zip_bytes, **options)
        return await self.wait_deploy(instance_url, session_id, deploy_id)

    async def read_metadata(
        self, instance_url: str, session_id: str, type_name: str, names: Iterable[str]
    ) -> SoapReply:
        inner = "".join(f"<met:fullNames>{escape(n)}</met:fullNames>" for n in names)
        body = f"<met:readMetadata><met:type>{type_name}</met:type>{inner}</met:readMetadata>"
        return await self.soap(instance_url, session_id, body)


def soap_response_problems(fake: Any) -> list[str]:
    """Schema problems of every SOAP response the fake sent (empty without the WSDL)."""
    if fake.schema is None:
        return []
    problems = list(fake.schema_violations)
    for record in fake.requests:
        if record.path.startswith("/services/Soap/") and record.status == 200:
            problems += [f"{record.operation}: {e}" for e in fake.schema.check_body(record.response_body)]
    return problems
