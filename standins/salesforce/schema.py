"""Metadata API schema checks for the fake: the real WSDL when present, a small built-in table otherwise.

Two layers:

* ``FALLBACK_TYPES`` / ``FALLBACK_ENUMS``: the element sequences (order, required, repeating) of the
  types the fake accepts in deploy zips (the six app types plus ``Package``), of ``DeployOptions``
  and of the SOAP operations it serves, and the enumerations they use.  ``check_structure`` walks a
  parsed document against it and words problems the way Salesforce does (for example
  ``'X' is not a valid value for the enum 'Y'``).  It needs only the standard library, so the demo
  shipped without the WSDL or lxml still refuses malformed metadata.  A test asserts the table
  agrees exactly with the v63.0 WSDL.
* ``WsdlSchema``: the WSDL's ``xsd:schema`` compiled with lxml (imported lazily; it is a test-only
  dependency), with global elements added for the document types so a file whose root is
  ``<ConnectedApp xmlns="http://soap.sforce.com/2006/04/metadata">`` validates against
  ``tns:ConnectedApp``.  Loading takes a fraction of a second and is cached per process and path.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MD_NS = "http://soap.sforce.com/2006/04/metadata"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"

#: Types that appear as the root of a file in a deploy zip.
DOCUMENT_TYPES = (
    "ConnectedApp",
    "ExternalClientApplication",
    "ExtlClntAppOauthSettings",
    "ExtlClntAppGlobalOauthSettings",
    "ExtlClntAppOauthConfigurablePolicies",
    "ExtlClntAppConfigurablePolicies",
    "ExternalClientAppSettings",
    "PermissionSet",
    "Package",
)

#: Types the fallback checks are built-in XSD types.
BUILTIN_SIMPLE = frozenset({"string", "boolean", "int", "double", "base64Binary", "dateTime"})

# ---------------------------------------------------------------------------------------------
# Built-in table.  One line per element: "<name> <type> <occurs>", occurs being
# "1" (required), "?" (optional), "*" (optional, repeats) or "+" (required, repeats).
# A header "Name : Base" means the type extends Base (whose elements come first).
# Entries whose name starts with a lower-case letter are SOAP operation elements.
# ---------------------------------------------------------------------------------------------
_TABLE = """
Metadata
  fullName string ?
ConnectedApp : Metadata
  attributes ConnectedAppAttribute *
  canvas CanvasMetadata ?
  canvasConfig ConnectedAppCanvasConfig ?
  contactEmail string 1
  contactPhone string ?
  description string ?
  iconUrl string ?
  infoUrl string ?
  ipRanges ConnectedAppIpRange *
  label string 1
  logoUrl string ?
  mobileAppConfig ConnectedAppMobileDetailConfig ?
  mobileStartUrl string ?
  oauthConfig ConnectedAppOauthConfig ?
  oauthPolicy ConnectedAppOauthPolicy ?
  permissionSetName string *
  plugin string ?
  pluginExecutionUser string ?
  profileName string *
  samlConfig ConnectedAppSamlConfig ?
  sessionPolicy ConnectedAppSessionPolicy ?
  startUrl string ?
ConnectedAppOauthConfig
  assetTokenConfig ConnectedAppOauthAssetToken ?
  callbackUrl string 1
  certificate string ?
  consumerKey string ?
  consumerSecret string ?
  idTokenConfig ConnectedAppOauthIdToken ?
  isAdminApproved boolean ?
  isClientCredentialEnabled boolean ?
  isCodeCredentialEnabled boolean ?
  isCodeCredentialPostOnly boolean ?
  isConsumerSecretOptional boolean ?
  isIntrospectAllTokens boolean ?
  isNamedUserJwtEnabled boolean ?
  isPkceRequired boolean ?
  isRefreshTokenRotationEnabled boolean ?
  isSecretRequiredForRefreshToken boolean ?
  isSecretRequiredForTokenExchange boolean ?
  isTokenExchangeEnabled boolean ?
  oauthClientCredentialUser string ?
  scopes ConnectedAppOauthAccessScope *
  singleLogoutUrl string ?
ConnectedAppOauthPolicy
  ipRelaxation string 1
  isTokenExchangeFlowEnabled boolean ?
  refreshTokenPolicy string 1
  singleLogoutUrl string ?
