"""Deploys: zip layout, package.xml, per-component rules, and all-or-nothing application.

Problem texts.  Known Salesforce strings are used verbatim ("The consumer key is already taken",
"You cannot provide a Consumer Key", "No package.xml found", "An object 'X' of type T was named in
package.xml, but was not found in zipped directory", "Not in package.xml", "'X' is not a valid value
for the enum 'Y'").  These are UNCONFIRMED choices:

* ``CONNECTED_APP_CREATION_BLOCKED`` (new ConnectedApp while creation is off)
* ``You cannot provide a Consumer Secret`` (a different secret on an update)
* ``DUPLICATE_SECRET`` (a consumer secret already used by another app of the org)
* the run-as user texts (``run_as_problem``), the ECA parent/duplicate texts, the permission texts,
  the enum names ``IpRelaxation`` (ConnectedApp ``ipRelaxation``), ``IpRelaxationPolicyType`` and
  ``RefreshTokenValidityUnit`` (plain strings in the WSDL), ``Error parsing file: ...`` details.

Other choices: with ``rollbackOnError=true`` and any failure nothing is applied, ``componentSuccesses``
is empty and ``numberComponentsDeployed`` is 0; with ``rollbackOnError=false`` the valid components
are applied and the status is ``SucceededPartial`` (``success=false``).  ``checkOnly`` validates and
applies nothing.  A ``consumerSecret`` is never stored in the component dicts.
"""

from __future__ import annotations

import copy
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .ids import new_consumer_key, new_consumer_secret
from .mdxml import element_to_dict
from .org import (
    ECA_HEADER,
    ECA_SATELLITES,
    ECA_SETTINGS,
    ECA_TYPES,
    PERMISSION_SET,
    SETTINGS_MEMBERS,
    ForcedDeployFailure,
    split_scopes,
)
from .schema import FALLBACK_ENUMS, MD_NS, Problem, check_structure
from .tokens import CONNECTED_APP_POLICY

if TYPE_CHECKING:
    from .org import FakeOrg, FakeUser
    from .server import FakeSalesforce

MAX_PACKAGE_VERSION = 63.0

#: type -> (folder, suffix) in an mdapi-format zip.
FOLDERS: dict[str, tuple[str, str]] = {
    "ConnectedApp": ("connectedApps", "connectedApp"),
    "ExternalClientApplication": ("externalClientApps", "eca"),
    "ExtlClntAppOauthSettings": ("extlClntAppOauthSettings", "ecaOauth"),
    "ExtlClntAppGlobalOauthSettings": ("extlClntAppGlobalOauthSets", "ecaGlblOauth"),
    "ExtlClntAppOauthConfigurablePolicies": ("extlClntAppOauthPolicies", "ecaOauthPlcy"),
    "ExtlClntAppConfigurablePolicies": ("extlClntAppPolicies", "ecaPlcy"),
    "Settings": ("settings", "settings"),
    PERMISSION_SET: ("permissionsets", "permissionset"),
}
TYPE_ORDER = ("Settings", PERMISSION_SET, "ConnectedApp", *ECA_TYPES)

CONNECTED_APP_CREATION_BLOCKED = (
    "You can't create a connected app. Creation of new connected apps is turned off for this org: "
    "create an external client app instead, or contact Salesforce Support to allow connected app creation."
)
DUPLICATE_SECRET = (
    "The consumer secret is already used by another app in this org. Provide a different consumer secret."
)
KEY_TAKEN = "The consumer key is already taken"
NO_KEY = "You cannot provide a Consumer Key"
NO_SECRET = "You cannot provide a Consumer Secret"
CREDENTIAL_FORMAT = "The {what} must be 8 to 256 alphanumeric characters."
CA_PERMISSION = (
    "Insufficient access rights: deploying connected apps requires Customize Application and either "
    "Modify All Data or Manage Connected Apps."
)
SETTINGS_PERMISSION = (
    "Insufficient access rights: changing org settings requires Customize Application or Modify All Data."
)
PERMISSION_SET_PERMISSION = (
    "Insufficient access rights: deploying permission sets requires Manage Profiles and Permission Sets "
    "or Modify All Data."
)
ECA_PERMISSION = (
    "Insufficient access rights: deploying external client apps requires Manage External Client Apps "
    "or Modify All Data."
)
IP_RELAXATION = ("ENFORCE", "BYPASS_2FACTOR", "BYPASS", "ENFORCE_RELAXREFRESH")
ECA_IP_RELAXATION = ("Enforce", "Bypass", "Bypass_2factor", "Enforce_RelaxRefresh")
VALIDITY_UNITS = ("Hours", "Days", "Months")
_CREDENTIAL = re.compile(r"[A-Za-z0-9]{8,256}")


