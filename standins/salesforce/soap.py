"""SOAP Metadata API on My Domain hosts: ``POST /services/Soap/m/<version>[/<anything>]``.

Dispatch is on the first element of the Body (``SOAPAction`` is ignored).  Served operations:
``deploy``, ``checkDeployStatus``, ``cancelDeploy``, ``readMetadata``, ``listMetadata``, ``deleteMetadata``.
Requests are checked against the built-in table and, when loaded, against the WSDL's global element of the
operation; every response is checked against the WSDL too (``fake.self_check``), and a response that
fails is replaced by a ``soapenv:Server`` fault and recorded in ``fake.schema_violations``.

Faults are HTTP 500 with ``faultcode``/``faultstring``; Salesforce-coded faults (``sf:<CODE>``) carry
``detail/sf:UnexpectedErrorFault{exceptionCode, exceptionMessage}``.  The ``sf`` prefix is bound to the
metadata namespace (the fault namespace of the Metadata endpoint is UNCONFIRMED).  Texts (UNCONFIRMED
unless noted):

* bad/expired session: ``INVALID_SESSION_ID: Invalid Session ID found in SessionHeader: Illegal
  Session`` (documented); token without ``api``/``full`` scope: ``INVALID_SESSION_ID: This session is
  not valid for use with the API``;
* login host: ``UNKNOWN_EXCEPTION: Destination URL not reset. The URL returned from login must be set``;
* missing permission: ``INSUFFICIENT_ACCESS: The user doesn't have the Modify Metadata Through Metadata
  API Functions or Modify All Data permission``;
* unknown operation: ``soapenv:Client`` ``No operation available for request {ns}op, please check
  the WSDL for the service.``; real operations the fake does not serve say so explicitly;
* schema-invalid request: ``soapenv:Client`` ``Invalid request for <op>: <detail>``;
* unsupported URL version: ``sf:UNSUPPORTED_API_VERSION`` ``UNSUPPORTED_API_VERSION: Invalid Api
  version specified on URL``;
* more than 10 ``fullNames``: ``sf:EXCEEDED_ID_LIMIT`` ``EXCEEDED_ID_LIMIT: record limit reached.
  cannot submit more than 10 records in this operation``;
* unknown deploy id: ``sf:INVALID_CROSS_REFERENCE_KEY`` ``INVALID_CROSS_REFERENCE_KEY: invalid cross
  reference id``;
* metadata types the fake does not model: ``sf:INVALID_TYPE``.

deleteMetadata (at most 10 names) answers one ``DeleteResult`` per name: a missing name fails with
``INVALID_CROSS_REFERENCE_KEY`` ``no <Type> named <name> found`` (the wording Salesforce uses for other
types); an ExternalClientApplication whose satellites still exist fails with ``DEPENDENCY_EXISTS`` (text
UNCONFIRMED).  Deleting a ConnectedApp or an External Client App's global OAuth settings revokes every
token issued to the app (its ``OauthToken`` rows go too).

readMetadata: missing names are left out of ``records`` (``ReadResult.records`` is optional and not
nillable in the WSDL; ``org.read_missing = "empty"`` returns a bare ``<records/>`` instead).  Records
carry ``xsi:type``; ConnectedApp records include ``oauthConfig.consumerKey``; no secret is ever
returned.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape as esc_text

from aiohttp import web

from .clock import xsd_datetime
from .common import OPERATION_KEY, fake_of, role_of, set_operation
from .ids import PREFIX_DEPLOY, same_id
from .mdxml import dict_to_xml, element_to_dict
from .metadata_rules import FOLDERS, DeployRecord
from .org import ECA_HEADER, ECA_SETTINGS, SCOPE_READ_ALIASES, split_scopes
from .schema import MD_NS, SOAP_ENV_NS, XSI_NS, check_structure, local_name, namespace_of

if TYPE_CHECKING:
    from .org import FakeOrg, FakeUser
    from .server import FakeSalesforce

SERVED = ("deploy", "checkDeployStatus", "cancelDeploy", "readMetadata", "listMetadata", "deleteMetadata")
MIN_VERSION = 29
MAX_VERSION = 63
READ_LIMIT = 10


class SoapFault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # "sf:XYZ" or "soapenv:Client" / "soapenv:Server" / "soapenv:VersionMismatch"
        self.message = message


def sf_fault(code: str, message: str) -> SoapFault:
    return SoapFault(f"sf:{code}", f"{code}: {message}")


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" xmlns="{MD_NS}" xmlns:xsi="{XSI_NS}">'
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def fault_bytes(fault: SoapFault) -> bytes:
    detail = ""
    if fault.code.startswith("sf:"):
        code = fault.code[3:]
        text = fault.message.split(": ", 1)[-1]
        detail = (
            f'<detail><sf:UnexpectedErrorFault xsi:type="sf:UnexpectedErrorFault">'
            f"<sf:exceptionCode>{esc_text(code)}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{esc_text(text)}</sf:exceptionMessage>"
            f"</sf:UnexpectedErrorFault></detail>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" xmlns:sf="{MD_NS}" xmlns:xsi="{XSI_NS}">'
        f"<soapenv:Body><soapenv:Fault><faultcode>{esc_text(fault.code)}</faultcode>"
        f"<faultstring>{esc_text(fault.message)}</faultstring>{detail}</soapenv:Fault>"
        f"</soapenv:Body></soapenv:Envelope>"
    ).encode()


def _xml_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="text/xml", charset="utf-8")


async def handle(request: web.Request) -> web.Response:
    fake = fake_of(request)
    set_operation(request, "soap")
    try:
        body = await _handle(request, fake)
    except SoapFault as fault:
        return _xml_response(fault_bytes(fault), 500)
    if fake.schema is not None and fake.self_check:
        errors = fake.schema.check_body(body)
        if errors:
            fake.schema_violations.append(f"{request.get(OPERATION_KEY)}: {errors}")
            invalid = SoapFault(
                "soapenv:Server", f"fake Salesforce produced a schema-invalid response: {errors[0]}"
            )
            return _xml_response(fault_bytes(invalid), 500)
    return _xml_response(body)


async def _handle(request: web.Request, fake: FakeSalesforce) -> bytes:
    role = role_of(request)
    m = re.fullmatch(r"(\d+)\.0", request.match_info["version"])
    if not m or not MIN_VERSION <= int(m[1]) <= MAX_VERSION:
        raise sf_fault("UNSUPPORTED_API_VERSION", "Invalid Api version specified on URL")
    if request.content_type != "text/xml":
        raise SoapFault(
            "soapenv:Client",
            f"Content-Type '{request.content_type}' is not supported; "
            "SOAP 1.1 requests must be sent as text/xml",
        )
    raw = await request.read()
    try:
        envelope = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise SoapFault("soapenv:Client", f"Unable to parse the request: {exc}") from None
    if envelope.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise SoapFault("soapenv:VersionMismatch", "Wrong SOAP envelope namespace (expected SOAP 1.1)")
    body = envelope.find(f"{{{SOAP_ENV_NS}}}Body")
    children = [c for c in (body if body is not None else []) if isinstance(c.tag, str)]
    if not children:
        raise SoapFault("soapenv:Client", "The SOAP Body is empty")
    op_elem = children[0]
    op = local_name(op_elem.tag)
    set_operation(request, op)
    if namespace_of(op_elem.tag) != MD_NS or op not in SERVED:
        known = fake.schema is not None and namespace_of(op_elem.tag) == MD_NS and fake.schema.describe(op)
        if known:
            raise SoapFault("soapenv:Client", f"The operation {op} is not implemented by the fake Salesforce")
        raise SoapFault(
            "soapenv:Client",
            f"No operation available for request {op_elem.tag}, please check the WSDL for the service.",
        )
    problems = [p.message for p in check_structure(op_elem, op)]
    if not problems and fake.schema is not None:
        problems = fake.schema.check_body(raw)
    if problems:
        raise SoapFault("soapenv:Client", f"Invalid request for {op}: {problems[0]}")
    if role.kind != "mydomain" or role.org is None:
        raise sf_fault(
            "UNKNOWN_EXCEPTION", "Destination URL not reset. The URL returned from login must be set"
        )
    session = envelope.find(f"{{{SOAP_ENV_NS}}}Header/{{{MD_NS}}}SessionHeader/{{{MD_NS}}}sessionId")
    access = fake.tokens.active_access(
        (session.text or "").strip() if session is not None else "", fake.now()
    )
    if access is None or access.org is not role.org:
        raise sf_fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
    if not {"api", "full"} & set(access.scopes):
        raise sf_fault("INVALID_SESSION_ID", "This session is not valid for use with the API")
    org, user = access.org, access.user
    if not user.has_any("ModifyMetadata", "ModifyAllData"):
        raise sf_fault(
            "INSUFFICIENT_ACCESS",
            "The user doesn't have the Modify Metadata Through Metadata API "
            "Functions or Modify All Data permission",
        )
    failure = org.take_call_failure(op)
    if failure is not None:
        raise sf_fault(failure.fault, failure.message)
    handler = {
        "deploy": _deploy,
        "checkDeployStatus": _check_deploy_status,
        "cancelDeploy": _cancel_deploy,
        "readMetadata": _read_metadata,
        "listMetadata": _list_metadata,
        "deleteMetadata": _delete_metadata,
    }[op]
    return _envelope(handler(fake, org, user, op_elem))


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    return elem.find(f"{{{MD_NS}}}{name}")


def _text(elem: ET.Element, name: str) -> str:
    child = _child(elem, name)
    return (child.text or "").strip() if child is not None else ""


def _b(value: bool) -> str:
    return "true" if value else "false"


def _deploy(fake: FakeSalesforce, org: FakeOrg, user: FakeUser, elem: ET.Element) -> str:
    try:
        zip_bytes = base64.b64decode("".join(_text(elem, "ZipFile").split()), validate=True)
    except (binascii.Error, ValueError):
        raise SoapFault("soapenv:Client", "Invalid request for deploy: ZipFile is not valid base64") from None
    options_elem = _child(elem, "DeployOptions")
    options = element_to_dict(options_elem, "DeployOptions") if options_elem is not None else {}
    record = DeployRecord(
        id=fake.ids.new(PREFIX_DEPLOY),
        org=org,
        user=user,
        options=options,
        zip_bytes=zip_bytes,
        created=fake.now(),
        existing_ecas=frozenset(n for n, parts in org.external_client_apps.items() if ECA_HEADER in parts),
        forced=org.take_deploy_failure(),
    )
    org.deploys.append(record)
    return (
        f"<deployResponse><result><done>false</done><id>{record.id}</id>"
        f"<state>Queued</state></result></deployResponse>"
    )


def _find_deploy(org: FakeOrg, deploy_id: str) -> DeployRecord:
    for record in org.deploys:
        if same_id(record.id, deploy_id):
            return record
    raise sf_fault("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")


def _check_deploy_status(fake: FakeSalesforce, org: FakeOrg, user: FakeUser, elem: ET.Element) -> str:
    record = _find_deploy(org, _text(elem, "asyncProcessId"))
    record.advance(fake)
    include = _text(elem, "includeDetails") in ("true", "1")
    result = deploy_result_xml(record, fake.now(), include)
    return f"<checkDeployStatusResponse><result>{result}</result></checkDeployStatusResponse>"


def _cancel_deploy(fake: FakeSalesforce, org: FakeOrg, user: FakeUser, elem: ET.Element) -> str:
    record = _find_deploy(org, _text(elem, "String"))
    if not record.done:
        record.status = "Canceled"
        record.done = True
        record.completed_date = fake.now()
    return (
        f"<cancelDeployResponse><result><done>true</done><id>{record.id}</id></result></cancelDeployResponse>"
    )


def _message_xml(message: dict[str, Any]) -> str:
    parts = [f"<changed>{_b(message['changed'])}</changed>"]
    if message.get("columnNumber") is not None:
        parts.append(f"<columnNumber>{message['columnNumber']}</columnNumber>")
    if message.get("componentType"):
        parts.append(f"<componentType>{esc_text(message['componentType'])}</componentType>")
    parts.append(f"<created>{_b(message['created'])}</created>")
    parts.append(f"<createdDate>{xsd_datetime(message['createdDate'])}</createdDate>")
    parts.append(f"<deleted>{_b(message['deleted'])}</deleted>")
    parts.append(f"<fileName>{esc_text(message['fileName'])}</fileName>")
    parts.append(f"<fullName>{esc_text(message['fullName'])}</fullName>")
    if message.get("id"):
        parts.append(f"<id>{message['id']}</id>")
    if message.get("lineNumber") is not None:
        parts.append(f"<lineNumber>{message['lineNumber']}</lineNumber>")
    if message.get("problem"):
        parts.append(f"<problem>{esc_text(message['problem'])}</problem>")
    if message.get("problemType"):
        parts.append(f"<problemType>{message['problemType']}</problemType>")
    parts.append(f"<success>{_b(message['success'])}</success>")
    return "".join(parts)


def deploy_result_xml(record: DeployRecord, now: datetime, include_details: bool) -> str:
    runs_tests = record.options.get("testLevel", "NoTestRun") != "NoTestRun"
    details = ""
    if include_details:
        details = "".join(
            f"<componentFailures>{_message_xml(m)}</componentFailures>" for m in record.failures
        )
        details += "".join(
            f"<componentSuccesses>{_message_xml(m)}</componentSuccesses>" for m in record.successes
        )
    parts = [f"<checkOnly>{_b(record.check_only)}</checkOnly>"]
    if record.completed_date:
        parts.append(f"<completedDate>{xsd_datetime(record.completed_date)}</completedDate>")
    parts += [
        f"<createdBy>{record.user.id[:15]}</createdBy>",
        f"<createdByName>{esc_text(record.user.name)}</createdByName>",
        f"<createdDate>{xsd_datetime(record.created)}</createdDate>",
        f"<details>{details}</details>",
        f"<done>{_b(record.done)}</done>",
    ]
    if record.error_message:
        parts.append(f"<errorMessage>{esc_text(record.error_message)}</errorMessage>")
    if record.error_status_code:
        parts.append(f"<errorStatusCode>{record.error_status_code}</errorStatusCode>")
    parts += [
        f"<id>{record.id}</id>",
        f"<ignoreWarnings>{_b(bool(record.options.get('ignoreWarnings')))}</ignoreWarnings>",
        f"<lastModifiedDate>{xsd_datetime(record.completed_date or record.start_date or record.created)}"
        "</lastModifiedDate>",
        f"<numberComponentErrors>{record.number_errors}</numberComponentErrors>",
        f"<numberComponentsDeployed>{record.number_deployed}</numberComponentsDeployed>",
        f"<numberComponentsTotal>{record.number_total}</numberComponentsTotal>",
        "<numberTestErrors>0</numberTestErrors>",
        "<numberTestsCompleted>0</numberTestsCompleted>",
        "<numberTestsTotal>0</numberTestsTotal>",
        f"<rollbackOnError>{_b(record.rollback_on_error)}</rollbackOnError>",
        f"<runTestsEnabled>{_b(runs_tests)}</runTestsEnabled>",
    ]
    if record.start_date:
        parts.append(f"<startDate>{xsd_datetime(record.start_date)}</startDate>")
    parts += [f"<status>{record.status}</status>", f"<success>{_b(record.success)}</success>"]
    return "".join(parts)


def _check_type(fake: FakeSalesforce, type_name: str) -> None:
    if type_name in FOLDERS or type_name == ECA_SETTINGS:
        return
    if fake.schema is not None and fake.schema.has_complex_type(type_name):
        raise sf_fault("INVALID_TYPE", f"The fake Salesforce does not model metadata type '{type_name}'")
    raise sf_fault("INVALID_TYPE", f"Unknown type name '{type_name}'")


def _fold(scopes: list[str]) -> list[str]:
    return list(dict.fromkeys(SCOPE_READ_ALIASES.get(s, s) for s in scopes))


def readable(org: FakeOrg, type_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """The component as readMetadata shows it: no secret, scope aliases folded when switched on."""
    out = copy.deepcopy(data)
    if type_name == "ConnectedApp":
        cfg = out.get("oauthConfig")
        if cfg is not None:
            cfg.pop("consumerSecret", None)
            if org.normalize_scopes_on_read and "scopes" in cfg:
                cfg["scopes"] = _fold(cfg["scopes"])
    elif type_name == "ExtlClntAppGlobalOauthSettings":
        out.pop("consumerSecret", None)
    elif type_name == "ExtlClntAppOauthSettings" and org.normalize_scopes_on_read:
        scopes = out.get("commaSeparatedOauthScopes")
        if scopes is not None:
            out["commaSeparatedOauthScopes"] = ", ".join(_fold(split_scopes(scopes)))
    return out


def _type_and_names(fake: FakeSalesforce, elem: ET.Element) -> tuple[str, list[str]]:
    type_name = _text(elem, "type")
    names = [(c.text or "").strip() for c in elem.findall(f"{{{MD_NS}}}fullNames")]
    if len(names) > READ_LIMIT:
        raise sf_fault(
            "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 10 records in this operation"
        )
    _check_type(fake, type_name)
    return type_name, names


def _read_metadata(fake: FakeSalesforce, org: FakeOrg, user: FakeUser, elem: ET.Element) -> str:
    type_name, names = _type_and_names(fake, elem)
    records = []
    for name in names:
        data = org.component(type_name, name)
        if data is None:
            if org.read_missing == "empty":
                records.append("<records/>")
            continue
        body = dict_to_xml(readable(org, type_name, data), type_name)
        records.append(f'<records xsi:type="{type_name}">{body}</records>')
    return f"<readMetadataResponse><result>{''.join(records)}</result></readMetadataResponse>"


def _delete_metadata(fake: FakeSalesforce, org: FakeOrg, user: FakeUser, elem: ET.Element) -> str:
    type_name, names = _type_and_names(fake, elem)
    results = []
    for name in names:
        refusal = org.delete_component(type_name, name)
        errors = ""
        if refusal is not None:
            code, message = refusal
            errors = f"<errors><message>{esc_text(message)}</message><statusCode>{code}</statusCode></errors>"
        results.append(
            f"<result>{errors}<fullName>{esc_text(name)}</fullName><success>{_b(refusal is None)}</success></result>"
        )
    return f"<deleteMetadataResponse>{''.join(results)}</deleteMetadataResponse>"


def _list_metadata(fake: FakeSalesforce, org: FakeOrg, user: FakeUser, elem: ET.Element) -> str:
    queries = elem.findall(f"{{{MD_NS}}}queries")
    if len(queries) > 3:
        raise sf_fault("INVALID_OPERATION", "listMetadata accepts at most 3 queries")
    results = []
    for query in queries:
        type_name = _text(query, "type")
        _check_type(fake, type_name)
        folder, suffix = FOLDERS.get(type_name, FOLDERS["Settings"])
        for data in org.components(type_name):
            name = data["fullName"]
            meta = org.component_meta(type_name, name)
            if meta is None:
                continue
            results.append(
                "<result>"
                f"<createdById>{meta.created_by.id[:15]}</createdById>"
                f"<createdByName>{esc_text(meta.created_by.name)}</createdByName>"
                f"<createdDate>{xsd_datetime(meta.created_date)}</createdDate>"
                f"<fileName>{folder}/{esc_text(name)}.{suffix}</fileName>"
                f"<fullName>{esc_text(name)}</fullName>"
                f"<id>{meta.id}</id>"
                f"<lastModifiedById>{meta.modified_by.id[:15]}</lastModifiedById>"
                f"<lastModifiedByName>{esc_text(meta.modified_by.name)}</lastModifiedByName>"
                f"<lastModifiedDate>{xsd_datetime(meta.modified_date)}</lastModifiedDate>"
                "<manageableState>unmanaged</manageableState>"
                f"<type>{type_name}</type>"
                "</result>"
            )
    return f"<listMetadataResponse>{''.join(results)}</listMetadataResponse>"
