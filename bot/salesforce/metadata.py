"""The Metadata API over SOAP, version pinned: `readMetadata`, `deleteMetadata`, `deploy` and
`checkDeployStatus` polling.

Components are described as ordered fields (`MetadataComponent`), rendered into mdapi-format files
(`<folder>/<name>.<suffix>` plus `package.xml`) and deployed as one zip; the element order of every
generated document follows the WSDL's sequences, which Salesforce validates.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape

from bot.redaction import Secret
from bot.retry import Backoff
from bot.salesforce.errors import DeployFailed, SalesforceError, SalesforceUnavailable, SessionExpired
from bot.salesforce.http import HttpResponse, SalesforceHttp
from bot.salesforce.session import OrgSession

logger = logging.getLogger(__name__)

API_VERSION = "63.0"
METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

# Metadata type → (mdapi folder, file suffix).
COMPONENT_FILES: dict[str, tuple[str, str]] = {
    "ConnectedApp": ("connectedApps", "connectedApp"),
    "ExternalClientApplication": ("externalClientApps", "eca"),
    "ExtlClntAppOauthSettings": ("extlClntAppOauthSettings", "ecaOauth"),
    "ExtlClntAppGlobalOauthSettings": ("extlClntAppGlobalOauthSets", "ecaGlblOauth"),
    "ExtlClntAppOauthConfigurablePolicies": ("extlClntAppOauthPolicies", "ecaOauthPlcy"),
    "ExtlClntAppConfigurablePolicies": ("extlClntAppPolicies", "ecaPlcy"),
    "Settings": ("settings", "settings"),
    "PermissionSet": ("permissionsets", "permissionset"),
}

_LIST_QUERIES = 3

FieldValue = str | bool | int | Secret | list["FieldValue"] | list[tuple[str, "FieldValue"]]


@dataclass(frozen=True, kw_only=True)
class FileProperties:
    """One component as `listMetadata` describes it."""

    type_name: str
    full_name: str
    last_modified_by: str | None
    last_modified_at: datetime | None


@dataclass(frozen=True)
class MetadataComponent:
    """One metadata component: its type, API name and child elements in WSDL sequence order."""

    type_name: str
    full_name: str
    fields: list[tuple[str, FieldValue]]

    @property
    def path(self) -> str:
        folder, suffix = COMPONENT_FILES[self.type_name]
        return f"{folder}/{self.full_name}.{suffix}"

    @property
    def document_type(self) -> str:
        """The root element: the type, except for `Settings`, whose member `X` is an `XSettings` document."""
        return self.full_name + "Settings" if self.type_name == "Settings" else self.type_name

    def to_xml(self) -> bytes:
        body = "".join(_render(name, value) for name, value in self.fields)
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<{self.document_type} xmlns="{METADATA_NS}">{body}'
            f"</{self.document_type}>\n"
        ).encode()


def package_xml(components: Sequence[MetadataComponent], *, api_version: str = API_VERSION) -> bytes:
    types: dict[str, list[str]] = {}
    for component in components:
        types.setdefault(component.type_name, []).append(component.full_name)
    entries = "".join(
        "<types>" + "".join(f"<members>{escape(member)}</members>" for member in sorted(members))
        + f"<name>{type_name}</name></types>"
        for type_name, members in sorted(types.items())
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Package xmlns="{METADATA_NS}">{entries}'
        f"<version>{api_version}</version></Package>\n"
    ).encode()


def deploy_zip(components: Sequence[MetadataComponent], *, api_version: str = API_VERSION) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("package.xml", package_xml(components, api_version=api_version))
        for component in components:
            archive.writestr(component.path, component.to_xml())
    return buffer.getvalue()


def _render(name: str, value: FieldValue) -> str:
    if isinstance(value, list):
        if value and isinstance(value[0], tuple):
            inner = "".join(_render(child, child_value) for child, child_value in value)
            return f"<{name}>{inner}</{name}>"
        return "".join(_render(name, item) for item in value)  # type: ignore[arg-type]
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Secret):
        text = escape(value.reveal())
    else:
        text = escape(str(value))
    return f"<{name}>{text}</{name}>"


@dataclass(frozen=True)
class ComponentFailure:
    component_type: str
    full_name: str
    problem: str

    def readable(self) -> str:
        return f"{self.component_type} {self.full_name}: {self.problem}"


@dataclass(frozen=True)
class DeployResult:
    deploy_id: str
    done: bool
    status: str
    success: bool
    error_status_code: str | None = None
    error_message: str | None = None
    failures: list[ComponentFailure] = field(default_factory=list)

    def readable_failures(self) -> list[str]:
        lines = [failure.readable() for failure in self.failures]
        if self.error_message or self.error_status_code:
            lines.insert(0, f"{self.error_status_code or 'Error'}: {self.error_message or 'the deploy failed'}")
        return lines


@dataclass(frozen=True)
class DeleteResult:
    full_name: str
    success: bool
    status_code: str | None = None
    message: str | None = None

    @property
    def already_gone(self) -> bool:
        """Salesforce's answer for a name that does not exist (`no <Type> named <name> found`)."""
        return not self.success and self.status_code == "INVALID_CROSS_REFERENCE_KEY"


