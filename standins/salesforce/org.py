"""The customer org model: users, deployed OAuth apps, OauthToken rows, switches.

Deployed apps are kept as plain dicts (see ``mdxml`` for the conversion rules):

* ``org.connected_apps[fullName]`` -> the ``ConnectedApp`` as deployed (``oauthConfig.consumerKey``
  filled in when the org generated it), never with ``consumerSecret``;
* ``org.external_client_apps[parentName]`` -> ``{type name: dict}`` with the header under
  ``"ExternalClientApplication"`` and each satellite under its own type name (each dict holds its
  ``fullName``); ``ExtlClntAppGlobalOauthSettings`` carries the ``consumerKey``, never the secret.

Secrets are kept apart: ``org.consumer_secret(name)`` returns the secret of a connected app or of
an External Client App's global OAuth settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .ids import (
    PREFIX_CONNECTED_APP,
    PREFIX_ECA,
    PREFIX_ECA_SATELLITE,
    PREFIX_OAUTH_CONSUMER,
    PREFIX_OAUTH_TOKEN,
    PREFIX_PERMISSION_SET,
    PREFIX_PERMISSION_SET_ASSIGNMENT,
    PREFIX_STAGED_CREDENTIAL,
    PREFIX_USER,
    new_consumer_key,
    new_consumer_secret,
    new_opaque,
    same_id,
)
from .tokens import OAuthClient, RefreshPolicy

if TYPE_CHECKING:
    from .metadata_rules import DeployRecord
    from .server import FakeSalesforce
    from .tokens import RefreshFamily

ADMIN_PERMISSIONS = frozenset(
    {
        "ModifyAllData",
        "CustomizeApplication",
        "ManageConnectedApps",
        "ModifyMetadata",
        "ApproveUninstalledConnectedApps",
        "ManageExternalClientApps",
        "AssignPermissionSets",
    }
)
"""A System Administrator's permissions. Not the External Client App ones of ``ECA_CREDENTIAL_PERMISSIONS``:
Salesforce grants those only through a permission set (reference §5.1)."""

ECA_CREDENTIAL_PERMISSIONS = (
    "ExternalClientAppAdmin", "ExternalClientAppDeveloper", "ExternalClientAppViewer", "ViewClientSecret",
)
ECA_VIEW_PERMISSIONS = ("ExternalClientAppAdmin", "ExternalClientAppDeveloper", "ExternalClientAppViewer")

ECA_SETTINGS = "ExternalClientAppSettings"
#: ``Settings`` member name -> the type of its document (``settings/<member>.settings``).
SETTINGS_MEMBERS = {"ExternalClientApp": ECA_SETTINGS}
PERMISSION_SET = "PermissionSet"

ECA_HEADER = "ExternalClientApplication"
ECA_SATELLITES = (
    "ExtlClntAppOauthSettings",
    "ExtlClntAppGlobalOauthSettings",
    "ExtlClntAppOauthConfigurablePolicies",
    "ExtlClntAppConfigurablePolicies",
)
ECA_TYPES = (ECA_HEADER, *ECA_SATELLITES)

#: metadata scope name -> OAuth scope strings it grants on the wire.
WIRE_SCOPES: dict[str, tuple[str, ...]] = {
    "Basic": ("id",),
    "Api": ("api",),
    "Web": ("web",),
    "Full": ("full",),
    "Chatter": ("chatter_api",),
    "CustomApplications": ("visualforce",),
    "RefreshToken": ("refresh_token", "offline_access"),
    "OfflineAccess": ("refresh_token", "offline_access"),
    "OpenID": ("openid",),
    "Profile": ("profile",),
    "Email": ("email",),
    "Address": ("address",),
    "Phone": ("phone",),
    "CustomPermissions": ("custom_permissions",),
    "Wave": ("wave_api",),
    "Eclair": ("eclair_api",),
    "Pardot": ("pardot_api",),
    "Lightning": ("lightning",),
    "Content": ("content",),
    "CDPIngest": ("cdp_ingest_api",),
    "CDPProfile": ("cdp_profile_api",),
    "CDPQuery": ("cdp_query_api",),
    "Chatbot": ("chatbot_api",),
    "CDPSegment": ("cdp_segment_api",),
    "CDPIdentityResolution": ("cdp_identityresolution_api",),
    "CDPCalculatedInsight": ("cdp_calculated_insight_api",),
    "ForgotPassword": ("forgot_password",),
    "UserRegistration": ("user_registration_api",),
    "SFAP": ("sfap_api",),
    "Interaction": ("interaction_api",),
    "CDP": ("cdp_api",),
    "EinsteinGPT": ("einstein_gpt_api",),
    "PwdlessLogin": ("pwdless_login_api",),
}

#: read-back folding of scope aliases (UNCONFIRMED upstream; see ``FakeOrg.normalize_scopes_on_read``).
SCOPE_READ_ALIASES = {
    "OfflineAccess": "RefreshToken",
    "Profile": "Basic",
    "Email": "Basic",
    "Address": "Basic",
    "Phone": "Basic",
}


def wire_scopes(metadata_scopes: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for scope in metadata_scopes:
        out.update(WIRE_SCOPES.get(scope, ()))
    return frozenset(out)


def split_scopes(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


@dataclass(eq=False)
class FakeUser:
    """A user of a fake org."""

    id: str
    username: str
    org: FakeOrg
    permissions: set[str]
    api_only: bool = False
    active: bool = True
    first_name: str = "Ada"
    last_name: str = "Admin"
    email: str = ""
    email_verified: bool = True
    """False: the user changed the address and has not confirmed the new one yet."""
    user_type: str = "Standard"

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def has_any(self, *permissions: str) -> bool:
        """Held through the profile or through an assigned permission set."""
        held = self.permissions | self.org.assigned_permissions(self)
        return any(p in held for p in permissions)


STAGED_LIFETIME = timedelta(days=30)
"""Staged credentials, and the former ones a rotation leaves in the staged slot, live 30 days (reference §5)."""


@dataclass(eq=False)
class StagedCredential:
    """The one staged credential set of an External Client App's consumer (Connect REST, API 65.0+)."""

    id: str
    key: str
    secret: str
    rotated: bool
    """False: new credentials waiting to be promoted; True: the former primary, still valid until it expires."""
    created: datetime
    created_by: FakeUser
    expires: datetime

    def state(self, now: datetime) -> str:
        if now >= self.expires:
            return "Expired"
        return "Rotated" if self.rotated else "Active"