ExternalClientApplication : Metadata
  contactEmail string ?
  contactPhone string ?
  description string ?
  distributionState ExtlClntAppDistState ?
  iconUrl string ?
  infoUrl string ?
  isProtected boolean ?
  label string ?
  logoUrl string ?
  managedType ExtlClntAppManagedType ?
  orgScopedExternalApp string ?
ExtlClntAppOauthSettings : Metadata
  areAttributesIncludedInAssetToken boolean ?
  areCustomPermsIncludedInAssetToken boolean ?
  assetTokenAudiences string ?
  assetTokenSigningCertificate string ?
  assetTokenValidity int ?
  clientAssertionCertificate string ?
  commaSeparatedCustomScopes string ?
  commaSeparatedOauthScopes string ?
  customAttributes ExtlClntAppOauthSettingsAttribute *
  externalClientApplication string 1
  isFirstPartyAppEnabled boolean ?
  label string ?
  oauthLink string ?
  singleLogoutUrl string ?
  trustedIpRanges ExtlClntAppOauthIpRange *
ExtlClntAppGlobalOauthSettings : Metadata
  callbackUrl string ?
  certificate string ?
  consumerKey string ?
  consumerSecret string ?
  externalClientApplication string 1
  idTokenConfig ExternalAppIdTokenConfig ?
  isClientCredentialsFlowEnabled boolean ?
  isCodeCredFlowEnabled boolean ?
  isCodeCredPostOnly boolean ?
  isConsumerSecretOptional boolean ?
  isDeviceFlowEnabled boolean ?
  isIntrospectAllTokens boolean ?
  isNamedUserJwtEnabled boolean ?
  isPkceRequired boolean ?
  isRefreshTokenRotationEnabled boolean ?
  isSecretRequiredForRefreshToken boolean ?
  isSecretRequiredForTokenExchange boolean ?
  isTokenExchangeEnabled boolean ?
  label string ?
  shouldRotateConsumerKey boolean ?
  shouldRotateConsumerSecret boolean ?
ExtlClntAppOauthConfigurablePolicies : Metadata
  apexHandler string ?
  clientCredentialsFlowUser string ?
  commaSeparatedCustomScopes string ?
  commaSeparatedPermissionSet string ?
  commaSeparatedProfile string ?
  customAttributes ExtlClntAppOauthPoliciesAttribute *
  executeHandlerAs string ?
  externalClientApplication string 1
  guestJwtTimeout int ?
  ipRelaxationPolicyType string ?
  isClientCredentialsFlowEnabled boolean ?
  isGuestCodeCredFlowEnabled boolean ?
  isNamedUserJwtEnabled boolean ?
  isTokenExchangeFlowEnabled boolean ?
  label string ?
  namedUserJwtTimeout int ?
  permittedUsersPolicyType PermittedUsersPolicyType ?
  policyAction PolicyAction ?
  refreshTokenPolicyType RefreshTokenPolicyType ?
  refreshTokenValidityPeriod int ?
  refreshTokenValidityUnit string ?
  requiredSessionLevel SessionSecurityLevel ?
  sessionTimeoutInMinutes int ?
  singleLogoutUrl string ?
  startUrl string ?
ExtlClntAppConfigurablePolicies : Metadata
  externalClientApplication string 1
  isEnabled boolean 1
  isMobilePluginEnabled boolean ?
  isNotificationPluginEnabled boolean ?
  isOauthPluginEnabled boolean ?
  isPushPluginEnabled boolean ?
  isSamlPluginEnabled boolean ?
  label string ?
  startPage ExtlClntAppStartPage ?
  startUrl string ?
Package : Metadata
  apiAccessLevel APIAccessLevel ?
  description string ?
  namespacePrefix string ?
  objectPermissions ProfileObjectPermissions *
  packageType string ?
  postInstallClass string ?
  setupWeblink string ?
  types PackageTypeMembers *
  uninstallClass string ?
  version string 1
PackageTypeMembers
  members string *
  name string 1
DeployOptions
  allowMissingFiles boolean 1
  autoUpdatePackage boolean 1
  checkOnly boolean 1
  ignoreWarnings boolean 1
  performRetrieve boolean 1
  purgeOnDelete boolean 1
  rollbackOnError boolean 1
  runTests string *
  singlePackage boolean 1
  testLevel TestLevel 1