def run_as_problem(username: str, org: FakeOrg) -> str | None:
    user = org.user(username)
    if user is None or not user.active:
        return f"The run-as user '{username}' doesn't exist or isn't active in this org."
    if org.require_api_only_run_as and not user.api_only:
        return f"The run-as user '{username}' must have the API Only User permission."
    return None


@dataclass(eq=False)
class DeployRecord:
    """One deploy request and its result (``org.deploys`` keeps them all, oldest first)."""

    id: str
    org: FakeOrg
    user: FakeUser
    options: dict[str, Any]
    zip_bytes: bytes
    created: datetime
    existing_ecas: frozenset[str]
    forced: ForcedDeployFailure | None
    polls: int = 0
    status: str = "Pending"
    done: bool = False
    start_date: datetime | None = None
    completed_date: datetime | None = None
    error_status_code: str | None = None
    error_message: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    components: list[tuple[str, str]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    successes: list[dict[str, Any]] = field(default_factory=list)
    number_total: int = 0
    number_deployed: int = 0
    number_errors: int = 0

    @property
    def check_only(self) -> bool:
        return bool(self.options.get("checkOnly"))

    @property
    def rollback_on_error(self) -> bool:
        return bool(self.options.get("rollbackOnError", True))

    @property
    def success(self) -> bool:
        return self.status == "Succeeded"

    def advance(self, fake: FakeSalesforce) -> None:
        """One checkDeployStatus call's worth of progress."""
        if self.done:
            return
        self.polls += 1
        if self.polls <= self.org.deploy_polls_until_done:
            if self.polls == 1:
                self.status = "Pending"
            else:
                self.status = "InProgress"
                self.start_date = self.start_date or fake.now()
            return
        self.start_date = self.start_date or fake.now()
        _complete(self, fake)
        self.done = True
        self.completed_date = fake.now()


@dataclass
class _Planned:
    type: str
    name: str
    file_name: str
    data: dict[str, Any]
    secret: str | None = None
    created: bool = False


class _Context:
    def __init__(self, record: DeployRecord, fake: FakeSalesforce) -> None:
        self.record = record
        self.fake = fake
        self.org = record.org
        self.now = fake.now()
        self.planned: list[_Planned] = []

    def message(self, type_name: str | None, name: str, file_name: str, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "changed": False,
            "componentType": type_name,
            "created": False,
            "createdDate": self.now,
            "deleted": False,
            "fileName": file_name,
            "fullName": name,
            "success": False,
        }
        out.update(extra)
        return out

    def fail(
        self,
        type_name: str | None,
        name: str,
        file_name: str,
        problem: str,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        extra: dict[str, Any] = {"problem": problem, "problemType": "Error"}
        if line is not None:
            extra["lineNumber"] = line
            extra["columnNumber"] = column or 0
        self.record.failures.append(self.message(type_name, name, file_name, **extra))

    def key_taken(self, key: str, type_name: str, name: str) -> bool:
        if self.fake.collide_next_supplied_keys > 0:
            self.fake.collide_next_supplied_keys -= 1
            return True
        owner = self.fake.key_owner(key)
        if owner is not None and owner != (self.org, type_name, name):
            return True
        return any(
            p.data.get("consumerKey", (p.data.get("oauthConfig") or {}).get("consumerKey")) == key
            for p in self.planned
            if (p.type, p.name) != (type_name, name)
        )

    def secret_taken(self, secret: str, type_name: str, name: str) -> bool:
        for (t, n), value in self.org._secrets.items():
            if value == secret and (t, n) != (type_name, name):
                return True
        return any(p.secret == secret and (p.type, p.name) != (type_name, name) for p in self.planned)


def _complete(record: DeployRecord, fake: FakeSalesforce) -> None:
    if record.forced is not None:
        record.status = "Failed"
        record.error_status_code = record.forced.status_code
        record.error_message = record.forced.message
        return
    ctx = _Context(record, fake)
    entries = _collect(ctx)
    if entries is not None:
        for type_name, name, path in entries:
            _check_component(ctx, type_name, name, path)
    failed_components = {(m["componentType"], m["fullName"]) for m in record.failures}
    record.number_errors = len(failed_components)
    record.number_total = len(entries or []) or record.number_errors
    apply = not record.check_only and (not record.failures or not record.rollback_on_error)
    if record.failures and record.rollback_on_error:
        ctx.planned = []
    if apply:
        _apply(ctx)
    for planned in ctx.planned:
        record.successes.append(
            ctx.message(
                planned.type,
                planned.name,
                planned.file_name,
                success=True,
                created=planned.created,
                changed=not planned.created,
                id=fake_component_id(record.org, planned),
            )
        )
    if ctx.planned or not record.failures:
        record.successes.append(
            ctx.message(None, "package.xml", _package_path(record), success=True, changed=True)
        )
    record.number_deployed = len(ctx.planned)
    if not record.failures:
        record.status = "Succeeded"
    elif ctx.planned and not record.rollback_on_error:
        record.status = "SucceededPartial"
    else:
        record.status = "Failed"


def fake_component_id(org: FakeOrg, planned: _Planned) -> str | None:
    meta = org.component_meta(planned.type, planned.name)
    return meta.id if meta else None


def _package_path(record: DeployRecord) -> str:
    for path in record.files:
        if path.rsplit("/", 1)[-1] == "package.xml":
            return path
    return "package.xml"


def _collect(ctx: _Context) -> list[tuple[str, str, str]] | None:
    """Read the zip and package.xml; returns (type, fullName, path) per component."""
    record = ctx.record
    try:
        with zipfile.ZipFile(io.BytesIO(record.zip_bytes)) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    record.files[info.filename] = archive.read(info)
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        ctx.fail(None, "package.xml", "package.xml", f"Unable to read the zip file: {exc}")
        return None
    single = bool(record.options.get("singlePackage", True))
    prefix = ""
    if not single:
        roots = {p.split("/", 1)[0] for p in record.files if "/" in p}
        if len(roots) == 1 and f"{next(iter(roots))}/package.xml" in record.files:
            prefix = next(iter(roots)) + "/"
    package_path = prefix + "package.xml"
    if package_path not in record.files:
        ctx.fail(None, "package.xml", "package.xml", "No package.xml found")
        return None
    members = _read_package(ctx, record.files[package_path], package_path)
    if members is None:
        return None
    found: dict[tuple[str, str], str] = {}
    by_folder = {(folder, suffix): t for t, (folder, suffix) in FOLDERS.items()}
    for path in record.files:
        if path == package_path:
            continue
        rel = path[len(prefix) :] if path.startswith(prefix) else None
        folder, _, file_name = (rel or "").partition("/")
        stem, dot, suffix = file_name.rpartition(".")
        type_name = by_folder.get((folder, suffix)) if rel and dot and "/" not in file_name else None
        if type_name is None:
            ctx.fail(None, path, path, f"An unexpected file was found in the zip: {path}")
            continue
        found[(type_name, stem)] = path
    entries: list[tuple[str, str, str]] = []
    for type_name in TYPE_ORDER:
        listed = members.get(type_name, [])
        wildcard = "*" in listed
        for (t, name), path in sorted(found.items()):
            if t == type_name and not wildcard and name not in listed:
                ctx.fail(t, name, path, "Not in package.xml")
            elif t == type_name:
                entries.append((t, name, path))
        for name in listed:
            if name != "*" and (type_name, name) not in found:
                ctx.fail(
                    type_name,
                    name,
                    package_path,
                    f"An object '{name}' of type {type_name} was named in package.xml, "
                    "but was not found in zipped directory",
                )
    return entries


def _read_package(ctx: _Context, data: bytes, path: str) -> dict[str, list[str]] | None:
    problems, root = _parse_document(ctx, data, "Package")
    if root is None or problems:
        for problem in problems:
            ctx.fail(None, "package.xml", path, problem.message)
        return None
    parsed = element_to_dict(root, "Package")
    version = parsed.get("version", "").strip()
    if not re.fullmatch(r"\d+\.0", version):
        ctx.fail(None, "package.xml", path, f"Invalid version specified: {version}")
        return None
    if float(version) > MAX_PACKAGE_VERSION:
        ctx.fail(
            None,
            "package.xml",
            path,
            f"The specified API version {version} is not supported; the maximum is {MAX_PACKAGE_VERSION}",
        )
        return None
    members: dict[str, list[str]] = {}
    ok = True
    for entry in parsed.get("types", []):
        type_name = entry.get("name", "")
        if type_name not in FOLDERS:
            schema = ctx.fake.schema
            if schema is not None and schema.has_complex_type(type_name):
                text = f"The fake Salesforce does not model metadata type '{type_name}'"
            else:
                text = f"Unknown type name '{type_name}' specified in package.xml"
            ctx.fail(None, "package.xml", path, text)
            ok = False
            continue
        members.setdefault(type_name, []).extend(entry.get("members", []))
    return members if ok else None


def _parse_document(ctx: _Context, data: bytes, type_name: str) -> tuple[list[Problem], ET.Element | None]:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return [Problem(f"Error parsing file: {exc}")], None
    if root.tag != f"{{{MD_NS}}}{type_name}":
        return [
            Problem(f"Error parsing file: the root element must be {{{MD_NS}}}{type_name}, found {root.tag}")
        ], None
    problems = check_structure(root, type_name)
    if not problems and ctx.fake.schema is not None:
        problems = [Problem(m) for m in ctx.fake.schema.check_document(data)]
    return [Problem(("Error parsing file: " if p.parse_error else "") + p.message) for p in problems], root


def _check_component(ctx: _Context, type_name: str, name: str, path: str) -> None:
    record = ctx.record
    user = record.user
    document_type = type_name
    if type_name == "Settings":
        if name not in SETTINGS_MEMBERS:
            ctx.fail(type_name, name, path, f"The fake Salesforce does not model settings '{name}'")
            return
        document_type = SETTINGS_MEMBERS[name]
        if not user.has_any("CustomizeApplication", "ModifyAllData"):
            ctx.fail(type_name, name, path, SETTINGS_PERMISSION)
            return
    elif type_name == PERMISSION_SET:
        if not user.has_any("ManageProfilesPermissionsets", "ModifyAllData"):
            ctx.fail(type_name, name, path, PERMISSION_SET_PERMISSION)
            return
    elif type_name == "ConnectedApp":
        if not (
            user.has_any("CustomizeApplication") and user.has_any("ModifyAllData", "ManageConnectedApps")
        ):
            ctx.fail(type_name, name, path, CA_PERMISSION)
            return
    elif not user.has_any("ManageExternalClientApps", "ModifyAllData"):
        ctx.fail(type_name, name, path, ECA_PERMISSION)
        return
    problems, root = _parse_document(ctx, record.files[path], document_type)
    if root is None or problems:
        for problem in problems:
            ctx.fail(type_name, name, path, problem.message)
        return
    data = element_to_dict(root, document_type)
    data.pop("fullName", None)
    data = {"fullName": name, **data}
    if type_name == "Settings":
        ctx.planned.append(_Planned(document_type, name, path, data))
        return
    checker = {
        PERMISSION_SET: _permission_set,
        "ConnectedApp": _connected_app,
        ECA_HEADER: _eca_header,
        "ExtlClntAppOauthSettings": _eca_oauth_settings,
        "ExtlClntAppGlobalOauthSettings": _eca_global,
        "ExtlClntAppOauthConfigurablePolicies": _eca_oauth_policies,
        "ExtlClntAppConfigurablePolicies": _eca_plugin_policies,
    }[type_name]
    planned = _Planned(type_name, name, path, data)
    problems_text: list[str] = []
    if type_name in ECA_SATELLITES:
        problems_text.extend(_satellite_common(ctx, planned))
    if not problems_text:
        problems_text.extend(checker(ctx, planned))
    if problems_text:
        for text in problems_text:
            ctx.fail(type_name, name, path, text)
        return
    ctx.planned.append(planned)


def _enum_problem(value: Any, allowed: tuple[str, ...], enum: str) -> str | None:
    if value is not None and value not in allowed:
        return f"'{value}' is not a valid value for the enum '{enum}'"
    return None


def _credential_problems(ctx: _Context, planned: _Planned, key: str | None, secret: str | None) -> list[str]:
    out = []
    if key is not None:
        if not _CREDENTIAL.fullmatch(key):
            out.append(CREDENTIAL_FORMAT.format(what="consumer key"))
        elif ctx.key_taken(key, planned.type, planned.name):
            out.append(KEY_TAKEN)
    if secret is not None:
        if not _CREDENTIAL.fullmatch(secret):
            out.append(CREDENTIAL_FORMAT.format(what="consumer secret"))
        elif ctx.secret_taken(secret, planned.type, planned.name):
            out.append(DUPLICATE_SECRET)
    return out


def _connected_app(ctx: _Context, planned: _Planned) -> list[str]:
    org = ctx.org
    data = planned.data
    existing = org.connected_apps.get(planned.name)
    planned.created = existing is None
    if existing is None and not org.connected_app_creation_allowed:
        return [CONNECTED_APP_CREATION_BLOCKED]
    problems: list[str] = []
    cfg = data.get("oauthConfig")
    if cfg is not None:
        key = cfg.get("consumerKey")
        secret = cfg.pop("consumerSecret", None)
        old_key = ((existing or {}).get("oauthConfig") or {}).get("consumerKey")
        if existing is None or old_key is None:
            problems.extend(_credential_problems(ctx, planned, key, secret))
            cfg["consumerKey"] = key or new_consumer_key()
            planned.secret = secret or new_consumer_secret()
        else:
            same_ok = org.connected_app_update_accepts_same_key and key == old_key
            if key is not None and not same_ok:
                problems.append(NO_KEY)
            if secret is not None and org.connected_app_secret_on_update == "reject":
                problems.append(NO_SECRET)
            cfg["consumerKey"] = old_key
        if cfg.get("isClientCredentialEnabled") and not cfg.get("oauthClientCredentialUser"):
            problems.append("The client credentials flow needs a run-as user: set oauthClientCredentialUser.")
        run_as = cfg.get("oauthClientCredentialUser")
        if run_as:
            text = run_as_problem(run_as, org)
            if text:
                problems.append(text)
        for scope in cfg.get("scopes", []):
            text = _enum_problem(
                scope, FALLBACK_ENUMS["ConnectedAppOauthAccessScope"], "ConnectedAppOauthAccessScope"
            )
            if text:
                problems.append(text)
    policy = data.get("oauthPolicy")
    if policy is not None:
        value = policy.get("refreshTokenPolicy", "")
        if not CONNECTED_APP_POLICY.fullmatch(value):
            problems.append(
                f"'{value}' is not a valid refresh token policy. Use infinite, zero, "
                "specific_lifetime:<n>:HOURS|DAYS|MONTHS or specific_inactivity:<n>:HOURS|DAYS|MONTHS."
            )
        text = _enum_problem(policy.get("ipRelaxation"), IP_RELAXATION, "IpRelaxation")
        if text:
            problems.append(text)
    return problems


def _eca_header(ctx: _Context, planned: _Planned) -> list[str]:
    org = ctx.org
    existing = org.external_client_apps.get(planned.name, {}).get(ECA_HEADER)
    planned.created = existing is None
    scoped = planned.data.get("orgScopedExternalApp")
    if scoped is not None and scoped.split(":", 1)[0] not in (org.id, org.id[:15]):
        return [
            f"The orgScopedExternalApp value '{scoped}' belongs to another org. Remove it before deploying."
        ]
    if scoped is None:
        planned.data["orgScopedExternalApp"] = (existing or {}).get(
            "orgScopedExternalApp"
        ) or f"{org.id}:{planned.name}"
    return []


def _satellite_common(ctx: _Context, planned: _Planned) -> list[str]:
    org = ctx.org
    parent = planned.data["externalClientApplication"]
    if org.eca_satellites_need_existing_parent:
        parent_ok = parent in ctx.record.existing_ecas
    else:
        parent_ok = ECA_HEADER in org.external_client_apps.get(parent, {}) or any(
            (t, n) == (ECA_HEADER, parent) for t, n, _ in _entries_of(ctx)
        )
    if not parent_ok:
        return [
            f"The external client app '{parent}' doesn't exist. Deploy the ExternalClientApplication "
            "before its settings and policies."
        ]
    current = org.component(planned.type, planned.name)
    if current is not None and current.get("externalClientApplication") != parent:
        return [
            f"{planned.name} belongs to the external client app "
            f"'{current.get('externalClientApplication')}'; its externalClientApplication can't change."
        ]
    sibling = org.external_client_apps.get(parent, {}).get(planned.type)
    if sibling is not None and sibling["fullName"] != planned.name:
        return [
            f"The external client app '{parent}' already has a {planned.type} named "
            f"'{sibling['fullName']}'. Deploy changes to that component instead."
        ]
    for other in ctx.planned:
        if other.type == planned.type and other.data.get("externalClientApplication") == parent:
            return [
                f"The external client app '{parent}' already has a {planned.type} named "
                f"'{other.name}' in this deployment."
            ]
    planned.created = current is None
    return []


def _entries_of(ctx: _Context) -> list[tuple[str, str, str]]:
    out = []
    for path in ctx.record.files:
        for type_name, (folder, suffix) in FOLDERS.items():
            if path.startswith(f"{folder}/") and path.endswith(f".{suffix}"):
                out.append((type_name, path[len(folder) + 1 : -len(suffix) - 1], path))
    return out


def _eca_oauth_settings(ctx: _Context, planned: _Planned) -> list[str]:
    allowed = FALLBACK_ENUMS["ConnectedAppOauthAccessScope"]
    problems = []
    for scope in split_scopes(planned.data.get("commaSeparatedOauthScopes")):
        if scope not in allowed:
            problems.append(
                f"'{scope}' is not a valid value for the enum 'ConnectedAppOauthAccessScope'. "
                f"Valid values are: {', '.join(allowed)}"
            )
    return problems


def _eca_global(ctx: _Context, planned: _Planned) -> list[str]:
    org = ctx.org
    data = planned.data
    existing = org.component(planned.type, planned.name)
    key = data.get("consumerKey")
    secret = data.pop("consumerSecret", None)
    rotate_key = data.pop("shouldRotateConsumerKey", False)
    rotate_secret = data.pop("shouldRotateConsumerSecret", False)
    problems: list[str] = []
    if existing is None:
        if org.eca_supplied_credentials == "honour":
            problems.extend(_credential_problems(ctx, planned, key, secret))
        else:
            key = secret = None  # silently replaced by the org's own
        data["consumerKey"] = key if key and not problems else new_consumer_key()
        planned.secret = secret if secret and not problems else new_consumer_secret()
    else:
        old_key = existing.get("consumerKey")
        old_secret = org._secrets.get((planned.type, planned.name))
        if key is not None and key != old_key:
            problems.append(NO_KEY)
        if secret is not None and secret != old_secret:
            problems.append(NO_SECRET)
        data["consumerKey"] = new_consumer_key() if rotate_key else old_key
        if rotate_secret:
            planned.secret = new_consumer_secret()
    if "isPkceRequired" not in data or org.pkce_required_org_wide:
        data["isPkceRequired"] = True if org.pkce_required_org_wide else data.get("isPkceRequired", True)
    return problems


def _eca_oauth_policies(ctx: _Context, planned: _Planned) -> list[str]:
    data = planned.data
    problems = [
        p
        for p in (
            _enum_problem(data.get("ipRelaxationPolicyType"), ECA_IP_RELAXATION, "IpRelaxationPolicyType"),
            _enum_problem(data.get("refreshTokenValidityUnit"), VALIDITY_UNITS, "RefreshTokenValidityUnit"),
        )
        if p
    ]
    kind = data.get("refreshTokenPolicyType")
    if kind in ("SpecificLifetime", "SpecificInactivity") and (
        int(data.get("refreshTokenValidityPeriod") or 0) < 1 or not data.get("refreshTokenValidityUnit")
    ):
        problems.append(
            f"refreshTokenValidityPeriod (1 or more) and refreshTokenValidityUnit are required when "
            f"refreshTokenPolicyType is {kind}."
        )
    if data.get("isClientCredentialsFlowEnabled") and not data.get("clientCredentialsFlowUser"):
        problems.append("The client credentials flow needs a run-as user: set clientCredentialsFlowUser.")
    run_as = data.get("clientCredentialsFlowUser")
    if run_as:
        text = run_as_problem(run_as, ctx.org)
        if text:
            problems.append(text)
    return problems


def _eca_plugin_policies(ctx: _Context, planned: _Planned) -> list[str]:
    return []


def _permission_set(ctx: _Context, planned: _Planned) -> list[str]:
    planned.created = ctx.org.component(PERMISSION_SET, planned.name) is None
    granted = planned.data.get("userPermissions", [])
    names = [p.get("name") for p in (granted if isinstance(granted, list) else [granted])]
    if not all(isinstance(n, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", n) for n in names):
        return ["Permission set userPermissions need a name made of letters and digits."]
    return []


def _apply(ctx: _Context) -> None:
    org = ctx.org
    user = ctx.record.user
    ctx.planned.sort(key=lambda p: TYPE_ORDER.index("Settings" if p.type == ECA_SETTINGS else p.type))
    for planned in ctx.planned:
        org.put_component(planned.type, copy.deepcopy(planned.data), user=user, secret=planned.secret)
    if org.eca_auto_default_policy:
        for planned in ctx.planned:
            if planned.type != "ExtlClntAppGlobalOauthSettings" or not planned.created:
                continue
            parent = planned.data["externalClientApplication"]
            if "ExtlClntAppOauthConfigurablePolicies" in org.external_client_apps.get(parent, {}):
                continue
            org.put_component(
                "ExtlClntAppOauthConfigurablePolicies",
                {
                    "fullName": f"{parent}_defaultPolicy",
                    "externalClientApplication": parent,
                    "ipRelaxationPolicyType": "Enforce",
                    "isClientCredentialsFlowEnabled": False,
                    "permittedUsersPolicyType": "AllSelfAuthorized",
                    "refreshTokenPolicyType": "SpecificLifetime",
                    "refreshTokenValidityPeriod": 365,
                    "refreshTokenValidityUnit": "Days",
                    "requiredSessionLevel": "STANDARD",
                },
                user=user,
            )