class MetadataClient:
    def __init__(self, *, http: SalesforceHttp, session: OrgSession, api_version: str = API_VERSION) -> None:
        self._http = http
        self._session = session
        self._api_version = api_version

    async def read(self, type_name: str, full_names: Sequence[str]) -> dict[str, ET.Element]:
        """`readMetadata`: the records that exist, by full name (missing names are simply absent)."""
        names = "".join(f"<met:fullNames>{escape(name)}</met:fullNames>" for name in full_names)
        body = await self._call(f"<met:readMetadata><met:type>{type_name}</met:type>{names}</met:readMetadata>")
        records: dict[str, ET.Element] = {}
        for record in body.iter(f"{{{METADATA_NS}}}records"):
            if record.get(f"{{{XSI_NS}}}nil") == "true":
                continue
            full_name = record.findtext(f"{{{METADATA_NS}}}fullName")
            if full_name:
                records[full_name] = record
        return records

    async def list_names(self, type_name: str) -> list[str]:
        """`listMetadata`: the full names of every component of one type."""
        return [properties.full_name for properties in await self.list_properties([type_name])]

    async def list_properties(self, type_names: Sequence[str]) -> list[FileProperties]:
        """`listMetadata`: every component of these types, with who changed each last and when (three types per
        call, the most one call takes)."""
        found: list[FileProperties] = []
        for start in range(0, len(type_names), _LIST_QUERIES):
            queries = "".join(f"<met:queries><met:type>{escape(type_name)}</met:type></met:queries>"
                              for type_name in type_names[start:start + _LIST_QUERIES])
            body = await self._call(
                f"<met:listMetadata>{queries}<met:asOfVersion>{self._api_version}</met:asOfVersion></met:listMetadata>")
            for result in body.iter(f"{{{METADATA_NS}}}result"):
                name = result.findtext(f"{{{METADATA_NS}}}fullName")
                if name:
                    found.append(FileProperties(
                        type_name=result.findtext(f"{{{METADATA_NS}}}type") or "", full_name=name,
                        last_modified_by=result.findtext(f"{{{METADATA_NS}}}lastModifiedByName") or None,
                        last_modified_at=_xsd_datetime(result.findtext(f"{{{METADATA_NS}}}lastModifiedDate"))))
        return found

    async def delete(self, type_name: str, full_names: Sequence[str]) -> list[DeleteResult]:
        """`deleteMetadata` (CRUD, synchronous): one result per name. Safe to retry: a name deleted by an
        earlier attempt comes back as `already_gone`."""
        names = "".join(f"<met:fullNames>{escape(name)}</met:fullNames>" for name in full_names)
        body = await self._call(f"<met:deleteMetadata><met:type>{type_name}</met:type>{names}</met:deleteMetadata>")
        results = []
        for result in body.iter(f"{{{METADATA_NS}}}result"):
            error = result.find(f"{{{METADATA_NS}}}errors")
            results.append(DeleteResult(
                full_name=result.findtext(f"{{{METADATA_NS}}}fullName") or "",
                success=(result.findtext(f"{{{METADATA_NS}}}success") or "false").lower() == "true",
                status_code=error.findtext(f"{{{METADATA_NS}}}statusCode") if error is not None else None,
                message=error.findtext(f"{{{METADATA_NS}}}message") if error is not None else None,
            ))
        return results

    async def deploy(
        self,
        components: Sequence[MetadataComponent],
        *,
        poll: Backoff,
        on_submitted: Callable[[str], Awaitable[None]] | None = None,
    ) -> DeployResult:
        """Deploy the components as one all-or-nothing package and wait for the result.

        `on_submitted` learns the deploy id before the wait starts, so a process that dies while waiting
        can resume the wait instead of deploying a second time.
        """
        archive = base64.b64encode(deploy_zip(components, api_version=self._api_version)).decode("ascii")
        body = await self._call(
            "<met:deploy>"
            f"<met:ZipFile>{archive}</met:ZipFile>"
            "<met:DeployOptions>"
            "<met:allowMissingFiles>false</met:allowMissingFiles>"
            "<met:autoUpdatePackage>false</met:autoUpdatePackage>"
            "<met:checkOnly>false</met:checkOnly>"
            "<met:ignoreWarnings>false</met:ignoreWarnings>"
            "<met:performRetrieve>false</met:performRetrieve>"
            "<met:purgeOnDelete>false</met:purgeOnDelete>"
            "<met:rollbackOnError>true</met:rollbackOnError>"
            "<met:singlePackage>true</met:singlePackage>"
            "<met:testLevel>NoTestRun</met:testLevel>"
            "</met:DeployOptions>"
            "</met:deploy>",
            idempotent=False,
        )
        deploy_id = body.findtext(f".//{{{METADATA_NS}}}id")
        if not deploy_id:
            raise SalesforceError("Salesforce accepted the deploy but returned no deploy id.")
        logger.info("Deploy %s submitted (%s)", deploy_id, ", ".join(c.path for c in components))
        if on_submitted is not None:
            await on_submitted(deploy_id)
        return await self.wait_for_deploy(deploy_id, poll=poll)

    async def wait_for_deploy(self, deploy_id: str, *, poll: Backoff) -> DeployResult:
        """Poll `checkDeployStatus` on the `poll` schedule until the deploy is done or its deadline passes.
        Each poll is one request, retried by the HTTP layer like any other."""
        polls = poll.start()
        while (delay := polls.next_delay()) is not None:
            await asyncio.sleep(delay)
            result = await self.check_deploy_status(deploy_id)
            if result.done:
                if result.success:
                    return result
                raise DeployFailed(
                    failures=result.readable_failures(),
                    code=result.error_status_code,
                )
        raise SalesforceUnavailable(
            f"The deploy {deploy_id} was still running after {int(poll.deadline or 0)} seconds.",
            code="DEPLOY_TIMEOUT",
        )

    async def check_deploy_status(self, deploy_id: str) -> DeployResult:
        body = await self._call(
            "<met:checkDeployStatus>"
            f"<met:asyncProcessId>{escape(deploy_id)}</met:asyncProcessId>"
            "<met:includeDetails>true</met:includeDetails>"
            "</met:checkDeployStatus>"
        )
        result = body.find(f"{{{METADATA_NS}}}result")
        if result is None:
            raise SalesforceError("Salesforce returned a deploy status without a result.")
        return _parse_deploy_result(result)

    async def _call(self, operation: str, *, idempotent: bool = True) -> ET.Element:
        async def send(token: Secret) -> ET.Element:
            response = await self._http.request(
                "POST",
                f"{self._session.instance_url}/services/Soap/m/{self._api_version}",
                what="Metadata API",
                headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'},
                data=_envelope(token, operation),
                idempotent=idempotent,
                retry_on=_soap_should_retry,
            )
            return _operation_response(response)

        return await self._session.call(send)