ListMetadataQuery
  folder string ?
  type string 1
deploy
  ZipFile base64Binary 1
  DeployOptions DeployOptions 1
checkDeployStatus
  asyncProcessId ID 1
  includeDetails boolean 1
cancelDeploy
  String ID 1
readMetadata
  type string 1
  fullNames string *
deleteMetadata
  type string 1
  fullNames string *
listMetadata
  queries ListMetadataQuery *
  asOfVersion double 1
"""

_ENUMS = """
APIAccessLevel: Unrestricted Restricted
ConnectedAppOauthAccessScope: Basic Api Web Full Chatter CustomApplications RefreshToken OpenID Profile
  Email Address Phone OfflineAccess CustomPermissions Wave Eclair Pardot Lightning Content CDPIngest
  CDPProfile CDPQuery Chatbot CDPSegment CDPIdentityResolution CDPCalculatedInsight ForgotPassword
  UserRegistration SFAP Interaction CDP EinsteinGPT PwdlessLogin
ExtlClntAppDistState: Local Packaged Managed AutoInstalled
ExtlClntAppManagedType: Local Global
ExtlClntAppStartPage: None Custom OAuth SAML
PermittedUsersPolicyType: AllSelfAuthorized AdminApprovedPreAuthorized
PolicyAction: Block RaiseSessionLevel
RefreshTokenPolicyType: Infinite Zero SpecificLifetime SpecificInactivity
SessionSecurityLevel: LOW STANDARD HIGH_ASSURANCE
TestLevel: NoTestRun RunSpecifiedTests RunLocalTests RunAllTestsInOrg
"""

#: Simple types with a pattern the fallback checks (the WSDL's ``tns:ID``).
ID_PATTERN = re.compile(r"[a-zA-Z0-9]{18}")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    required: bool
    repeats: bool

    @property
    def occurs(self) -> str:
        return {(True, False): "1", (False, False): "?", (False, True): "*", (True, True): "+"}[
            (self.required, self.repeats)
        ]


@dataclass(frozen=True)
class TypeSpec:
    name: str
    base: str | None
    own_fields: tuple[FieldSpec, ...]

    def fields(self) -> tuple[FieldSpec, ...]:
        if self.base is None:
            return self.own_fields
        return FALLBACK_TYPES[self.base].fields() + self.own_fields

    def field(self, name: str) -> FieldSpec | None:
        for spec in self.fields():
            if spec.name == name:
                return spec
        return None


def _parse_table(text: str) -> dict[str, TypeSpec]:
    out: dict[str, TypeSpec] = {}
    current: str | None = None
    base: str | None = None
    fields: list[FieldSpec] = []

    def flush() -> None:
        if current is not None:
            out[current] = TypeSpec(current, base, tuple(fields))

    for raw in text.splitlines():
        if not raw.strip():
            continue
        if not raw.startswith(" "):
            flush()
            name, _, parent = raw.partition(":")
            current, base, fields = name.strip(), (parent.strip() or None), []
            continue
        fname, ftype, occurs = raw.split()
        fields.append(FieldSpec(fname, ftype, occurs in ("1", "+"), occurs in ("*", "+")))
    flush()
    return out


def _parse_enums(text: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    current = ""
    for raw in text.splitlines():
        if not raw.strip():
            continue
        if not raw.startswith(" "):
            current, _, rest = raw.partition(":")
            out[current] = tuple(rest.split())
        else:
            out[current] = out[current] + tuple(raw.split())
    return out


FALLBACK_TYPES: dict[str, TypeSpec] = _parse_table(_TABLE)
FALLBACK_ENUMS: dict[str, tuple[str, ...]] = _parse_enums(_ENUMS)


@dataclass(frozen=True)
class Problem:
    """One schema problem.  ``parse_error`` problems read "Error parsing file: ..." in a deploy."""

    message: str
    parse_error: bool = True


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def namespace_of(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def _check_simple(value: str, type_name: str, field: str) -> Problem | None:
    text = value.strip()
    if type_name == "boolean":
        if text not in ("true", "false", "1", "0"):
            return Problem(f"'{value}' is not a valid value for the type xsd:boolean (field {field})")
    elif type_name == "int":
        if not re.fullmatch(r"[+-]?\d+", text) or not -(2**31) <= int(text) < 2**31:
            return Problem(f"'{value}' is not a valid value for the type xsd:int (field {field})")
    elif type_name == "double":
        try:
            float(text)
        except ValueError:
            return Problem(f"'{value}' is not a valid value for the type xsd:double (field {field})")
    elif type_name == "base64Binary":
        try:
            base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            return Problem(f"'{field}' is not valid base64 data")
    elif type_name == "ID":
        if not ID_PATTERN.fullmatch(text):
            return Problem(f"'{value}' is not a valid value for the type tns:ID (field {field})")
    elif type_name in FALLBACK_ENUMS and value not in FALLBACK_ENUMS[type_name]:
        return Problem(f"'{value}' is not a valid value for the enum '{type_name}'", parse_error=False)
    return None


def check_structure(elem: ET.Element, type_name: str) -> list[Problem]:
    """Check ``elem``'s children against the built-in table (stdlib ElementTree element).

    Types the table does not describe are accepted as they are (the WSDL check, when available,
    covers them).  Child elements must be in the metadata namespace, in sequence order.
    """
    spec = FALLBACK_TYPES.get(type_name)
    if spec is None:
        return []
    problems: list[Problem] = []
    fields = spec.fields()
    counts = [0] * len(fields)
    pos = 0
    for child in elem:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        name = local_name(child.tag)
        found = None
        if namespace_of(child.tag) == MD_NS:
            for j in range(pos, len(fields)):
                if fields[j].name == name:
                    found = j
                    break
        skips_required = found is not None and any(
            fields[j].required and not counts[j] for j in range(pos, found)
        )
        if found is None or skips_required or (found == pos and counts[pos] and not fields[pos].repeats):
            problems.append(Problem(f"Element {child.tag} invalid at this location in type {type_name}"))
            return problems
        pos = found
        counts[found] += 1
        field = fields[found]
        if field.type in FALLBACK_TYPES:
            problems.extend(check_structure(child, field.type))
        elif field.type in BUILTIN_SIMPLE or field.type in FALLBACK_ENUMS or field.type == "ID":
            if len(child):
                problems.append(Problem(f"Element {child.tag} must hold text only, in type {type_name}"))
            else:
                problem = _check_simple(child.text or "", field.type, name)
                if problem:
                    problems.append(problem)
        if problems:
            return problems
    for j in range(pos, len(fields)):
        if fields[j].required and not counts[j]:
            problems.append(Problem(f"Required field '{fields[j].name}' is missing in type {type_name}"))
            break
    return problems


# ---------------------------------------------------------------------------------------------
# The WSDL
# ---------------------------------------------------------------------------------------------


def repo_root() -> Path:
    """The folder holding ``pyproject.toml`` above this file."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return here.parents[3]