@dataclass(eq=False)
class OauthTokenRow:
    """One row of the ``OauthToken`` object."""

    id: str
    org: FakeOrg
    app_name: str
    user_id: str
    created: datetime
    last_used: datetime | None
    use_count: int
    delete_token: str
    family_id: str | None = None


@dataclass(eq=False)
class PermissionSetAssignment:
    """One ``PermissionSetAssignment`` row."""

    id: str
    assignee_id: str
    permission_set_id: str


@dataclass
class ComponentMeta:
    id: str
    created_by: FakeUser
    created_date: datetime
    modified_by: FakeUser
    modified_date: datetime


@dataclass
class CallFailure:
    key: str
    fault: str
    message: str
    remaining: int


@dataclass
class ForcedDeployFailure:
    status_code: str
    message: str


class FakeOrg:
    """A customer org: its users, apps, tokens and the switches tests flip.

    Switches (attributes, set them directly):

    ``connected_app_creation_allowed`` (False)
        Spring '26: deploying a *new* ConnectedApp fails unless True; updates always work.
    ``eca_supplied_credentials`` ("ignore")
        What a ``consumerKey``/``consumerSecret`` supplied in a new ExtlClntAppGlobalOauthSettings does.
        "ignore" (the field evidence, reference §5.1): the deploy succeeds and the org generates its own
        (read back via readMetadata / Connect REST); "honour": the supplied values are used (sfdx-hardis'
        reading).
    ``require_api_only_run_as`` (False)
        True: client-credentials run-as users must be API-only (deploy and token time).
    ``client_secret_rest_access`` (False)
        ``ExternalClientAppSettings.enableClientSecretInRestApiAccess`` (also deployable as ``Settings``
        member ``ExternalClientApp``, see ``eca_settings``); False -> the Connect REST credentials
        resources answer 403 FUNCTIONALITY_NOT_ENABLED.  Even when on, they also need one of
        ``ECA_VIEW_PERMISSIONS`` (and ``ViewClientSecret`` for a secret), which only a permission set
        grants (``permission_sets`` deployed as metadata, ``permission_set_assignments`` made over REST).
    ``deploy_polls_until_done`` (2)
        checkDeployStatus calls answering ``done=false`` before the deploy completes (Pending, then
        InProgress); the next call completes it.
    ``consent`` ("allow")
        "deny": the authorize endpoint redirects with ``error=access_denied``.
    ``token_error`` (None)
        e.g. ``("invalid_client", "app must be installed into org")``: the authorization_code grant
        fails with it for this org.
    ``installed_clients`` (every registered client)
        client ids installed in the org: drives ``is_app_installed`` and, for users without
        "ApproveUninstalledConnectedApps", refuses authorization (``error=invalid_client``,
        ``app must be installed into org``).  Apps deployed in the org count as installed.
    ``eca_satellites_need_existing_parent`` (False)
        False: a satellite's ExternalClientApplication may be in the same deploy (Salesforce orders them;
        sfdx-hardis restores header and settings in one manifest). True: it must have existed before the
        deploy started (a stricter reading of "deploy the parent first", kept for tests).
    ``connected_app_update_accepts_same_key`` (False)
        True: re-sending the *current* consumerKey on an update is accepted.
    ``connected_app_secret_on_update`` ("reject")
        "reject": a consumerSecret on an update fails ("You cannot provide a Consumer Secret");
        "ignore": it is silently dropped (the stored secret stays).
    ``pkce_required_org_wide`` (False)
        ``OauthOidcSettings.isPkceRequired``: when True an ECA's ``isPkceRequired=false`` does not stick.
    ``normalize_scopes_on_read`` (True)
        readMetadata folds scope aliases (OfflineAccess -> RefreshToken; Profile/Email/Address/Phone
        -> Basic).  UNCONFIRMED upstream.
    ``oauth_token_includes_eca`` (False)
        refresh tokens of External Client Apps are listed only in the Connect REST OAuth Usage resources
        (``apps/oauth/usage/<appId>/...``), as Salesforce documents; True lists them in ``OauthToken``
        too (UNCONFIRMED upstream, kept for the other reading).
    ``oauth_usage_page_size`` (100)
        users per page of ``apps/oauth/usage/<appId>/users`` when the request names no ``pageSize``.
    ``eca_auto_default_policy`` (False)
        True: creating ExtlClntAppGlobalOauthSettings for an app without OAuth policies also creates
        ``<App>_defaultPolicy`` (SpecificLifetime 365 Days, AllSelfAuthorized, Enforce, STANDARD).
    ``read_missing`` ("absent")
        readMetadata for a missing name: "absent" leaves it out of ``records``; "empty" returns a
        bare ``<records/>`` (type tns:Metadata, no fullName), the other schema-valid form.
    ``query_batch_size`` (2000)
        records per SOQL answer; the rest wait behind ``nextRecordsUrl`` (``/query/<locator>-<offset>``).
    ``credentials_propagation`` (2 minutes)
        how long new or changed consumer credentials (a deploy that creates the app or sets its key or
        secret) answer a client-credentials request with ``invalid_client_id`` / ``client identifier
        invalid`` while Salesforce propagates them (reference §1.7: "wait a few minutes"; the length is
        UNCONFIRMED, 2 minutes is the conservative reading). ``timedelta(0)``: usable at once. Seeded apps
        existed before the test and are always propagated.
    ``setup_edit_recorded_on`` ("component")
        Which component's ``lastModifiedByName``/``lastModifiedDate`` (listMetadata) an edit in Setup
        (``change_in_setup``) updates for an External Client App: "component", the one whose fields changed;
        "header", the app's ExternalClientApplication (Setup edits the app as one page; which component
        Salesforce stamps is UNCONFIRMED).
    ``staged_states_lowercase`` (False)
        the ``state`` of staged credentials as the Connect REST reference spells it (``Active``, ``Rotated``,
        ``Expired``); True: lower case, as sfdx-hardis and Infisical write it (``rotated``). UNCONFIRMED which.
    ``rotation_renews_staged_id`` (False)
        after ``rotate`` the former credentials keep the staged set's id in the slot; True: they get a new id
        (UNCONFIRMED; a client must list the slot again rather than reuse the id).
    ``client_credentials_refuse_pkce`` (True)
        a client-credentials request for an app that requires PKCE fails (``invalid_request`` / ``PKCE is
        required for this app``; reference §1.7 reports failures, the words are UNCONFIRMED). False: PKCE
        only matters for the web server flow.
    """

    def __init__(
        self,
        fake: FakeSalesforce,
        *,
        org_id: str,
        name: str,
        is_sandbox: bool,
        edition: str,
        instance_name: str,
    ) -> None:
        self._fake = fake
        self.id = org_id
        self.name = name
        self.is_sandbox = is_sandbox
        self.edition = edition
        self.instance_name = instance_name
        self.my_domain_url = ""
        self.users: list[FakeUser] = []
        self.connected_apps: dict[str, dict[str, Any]] = {}
        self.external_client_apps: dict[str, dict[str, dict[str, Any]]] = {}
        self.oauth_tokens: list[OauthTokenRow] = []
        self.deploys: list[DeployRecord] = []
        self.installed_clients: set[str] = set(fake.clients)
        # switches
        self.connected_app_creation_allowed = False
        self.eca_supplied_credentials = "ignore"
        self.require_api_only_run_as = False
        self.eca_settings: dict[str, Any] = {
            "fullName": "ExternalClientApp",
            "enableClientSecretInRestApiAccess": False,
            "enableConsumerSecretApiAccess": False,
            "enablePackageEcaOauthFromDevOrg": False,
        }
        self.permission_sets: dict[str, dict[str, Any]] = {}
        self.permission_set_assignments: list[PermissionSetAssignment] = []
        self.deploy_polls_until_done = 2
        self.consent = "allow"
        self.token_error: tuple[str, str] | None = None
        self.eca_satellites_need_existing_parent = False
        self.connected_app_update_accepts_same_key = False
        self.connected_app_secret_on_update = "reject"
        self.pkce_required_org_wide = False
        self.normalize_scopes_on_read = True
        self.oauth_token_includes_eca = False
        self.oauth_usage_page_size = 100
        self.eca_auto_default_policy = False
        self.read_missing = "absent"
        self.query_batch_size = 2000
        self.credentials_propagation = timedelta(minutes=2)
        self.client_credentials_refuse_pkce = True
        self.setup_edit_recorded_on = "component"
        self.staged_states_lowercase = False
        self.rotation_renews_staged_id = False
        self.query_locators: dict[str, list[dict[str, Any]]] = {}
        # internals
        self._secrets: dict[tuple[str, str], str] = {}
        self._meta: dict[tuple[str, str], ComponentMeta] = {}
        self._consumer_ids: dict[str, str] = {}
        self._call_failures: list[CallFailure] = []
        self._deploy_failures: list[ForcedDeployFailure] = []
        self._credentials_issued: dict[str, datetime] = {}
        self.staged: dict[str, StagedCredential] = {}
        """External Client App name -> its consumer's staged set (only one may exist)."""

    def __repr__(self) -> str:
        return f"<FakeOrg {self.name} {self.id}{' sandbox' if self.is_sandbox else ''}>"

    @property
    def client_secret_rest_access(self) -> bool:
        return bool(self.eca_settings.get("enableClientSecretInRestApiAccess"))

    @client_secret_rest_access.setter
    def client_secret_rest_access(self, value: bool) -> None:
        self.eca_settings["enableClientSecretInRestApiAccess"] = value

    # ----- permission sets -----

    def permission_set_id(self, name: str) -> str | None:
        meta = self._meta.get((PERMISSION_SET, name))
        return meta.id if meta else None

    def permission_set_by_id(self, permission_set_id: str) -> dict[str, Any] | None:
        for name in self.permission_sets:
            found = self.permission_set_id(name)
            if found and same_id(found, permission_set_id):
                return self.permission_sets[name]
        return None

    def assigned_permissions(self, user: FakeUser) -> set[str]:
        held: set[str] = set()
        for assignment in self.permission_set_assignments:
            if not same_id(assignment.assignee_id, user.id):
                continue
            permission_set = self.permission_set_by_id(assignment.permission_set_id) or {}
            held.update(p["name"] for p in permission_set.get("userPermissions", []) if p["enabled"])
        return held

    def seed_permission_set(
        self, name: str, *, permissions: Iterable[str], assignee: FakeUser | None = None
    ) -> str:
        """Create a permission set granting ``permissions`` (and assign it to ``assignee``); returns its id."""
        data = {
            "fullName": name,
            "label": name,
            "userPermissions": [{"enabled": True, "name": p} for p in permissions],
        }
        self.put_component(PERMISSION_SET, data, user=self.admin)
        permission_set_id = self.permission_set_id(name)
        assert permission_set_id is not None
        if assignee is not None:
            self.assign_permission_set(user=assignee, permission_set_id=permission_set_id)
        return permission_set_id

    def assign_permission_set(self, *, user: FakeUser, permission_set_id: str) -> PermissionSetAssignment:
        assignment = PermissionSetAssignment(
            self._fake.ids.new(PREFIX_PERMISSION_SET_ASSIGNMENT), user.id, permission_set_id
        )
        self.permission_set_assignments.append(assignment)
        return assignment

    # ----- hosts -----

    @property
    def my_domain_host(self) -> str:
        return self.my_domain_url.split("://", 1)[1]

    # ----- users -----

    @property
    def admin(self) -> FakeUser:
        return self.users[0]

    def add_user(
        self,
        *,
        username: str,
        permissions: Iterable[str] = (),
        api_only: bool = False,
        active: bool = True,
        first_name: str = "Test",
        last_name: str = "User",
        email: str | None = None,
    ) -> FakeUser:
        """Add a user; usernames are unique across the whole fake, as in Salesforce."""
        if self._fake.find_user(username) is not None:
            raise ValueError(f"username {username!r} is already taken")
        user = FakeUser(
            id=self._fake.ids.new(PREFIX_USER),
            username=username,
            org=self,
            permissions=set(permissions),
            api_only=api_only,
            active=active,
            first_name=first_name,
            last_name=last_name,
            email=email or username,
        )
        self.users.append(user)
        return user

    def user(self, username: str) -> FakeUser | None:
        for user in self.users:
            if user.username.lower() == username.lower():
                return user
        return None

    def user_by_id(self, user_id: str) -> FakeUser | None:
        for user in self.users:
            if same_id(user.id, user_id):
                return user
        return None

    # ----- sessions and tokens -----

    def new_query_locator(self, records: list[dict[str, Any]]) -> str:
        """Keep a query's records behind a locator (`01g…`) for `nextRecordsUrl` paging."""
        locator = self._fake.ids.new("01g")
        self.query_locators[locator] = records
        return locator

    def expire_sessions(self) -> int:
        """Invalidate every current access token of the org (refresh tokens keep working)."""
        return self._fake.tokens.expire_org_sessions(self)

    def add_oauth_token(
        self,
        *,
        app_name: str,
        user: FakeUser,
        created: datetime,
        last_used: datetime | None = None,
        use_count: int = 0,
    ) -> OauthTokenRow:
        """Seed an ``OauthToken`` row (its ``delete_token`` works with /services/oauth2/revoke)."""
        row = OauthTokenRow(
            id=self._fake.ids.new(PREFIX_OAUTH_TOKEN),
            org=self,
            app_name=app_name,
            user_id=user.id,
            created=created,
            last_used=last_used,
            use_count=use_count,
            delete_token=new_opaque(32),
        )
        self.oauth_tokens.append(row)
        return row

    def remove_oauth_token_row(self, row: OauthTokenRow) -> None:
        if row in self.oauth_tokens:
            self.oauth_tokens.remove(row)

    def list_grant(self, family: RefreshFamily, client: OAuthClient) -> None:
        """Show a new grant where Salesforce shows it: an External Client App's in its OAuth Usage (and in
        ``OauthToken`` only with ``oauth_token_includes_eca``), any other app's in ``OauthToken``."""
        if client.kind == ECA_HEADER:
            family.eca_name = client.app_name
            family.usage_id = self._fake.ids.new(PREFIX_OAUTH_TOKEN)
            if not self.oauth_token_includes_eca:
                return
        row = self.add_oauth_token(app_name=client.label, user=family.user, created=family.created,
                                   last_used=family.last_used, use_count=family.use_count)
        row.family_id = family.id
        family.row = row

    def issue_app_token(
        self, app_name: str, *, user: FakeUser, created: datetime, last_used: datetime | None = None
    ) -> str:
        """A refresh token of the app deployed here as ``app_name`` (ConnectedApp or External Client App),
        as if ``user`` had authorized it at ``created``: listed as ``list_grant`` says, and usable."""
        if app_name in self.connected_apps:
            key = (self.connected_apps[app_name].get("oauthConfig") or {}).get("consumerKey")
        else:
            key = self.external_client_apps.get(app_name, {}).get("ExtlClntAppGlobalOauthSettings", {}).get(
                "consumerKey")
        client = self.app_client(key) if key else None
        if client is None:
            raise ValueError(f"no app {app_name!r} that can issue tokens in {self.name}")
        family = self._fake.tokens.new_family(org=self, user=user, client_key=client.key,
                                              scopes=tuple(sorted(client.scopes)), now=created)
        family.last_used, family.use_count = last_used or created, 1
        self.list_grant(family, client)
        return family.current

    def usage_tokens(self, app_name: str) -> list[RefreshFamily]:
        """The live refresh tokens of External Client App ``app_name``, oldest first (its OAuth Usage)."""
        return [family for family in self._fake.tokens.families.values()
                if family.org is self and family.eca_name == app_name and not family.revoked]

    # ----- failure injection -----

    def fail_next_deploy(
        self,
        *,
        status_code: str = "ALREADY_IN_PROCESS",
        message: str = "Admin setup is temporarily locked by another operation. Try again later.",
    ) -> None:
        """The next deploy ends Failed with ``errorStatusCode``/``errorMessage`` and no component work.

        ``status_code`` must be a value of the WSDL's ``StatusCode`` enum (checked when it is loaded).
        """
        schema = self._fake.schema
        if schema is not None:
            codes = schema.enum_values("StatusCode") or ()
            if status_code not in codes:
                raise ValueError(f"{status_code!r} is not a StatusCode value")
        self._deploy_failures.append(ForcedDeployFailure(status_code, message))

    def fail_next_call(
        self,
        operation_or_route: str,
        *,
        fault: str = "REQUEST_LIMIT_EXCEEDED",
        message: str | None = None,
        count: int = 1,
    ) -> None:
        """Fail the next ``count`` calls of a SOAP operation (``"deploy"``) or REST resource
        (``"query"``, ``"apps/oauth/credentials"``; prefix match) with ``fault``.

        SOAP: HTTP 500 fault ``sf:<fault>``; REST: HTTP 403 ``[{"errorCode": fault, ...}]``.
        """
        text = message or ("TotalRequests Limit exceeded." if fault == "REQUEST_LIMIT_EXCEEDED" else fault)
        self._call_failures.append(CallFailure(operation_or_route, fault, text, count))

    def take_call_failure(self, key: str) -> CallFailure | None:
        for failure in self._call_failures:
            if failure.remaining > 0 and (key == failure.key or key.startswith(failure.key)):
                failure.remaining -= 1
                if failure.remaining == 0:
                    self._call_failures.remove(failure)
                return failure
        return None

    def take_deploy_failure(self) -> ForcedDeployFailure | None:
        return self._deploy_failures.pop(0) if self._deploy_failures else None

    # ----- apps: lookups -----

    def consumer_secret(self, name: str) -> str | None:
        """Secret of connected app ``name`` or of External Client App ``name`` (its global settings)."""
        if name in self.connected_apps:
            return self._secrets.get(("ConnectedApp", name))
        parts = self.external_client_apps.get(name, {})
        glob = parts.get("ExtlClntAppGlobalOauthSettings")
        if glob is not None:
            return self._secrets.get(("ExtlClntAppGlobalOauthSettings", glob["fullName"]))
        return None

    def component(self, type_name: str, full_name: str) -> dict[str, Any] | None:
        """The stored dict of one component (any of the supported types), or None."""
        if type_name == ECA_SETTINGS:
            return self.eca_settings if full_name == "ExternalClientApp" else None
        if type_name == PERMISSION_SET:
            return self.permission_sets.get(full_name)
        if type_name == "ConnectedApp":
            return self.connected_apps.get(full_name)
        if type_name == ECA_HEADER:
            return self.external_client_apps.get(full_name, {}).get(ECA_HEADER)
        for parts in self.external_client_apps.values():
            data = parts.get(type_name)
            if data is not None and data.get("fullName") == full_name:
                return data
        return None

    def components(self, type_name: str) -> list[dict[str, Any]]:
        if type_name == ECA_SETTINGS:
            return [self.eca_settings]
        if type_name == PERMISSION_SET:
            return list(self.permission_sets.values())
        if type_name == "ConnectedApp":
            return list(self.connected_apps.values())
        return [parts[type_name] for parts in self.external_client_apps.values() if type_name in parts]

    def component_meta(self, type_name: str, full_name: str) -> ComponentMeta | None:
        return self._meta.get((type_name, full_name))

    def eca_id(self, name: str) -> str | None:
        meta = self._meta.get((ECA_HEADER, name))
        return meta.id if meta else None

    def eca_consumer_id(self, name: str) -> str | None:
        return self._consumer_ids.get(name)

    def consumer_keys(self) -> dict[str, tuple[str, str]]:
        """consumerKey -> (type, fullName) for every app of the org."""
        out: dict[str, tuple[str, str]] = {}
        for name, data in self.connected_apps.items():
            key = (data.get("oauthConfig") or {}).get("consumerKey")
            if key:
                out[key] = ("ConnectedApp", name)
        for parts in self.external_client_apps.values():
            glob = parts.get("ExtlClntAppGlobalOauthSettings")
            if glob and glob.get("consumerKey"):
                out[glob["consumerKey"]] = ("ExtlClntAppGlobalOauthSettings", glob["fullName"])
        return out

    def app_client(self, key: str) -> OAuthClient | None:
        """The OAuth client view of the app with consumer key ``key`` in this org: its primary credentials, or
        the former ones a rotation left valid (``Rotated`` and not yet expired)."""
        for app_name, staged in self.staged.items():
            if staged.key == key and staged.state(self._fake.now()) == "Rotated":
                glob = self.external_client_apps.get(app_name, {}).get("ExtlClntAppGlobalOauthSettings", {})
                primary = self._primary_client(glob.get("consumerKey") or "")
                return None if primary is None else replace(primary, key=staged.key, secret=staged.secret)
        return self._primary_client(key)

    def _primary_client(self, key: str) -> OAuthClient | None:
        owner = self.consumer_keys().get(key)
        if owner is None:
            return None
        type_name, name = owner
        secret = self._secrets.get(owner, "")
        if type_name == "ConnectedApp":
            app = self.connected_apps[name]
            cfg = app.get("oauthConfig") or {}
            policy = app.get("oauthPolicy") or {}
            return OAuthClient(
                key=key,
                secret=secret,
                label=app.get("label", name),
                redirect_uris=_callbacks(cfg.get("callbackUrl")),
                pkce_required=bool(cfg.get("isPkceRequired", False)),
                scopes=wire_scopes(cfg.get("scopes", [])),
                refresh_policy=RefreshPolicy.parse(policy.get("refreshTokenPolicy", "infinite")),
                rotate_refresh_tokens=bool(cfg.get("isRefreshTokenRotationEnabled", False)),
                secret_required_for_refresh=bool(cfg.get("isSecretRequiredForRefreshToken", True)),
                secret_optional=bool(cfg.get("isConsumerSecretOptional", False)),
                org=self,
                kind="ConnectedApp",
                app_name=name,
                client_credentials_enabled=bool(cfg.get("isClientCredentialEnabled", False)),
                client_credentials_user=cfg.get("oauthClientCredentialUser"),
            )
        parent = next(
            p
            for p, parts in self.external_client_apps.items()
            if parts.get("ExtlClntAppGlobalOauthSettings", {}).get("fullName") == name
        )
        parts = self.external_client_apps[parent]
        header = parts.get(ECA_HEADER, {})
        glob = parts["ExtlClntAppGlobalOauthSettings"]
        settings = parts.get("ExtlClntAppOauthSettings", {})
        policies = parts.get("ExtlClntAppOauthConfigurablePolicies", {})
        plugin = parts.get("ExtlClntAppConfigurablePolicies", {})
        if plugin and (not plugin.get("isEnabled", True) or not plugin.get("isOauthPluginEnabled", True)):
            return None
        return OAuthClient(
            key=key,
            secret=secret,
            label=header.get("label", parent),
            redirect_uris=_callbacks(glob.get("callbackUrl")),
            pkce_required=bool(glob.get("isPkceRequired", True)),
            scopes=wire_scopes(split_scopes(settings.get("commaSeparatedOauthScopes"))),
            refresh_policy=RefreshPolicy.from_eca(
                policies.get("refreshTokenPolicyType"),
                policies.get("refreshTokenValidityPeriod"),
                policies.get("refreshTokenValidityUnit"),
            ),
            rotate_refresh_tokens=bool(glob.get("isRefreshTokenRotationEnabled", False)),
            secret_required_for_refresh=bool(glob.get("isSecretRequiredForRefreshToken", True)),
            secret_optional=bool(glob.get("isConsumerSecretOptional", False)),
            org=self,
            kind=ECA_HEADER,
            app_name=parent,
            client_credentials_enabled=bool(glob.get("isClientCredentialsFlowEnabled", False))
            and bool(policies.get("isClientCredentialsFlowEnabled", False)),
            client_credentials_user=policies.get("clientCredentialsFlowUser"),
        )

    # ----- apps: writes (used by deploys and seeds) -----

    def put_component(
        self, type_name: str, data: dict[str, Any], *, user: FakeUser, secret: str | None = None
    ) -> tuple[str, bool]:
        """Store one component; returns (record id, created)."""
        name = data["fullName"]
        now = self._fake.now()
        meta = self._meta.get((type_name, name))
        created = meta is None
        self._note_credentials(type_name, name, data, secret=secret, now=now)
        if created:
            prefix = {
                "ConnectedApp": PREFIX_CONNECTED_APP,
                ECA_HEADER: PREFIX_ECA,
                PERMISSION_SET: PREFIX_PERMISSION_SET,
            }.get(type_name, PREFIX_ECA_SATELLITE)
            meta = ComponentMeta(self._fake.ids.new(prefix), user, now, user, now)
            self._meta[(type_name, name)] = meta
        else:
            assert meta is not None
            meta.modified_by, meta.modified_date = user, now
        if secret is not None:
            self._secrets[(type_name, name)] = secret
        if type_name == ECA_SETTINGS:
            # A settings file changes the fields it names and leaves the others as they are.
            self.eca_settings.update(
                {k: v in (True, "true", "1") if k != "fullName" else v for k, v in data.items()}
            )
        elif type_name == PERMISSION_SET:
            granted = data.get("userPermissions", [])
            data["userPermissions"] = [
                {"enabled": p.get("enabled") in (True, "true", "1"), "name": p.get("name", "")}
                for p in (granted if isinstance(granted, list) else [granted])
            ]
            self.permission_sets[name] = data
        elif type_name == "ConnectedApp":
            self.connected_apps[name] = data
        elif type_name == ECA_HEADER:
            self.external_client_apps.setdefault(name, {})[ECA_HEADER] = data
        else:
            parent = data["externalClientApplication"]
            self.external_client_apps.setdefault(parent, {})[type_name] = data
            if type_name == "ExtlClntAppGlobalOauthSettings" and parent not in self._consumer_ids:
                self._consumer_ids[parent] = self._fake.ids.new(PREFIX_OAUTH_CONSUMER)
        return meta.id, created

    def _note_credentials(
        self, type_name: str, name: str, data: dict[str, Any], *, secret: str | None, now: datetime
    ) -> None:
        """Start the propagation time of credentials that are new or changed by this write."""
        if type_name not in ("ConnectedApp", "ExtlClntAppGlobalOauthSettings"):
            return
        key, old_key = _consumer_key(type_name, data), _consumer_key(type_name, self.component(type_name, name))
        changed_secret = secret is not None and secret != self._secrets.get((type_name, name))
        if key and (key != old_key or changed_secret):
            self._credentials_issued[key] = now

    # ----- staged credentials (Connect REST, API 65.0+) -----

    def stage_credentials(self, app_name: str, *, user: FakeUser) -> StagedCredential | None:
        """New credentials in the consumer's staged slot; None when the slot is taken (only one set may exist,
        whatever its state, until it is deleted)."""
        if app_name in self.staged:
            return None
        now = self._fake.now()
        staged = StagedCredential(id=self._fake.ids.new(PREFIX_STAGED_CREDENTIAL), key=new_consumer_key(),
                                  secret=new_consumer_secret(), rotated=False, created=now, created_by=user,
                                  expires=now + STAGED_LIFETIME)
        self.staged[app_name] = staged
        return staged

    def promote_staged(self, app_name: str, *, user: FakeUser) -> StagedCredential | None:
        """``rotate``: the staged set becomes the primary, and the former primary takes the staged slot as
        ``Rotated``, valid for 30 more days. None when the slot holds no ``Active`` set."""
        staged = self.staged.get(app_name)
        glob = self.external_client_apps.get(app_name, {}).get("ExtlClntAppGlobalOauthSettings")
        now = self._fake.now()
        if staged is None or glob is None or staged.state(now) != "Active":
            return None
        slot = ("ExtlClntAppGlobalOauthSettings", glob["fullName"])
        former_id = self._fake.ids.new(PREFIX_STAGED_CREDENTIAL) if self.rotation_renews_staged_id else staged.id
        former = StagedCredential(id=former_id, key=glob["consumerKey"], secret=self._secrets.get(slot, ""),
                                  rotated=True, created=now, created_by=user, expires=now + STAGED_LIFETIME)
        glob["consumerKey"], self._secrets[slot] = staged.key, staged.secret
        self.staged[app_name] = former
        self.credentials_changed(staged.key)
        return former

    def credentials_changed(self, key: str) -> None:
        """Credentials changed outside a deploy (a rotation): they propagate again from now."""
        self._credentials_issued[key] = self._fake.now()

    def credentials_propagated(self, key: str) -> bool:
        issued = self._credentials_issued.get(key)
        return issued is None or self._fake.now() - issued >= self.credentials_propagation

    def delete_component(self, type_name: str, full_name: str) -> tuple[str, str] | None:
        """Delete one component as ``deleteMetadata`` does; (statusCode, message) when refused."""
        data = self.component(type_name, full_name)
        if data is None:
            return "INVALID_CROSS_REFERENCE_KEY", f"no {type_name} named {full_name} found"
        if type_name == ECA_SETTINGS:
            return "INVALID_OPERATION", "Settings can't be deleted."
        if type_name == PERMISSION_SET:
            permission_set_id = self.permission_set_id(full_name) or ""
            if any(same_id(a.permission_set_id, permission_set_id) for a in self.permission_set_assignments):
                return "DELETE_FAILED", ("This permission set is assigned to one or more users. Remove the "
                                         "assignments before deleting it.")
            del self.permission_sets[full_name]
            self._meta.pop((type_name, full_name), None)
            return None
        if type_name == ECA_HEADER:
            others = sorted(kind for kind in self.external_client_apps.get(full_name, {}) if kind != ECA_HEADER)
            if others:
                return "DEPENDENCY_EXISTS", (f"Cannot delete {full_name}: it is still referenced by "
                                             f"{', '.join(others)}")
        if type_name == "ConnectedApp":
            self._revoke_app_tokens(key=(data.get("oauthConfig") or {}).get("consumerKey"),
                                    label=data.get("label", full_name))
            del self.connected_apps[full_name]
        elif type_name == ECA_HEADER:
            del self.external_client_apps[full_name]
            self._consumer_ids.pop(full_name, None)
        else:
            parent = data["externalClientApplication"]
            parts = self.external_client_apps[parent]
            if type_name == "ExtlClntAppGlobalOauthSettings":
                header = parts.get(ECA_HEADER, {})
                self._revoke_app_tokens(key=data.get("consumerKey"), label=header.get("label", parent))
                self.staged.pop(parent, None)
            del parts[type_name]
        self._meta.pop((type_name, full_name), None)
        self._secrets.pop((type_name, full_name), None)
        return None

    # ----- Setup: what an admin changes by hand -----

    def change_in_setup(self, type_name: str, full_name: str, changes: dict[str, Any], *, by: FakeUser) -> None:
        """Change fields of one component as an admin saving it in Setup: no deploy, but listMetadata then names
        `by` and now as the last modifier (of the component, or of its app: ``setup_edit_recorded_on``);
        ``changes`` values of None remove a field."""
        data = self.component(type_name, full_name)
        if data is None:
            raise KeyError(f"no {type_name} named {full_name}")
        for name, value in changes.items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
        stamped = (type_name, full_name)
        if self.setup_edit_recorded_on == "header" and "externalClientApplication" in data:
            stamped = (ECA_HEADER, data["externalClientApplication"])
        meta = self._meta[stamped]
        meta.modified_by, meta.modified_date = by, self._fake.now()

    def delete_app_in_setup(self, name: str) -> None:
        """Delete the External Client App or Connected App `name` as Setup's Delete button does: the app with
        everything that belongs to it, and the tokens it issued."""
        if name in self.connected_apps:
            assert self.delete_component("ConnectedApp", name) is None
            return
        for type_name, data in list(self.external_client_apps[name].items()):
            if type_name != ECA_HEADER:
                assert self.delete_component(type_name, data["fullName"]) is None
        assert self.delete_component(ECA_HEADER, name) is None

    def _revoke_app_tokens(self, *, key: str | None, label: str) -> None:
        """An app that can no longer issue tokens takes the ones it issued with it."""
        tokens = self._fake.tokens
        for family in list(tokens.families.values()):
            if family.org is self and family.client_key == key and not family.revoked:
                tokens.revoke_family(family)
        for row in list(self.oauth_tokens):
            if row.app_name == label:
                self.remove_oauth_token_row(row)

    def seed_connected_app(
        self,
        name: str = "QualityClouds",
        *,
        label: str | None = None,
        contact_email: str = "help@qualityclouds.com",
        callback_urls: Iterable[str] = ("https://scan.qualityclouds.com/sf_instance/code_callback",),
        scopes: Iterable[str] = ("Api", "RefreshToken"),
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        pkce_required: bool = False,
        client_credentials_user: str | None = None,
        refresh_token_policy: str = "infinite",
        ip_relaxation: str = "ENFORCE",
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a pre-existing ConnectedApp directly (bypasses the creation block).

        ``client_credentials_user`` set -> client credentials enabled with that run-as user.
        ``extra`` entries are merged into the top-level dict.  Returns the stored dict.
        """
        key = consumer_key or new_consumer_key()
        self._fake.ensure_key_free(key)
        oauth: dict[str, Any] = {
            "callbackUrl": "\n".join(callback_urls),
            "consumerKey": key,
            "isAdminApproved": False,
            "isClientCredentialEnabled": client_credentials_user is not None,
            "isConsumerSecretOptional": False,
            "isPkceRequired": pkce_required,
            "isSecretRequiredForRefreshToken": True,
            "scopes": list(scopes),
        }
        if client_credentials_user:
            oauth["oauthClientCredentialUser"] = client_credentials_user
        data: dict[str, Any] = {
            "fullName": name,
            "contactEmail": contact_email,
            "label": label or name,
            "oauthConfig": oauth,
            "oauthPolicy": {"ipRelaxation": ip_relaxation, "refreshTokenPolicy": refresh_token_policy},
        }
        data.update(extra or {})
        self.put_component(
            "ConnectedApp", data, user=self.admin, secret=consumer_secret or new_consumer_secret()
        )
        self._credentials_issued.pop(key, None)  # it existed before the test began
        return data

    def seed_external_client_app(
        self,
        name: str = "QualityClouds",
        *,
        label: str | None = None,
        contact_email: str = "help@qualityclouds.com",
        callback_url: str = "https://scan.qualityclouds.com/sf_instance/code_callback",
        scopes: Iterable[str] = ("Api", "RefreshToken"),
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        pkce_required: bool = True,
        client_credentials_user: str | None = None,
        refresh_token_policy: tuple[str, int | None, str | None] = ("SpecificLifetime", 365, "Days"),
        policies: bool = True,
        names: dict[str, str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Create a pre-existing External Client App (header + satellites) directly.

        Satellite names default to ``<name>_oauth``, ``<name>_glbloauth``, ``<name>_oauthPlcy`` and
        ``<name>_plcy``; override per type name with ``names``.  ``policies=False`` leaves out the
        two policy types.  Returns ``org.external_client_apps[name]``.
        """
        names = {
            "ExtlClntAppOauthSettings": f"{name}_oauth",
            "ExtlClntAppGlobalOauthSettings": f"{name}_glbloauth",
            "ExtlClntAppOauthConfigurablePolicies": f"{name}_oauthPlcy",
            "ExtlClntAppConfigurablePolicies": f"{name}_plcy",
            **(names or {}),
        }
        key = consumer_key or new_consumer_key()
        self._fake.ensure_key_free(key)
        label = label or name
        admin = self.admin
        self.put_component(
            ECA_HEADER,
            {
                "fullName": name,
                "contactEmail": contact_email,
                "distributionState": "Local",
                "isProtected": False,
                "label": label,
                "orgScopedExternalApp": f"{self.id}:{name}",
            },
            user=admin,
        )
        self.put_component(
            "ExtlClntAppOauthSettings",
            {
                "fullName": names["ExtlClntAppOauthSettings"],
                "commaSeparatedOauthScopes": ", ".join(scopes),
                "externalClientApplication": name,
                "label": label,
            },
            user=admin,
        )
        self.put_component(
            "ExtlClntAppGlobalOauthSettings",
            {
                "fullName": names["ExtlClntAppGlobalOauthSettings"],
                "callbackUrl": callback_url,
                "consumerKey": key,
                "externalClientApplication": name,
                "isClientCredentialsFlowEnabled": client_credentials_user is not None,
                "isConsumerSecretOptional": False,
                "isPkceRequired": pkce_required,
                "isSecretRequiredForRefreshToken": True,
                "label": label,
            },
            user=admin,
            secret=consumer_secret or new_consumer_secret(),
        )
        self._credentials_issued.pop(key, None)  # it existed before the test began
        if policies:
            kind, period, unit = refresh_token_policy
            plcy: dict[str, Any] = {
                "fullName": names["ExtlClntAppOauthConfigurablePolicies"],
                "externalClientApplication": name,
                "ipRelaxationPolicyType": "Enforce",
                "isClientCredentialsFlowEnabled": client_credentials_user is not None,
                "label": label,
                "permittedUsersPolicyType": "AllSelfAuthorized",
                "refreshTokenPolicyType": kind,
                "requiredSessionLevel": "STANDARD",
            }
            if client_credentials_user:
                plcy["clientCredentialsFlowUser"] = client_credentials_user
            if period is not None:
                plcy["refreshTokenValidityPeriod"] = period
            if unit is not None:
                plcy["refreshTokenValidityUnit"] = unit
            self.put_component("ExtlClntAppOauthConfigurablePolicies", plcy, user=admin)
            self.put_component(
                "ExtlClntAppConfigurablePolicies",
                {
                    "fullName": names["ExtlClntAppConfigurablePolicies"],
                    "externalClientApplication": name,
                    "isEnabled": True,
                    "isOauthPluginEnabled": True,
                    "label": label,
                },
                user=admin,
            )
        return self.external_client_apps[name]


def _consumer_key(type_name: str, data: dict[str, Any] | None) -> str | None:
    if data is None:
        return None
    holder = (data.get("oauthConfig") or {}) if type_name == "ConnectedApp" else data
    return holder.get("consumerKey")


def _callbacks(text: str | None) -> tuple[str, ...]:
    """callbackUrl holds one URL per line (``\\n`` or ``\\r``)."""
    return tuple(u.strip() for u in (text or "").replace("\r", "\n").split("\n") if u.strip())


@dataclass
class RegisteredClient:
    """The bot's own OAuth app (lives outside the customer orgs, usable in all of them)."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    label: str = "qc-bot"
    pkce_required: bool = True
    refresh_token_policy: str = "infinite"
    rotate_refresh_tokens: bool = False
    scopes: tuple[str, ...] = ("api", "refresh_token", "offline_access", "id", "openid")
    secret_required_for_refresh: bool = True

    def client(self) -> OAuthClient:
        return OAuthClient(
            key=self.client_id,
            secret=self.client_secret,
            label=self.label,
            redirect_uris=self.redirect_uris,
            pkce_required=self.pkce_required,
            scopes=frozenset(self.scopes),
            refresh_policy=RefreshPolicy.parse(self.refresh_token_policy),
            rotate_refresh_tokens=self.rotate_refresh_tokens,
            secret_required_for_refresh=self.secret_required_for_refresh,
        )