def _envelope(token: Secret, operation: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" xmlns:met="{METADATA_NS}" xmlns:xsi="{XSI_NS}">'
        "<soapenv:Header><met:SessionHeader>"
        f"<met:sessionId>{escape(token.reveal())}</met:sessionId>"
        "</met:SessionHeader></soapenv:Header>"
        f"<soapenv:Body>{operation}</soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


def _soap_should_retry(response: HttpResponse) -> bool:
    # A SOAP fault arrives as HTTP 500 and is an answer, not an outage; a bare 5xx is an outage.
    if response.status == 500:
        return b"Fault>" not in response.body
    return response.status in (502, 503, 504)


def _operation_response(response: HttpResponse) -> ET.Element:
    try:
        root = ET.fromstring(response.body)
    except ET.ParseError as exc:
        raise SalesforceError(f"Salesforce answered the Metadata API call with HTTP {response.status} and no "
                              "readable SOAP envelope.") from exc
    body = root.find(f"{{{SOAP_ENV_NS}}}Body")
    if body is None or len(body) == 0:
        raise SalesforceError("The Metadata API answer has no SOAP body.")
    answer = body[0]
    if answer.tag == f"{{{SOAP_ENV_NS}}}Fault":
        raise _fault_error(answer)
    if response.status != 200:
        raise SalesforceError(f"The Metadata API answered HTTP {response.status}.")
    return answer


def _fault_error(fault: ET.Element) -> SalesforceError:
    code = (fault.findtext("faultcode") or "").split(":")[-1] or None
    message = fault.findtext("faultstring") or "The Metadata API call failed."
    if code == "INVALID_SESSION_ID":
        return SessionExpired(message)
    return SalesforceError(message, code=code)


def _parse_deploy_result(result: ET.Element) -> DeployResult:
    def text(element: ET.Element, name: str) -> str | None:
        return element.findtext(f"{{{METADATA_NS}}}{name}")

    failures = [
        ComponentFailure(
            component_type=text(failure, "componentType") or "Component",
            full_name=text(failure, "fullName") or text(failure, "fileName") or "",
            problem=text(failure, "problem") or "failed",
        )
        for failure in result.iter(f"{{{METADATA_NS}}}componentFailures")
    ]
    return DeployResult(
        deploy_id=text(result, "id") or "",
        done=(text(result, "done") or "false").lower() == "true",
        status=text(result, "status") or "",
        success=(text(result, "success") or "false").lower() == "true",
        error_status_code=text(result, "errorStatusCode"),
        error_message=text(result, "errorMessage"),
        failures=failures,
    )


def _xsd_datetime(text: str | None) -> datetime | None:
    """An xsd:dateTime as the Metadata API writes it (`2026-03-01T09:00:00.000Z`)."""
    return datetime.fromisoformat(text) if text else None