def find_wsdl() -> Path | None:
    """``$QC_METADATA_WSDL``, else ``<repo root>/../shared/salesforce/metadata-v63.wsdl``; None if absent."""
    env = os.environ.get("QC_METADATA_WSDL")
    if env:
        path = Path(env)
        return path if path.is_file() else None
    path = repo_root().parent / "shared" / "salesforce" / "metadata-v63.wsdl"
    return path if path.is_file() else None


class WsdlSchema:
    """The Metadata WSDL's schema, compiled with lxml."""

    def __init__(self, path: Path) -> None:
        from lxml import etree  # test-only dependency, imported lazily

        self._etree = etree
        self.path = path
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        wsdl = etree.parse(str(path), parser)
        source = wsdl.getroot().find(f"{{{WSDL_NS}}}types/{{{XSD_NS}}}schema")
        if source is None or source.get("targetNamespace") != MD_NS:
            raise ValueError(f"{path}: no metadata xsd:schema found")
        root = etree.Element(
            f"{{{XSD_NS}}}schema",
            nsmap={"xsd": XSD_NS, "tns": MD_NS},
            attrib={"targetNamespace": MD_NS, "elementFormDefault": "qualified"},
        )
        for child in source:
            if isinstance(child.tag, str):
                root.append(copy.deepcopy(child))
        self._complex = {e.get("name"): e for e in root.findall(f"{{{XSD_NS}}}complexType")}
        self._simple = {e.get("name"): e for e in root.findall(f"{{{XSD_NS}}}simpleType")}
        self._elements = {e.get("name"): e for e in root.findall(f"{{{XSD_NS}}}element")}
        for name in DOCUMENT_TYPES:
            if name not in self._elements:
                etree.SubElement(root, f"{{{XSD_NS}}}element", name=name, type=f"tns:{name}")
        self._xsd = etree.XMLSchema(root)
        self._parser = parser

    # -- introspection (used by the fallback-agreement test and by the fake's own checks) --

    def enum_values(self, name: str) -> tuple[str, ...] | None:
        node = self._simple.get(name)
        if node is None:
            return None
        values = tuple(e.get("value") for e in node.iter(f"{{{XSD_NS}}}enumeration"))
        return values or None

    def has_complex_type(self, name: str) -> bool:
        return name in self._complex

    def describe(self, name: str) -> TypeSpec | None:
        """The sequence of a complex type, or of a global element's anonymous type."""
        node = self._complex.get(name)
        if node is None and name in self._elements:
            node = self._elements[name].find(f"{{{XSD_NS}}}complexType")
        if node is None:
            return None
        base = None
        ext = node.find(f".//{{{XSD_NS}}}extension")
        if ext is not None:
            base = ext.get("base", "").rpartition(":")[2]
        seq = node.find(f".//{{{XSD_NS}}}sequence")
        fields = []
        for e in seq.findall(f"{{{XSD_NS}}}element") if seq is not None else []:
            fields.append(
                FieldSpec(
                    e.get("name"),
                    e.get("type", "").rpartition(":")[2],
                    e.get("minOccurs", "1") != "0",
                    e.get("maxOccurs", "1") != "1",
                )
            )
        return TypeSpec(name, base, tuple(fields))

    # -- validation --

    def _errors(self, element: Any) -> list[str]:
        tree = self._etree.ElementTree(copy.deepcopy(element))
        if self._xsd.validate(tree):
            return []
        return [f"{err.message} (line {err.line})" for err in self._xsd.error_log]

    def check_document(self, data: bytes) -> list[str]:
        """Validate a whole metadata document (root = one of DOCUMENT_TYPES)."""
        try:
            root = self._etree.fromstring(data, self._parser)
        except self._etree.XMLSyntaxError as exc:
            return [str(exc)]
        return self._errors(root)

    def check_body(self, envelope: bytes) -> list[str]:
        """Validate the first element of a SOAP Body against the global element of its name.

        Faults are not described by the Metadata WSDL and are skipped.
        """
        try:
            root = self._etree.fromstring(envelope, self._parser)
        except self._etree.XMLSyntaxError as exc:
            return [str(exc)]
        body = root.find(f"{{{SOAP_ENV_NS}}}Body")
        if body is None:
            return ["no soapenv:Body"]
        children = [c for c in body if isinstance(c.tag, str)]
        if not children:
            return ["empty soapenv:Body"]
        first = children[0]
        if first.tag == f"{{{SOAP_ENV_NS}}}Fault":
            return []
        if namespace_of(first.tag) != MD_NS or local_name(first.tag) not in self._elements:
            return [f"no global element {first.tag} in the metadata schema"]
        return self._errors(first)


@functools.lru_cache(maxsize=4)
def _load(path: str) -> WsdlSchema | None:
    try:
        import lxml  # noqa: F401
    except ImportError:
        return None
    return WsdlSchema(Path(path))


def load_schema(path: Path | str | None) -> WsdlSchema | None:
    """The compiled WSDL schema (cached per process), or None without a path or without lxml."""
    if path is None:
        return None
    return _load(str(Path(path).resolve()))


__all__ = [
    "DOCUMENT_TYPES",
    "FALLBACK_ENUMS",
    "FALLBACK_TYPES",
    "MD_NS",
    "SOAP_ENV_NS",
    "XSI_NS",
    "FieldSpec",
    "Problem",
    "TypeSpec",
    "WsdlSchema",
    "check_structure",
    "find_wsdl",
    "load_schema",
    "local_name",
    "namespace_of",
]
