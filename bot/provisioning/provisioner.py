"""Provision the QualityClouds OAuth client in one org: choose the app kind, create it or repair its drift,
read it back, and produce the checklist and the credentials.

Idempotent by construction: every run starts by reading what the org has, so running it again — after
a crash, or as a second `/qc connect-org` — repairs instead of duplicating.
"""

from __future__ import annotations

import logging
import secrets
import string
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.config import AppKindSetting
from bot.failures import PERMISSION_CODES, Failure, ProvisioningFailed, SecretUnreadable
from bot.provisioning import connected_app, credential_access, external_client_app
from bot.provisioning.checklist import ChecklistItem, Drift, Mark, ObservedApp, build_checklist, find_drift
from bot.provisioning.credential_access import ChangeJournal, CredentialReader
from bot.provisioning.external_client_app import ExistingBundle
from bot.provisioning.settings import AppKind, DesiredApp, RefreshTokenPolicy
from bot.redaction import Secret
from bot.retry import Backoff
from bot.salesforce.errors import DeployFailed, SalesforceError
from bot.salesforce.metadata import METADATA_NS, MetadataClient, MetadataComponent
from bot.salesforce.rest import AppCredentials, RestClient, soql_string

logger = logging.getLogger(__name__)

_ALPHANUMERIC = string.ascii_letters + string.digits
_READ_BATCH = 10
"""readMetadata takes at most 10 names per call."""


def generate_credential(length: int) -> Secret:
    """A consumer key or secret: CSPRNG, alphanumeric (Salesforce accepts 8-256 characters)."""
    return Secret("".join(secrets.choice(_ALPHANUMERIC) for _ in range(length)))


@dataclass(frozen=True, kw_only=True)
class ProvisioningRequest:
    desired: DesiredApp
    run_as: str
    run_as_is_requester: bool
    app_kind: AppKindSetting
    known_credentials: AppCredentials | None
    remember_credentials: Callable[[AppKind, Secret, Secret], Awaitable[None]]
    """Called with generated credentials before they are deployed (a Connected App's secret is never
    readable again, so it must be stored before Salesforce has it)."""
    record_deploy: Callable[[str | None], Awaitable[None]]
    """Called with a deploy's id once Salesforce accepted it, and with None once it ended."""
    admin_user_id: str
    """The authorizing admin's Salesforce user id: whom the temporary credential-read permission set is for."""
    journal: ChangeJournal
    """Where temporary changes to the org are recorded before they are made (see `credential_access`)."""
    interrupted_deploy_id: str | None = None
    """A deploy an earlier, interrupted attempt left running: waited for before anything else."""


@dataclass(frozen=True, kw_only=True)
class ProvisioningResult:
    kind: AppKind
    created: bool
    consumer_key: Secret | None
    consumer_secret: Secret | None
    secret_unavailable_reason: SecretUnreadable | None
    checklist: list[ChecklistItem]
    repaired: list[Drift]
    refresh_token_policy: RefreshTokenPolicy | None
    """The app's refresh token policy as read back from the org (None when unreadable)."""


class Provisioner:
    def __init__(self, *, metadata: MetadataClient, rest: RestClient, deploy_poll: Backoff) -> None:
        self._metadata = metadata
        self._rest = rest
        self._poll = deploy_poll

    async def provision(self, request: ProvisioningRequest) -> ProvisioningResult:
        """Raises `ProvisioningFailed` or a `SalesforceError`; `bot.failures.failure_of` names either."""
        if request.interrupted_deploy_id:
            await self._finish_interrupted_deploy(request)
        # What an interrupted attempt turned on for a credentials read is undone before anything else.
        left = await self._credential_reader(request).restore_pending()
        result = await self._provision(request)
        if left:
            result.checklist.append(credential_access.left_behind_item(left))
        return result

    async def _provision(self, request: ProvisioningRequest) -> ProvisioningResult:
        await self._check_run_as(request.run_as)
        api_name = request.desired.api_name
        existing_connected_app = (await self._metadata.read(connected_app.TYPE, [api_name])).get(api_name)
        if request.app_kind == "connected-app" or (request.app_kind == "auto" and existing_connected_app is not None):
            return await self._connected_app(request, existing_connected_app)
        result = await self._external_client_app(request)
        if existing_connected_app is not None:
            result.checklist.append(ChecklistItem(
                "Other QualityClouds apps", Mark.WARN,
                f"a Connected App named {api_name} also exists in this org (QC_APP_KIND=external-client-app); "
                "Quality Clouds needs only one of them, so delete the one you don't use",
            ))
        return result

    async def _finish_interrupted_deploy(self, request: ProvisioningRequest) -> None:
        """Let a deploy started before a crash end before reading the org, so it is never sent twice."""
        deploy_id = request.interrupted_deploy_id
        assert deploy_id is not None
        logger.info("Waiting for deploy %s left running by an interrupted attempt", deploy_id)
        try:
            await self._metadata.wait_for_deploy(deploy_id, poll=self._poll)
        except DeployFailed as failure:
            logger.info("The interrupted deploy %s had failed (%s); reading the org again", deploy_id, failure)
        except SalesforceError as exc:
            if exc.transient:
                raise
            logger.info("The interrupted deploy %s is unknown to Salesforce (%s)", deploy_id, exc.code)
        await request.record_deploy(None)

    async def _check_run_as(self, username: str) -> None:
        records = await self._rest.query(
            "SELECT Id, Username, IsActive FROM User WHERE Username = " + soql_string(username)
        )
        if not records:
            raise ProvisioningFailed(code=Failure.RUN_AS_NOT_FOUND, detail=username)
        if records[0].get("IsActive") is False:
            raise ProvisioningFailed(code=Failure.RUN_AS_INACTIVE, detail=username)

    async def _connected_app(
        self, request: ProvisioningRequest, existing: ET.Element | None
    ) -> ProvisioningResult:
        desired, api_name = request.desired, request.desired.api_name
        key: Secret | None
        secret: Secret | None
        if existing is None:
            key, secret = await self._create_connected_app(request)
            repaired: list[Drift] = []
        else:
            observed = connected_app.observe(existing)
            repaired = find_drift(desired=desired, run_as=request.run_as, observed=observed)
            if repaired:
                await self._deploy(request, [connected_app.component(desired=desired, run_as=request.run_as,
                                                                     existing=existing)])
            key, secret = observed.consumer_key, _known_secret(request, observed.consumer_key)
        deployed = existing is None or bool(repaired)
        record = (await self._metadata.read(connected_app.TYPE, [api_name])).get(api_name) if deployed else existing
        if record is None:
            raise ProvisioningFailed(code=Failure.NOT_FOUND_AFTER_DEPLOY, detail=f"ConnectedApp {api_name}")
        observed = connected_app.observe(record)
        key = observed.consumer_key or key
        return self._result(request, observed, created=existing is None, repaired=repaired, key=key, secret=secret,
                            secret_reason=None if secret else SecretUnreadable.CONNECTED_APP)

    async def _create_connected_app(self, request: ProvisioningRequest) -> tuple[Secret, Secret]:
        for attempt in (1, 2):
            key, secret = generate_credential(72), generate_credential(64)
            component = connected_app.component(
                desired=request.desired, run_as=request.run_as, existing=None, consumer_key=key, consumer_secret=secret
            )
            await request.remember_credentials(AppKind.CONNECTED_APP, key, secret)
            try:
                await self._deploy(request, [component], creating=True)
                return key, secret
            except ProvisioningFailed as failure:
                if failure.code is not Failure.CONSUMER_KEY_TAKEN or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _external_client_app(self, request: ProvisioningRequest) -> ProvisioningResult:
        desired, api_name = request.desired, request.desired.api_name
        bundle = await self._read_bundle(api_name)
        created = bundle.header is None
        repaired: list[Drift] = []
        if bundle.complete:
            repaired = find_drift(desired=desired, run_as=request.run_as,
                                  observed=external_client_app.observe(bundle, api_name=api_name))
        if not bundle.complete or repaired:
            header = external_client_app.header_component(desired=desired, bundle=bundle)
            satellites = external_client_app.satellite_components(desired=desired, run_as=request.run_as,
                                                                  bundle=bundle)
            await self._deploy_header_with_satellites(request, header, satellites, creating=created)
            bundle = await self._read_bundle(api_name)
        if not bundle.complete:
            missing = [kind for kind in external_client_app.SATELLITES if kind not in bundle.satellites]
            raise ProvisioningFailed(code=Failure.NOT_FOUND_AFTER_DEPLOY, detail=", ".join(missing) or "the app")
        observed = external_client_app.observe(bundle, api_name=api_name)
        read = await self._credential_reader(request).read(developer_name=api_name)
        key, secret = observed.consumer_key, None
        if read.credentials is not None:
            # The org's own answer: the key Connect REST gives, and the secret only when it goes with that key.
            key, secret = read.credentials.consumer_key, read.credentials.consumer_secret
        result = self._result(request, observed, created=created, repaired=repaired, key=key, secret=secret,
                              secret_reason=read.unreadable or SecretUnreadable.EXTERNAL_CLIENT_APP)
        result.checklist.append(credential_access.read_item(read))
        return result

    async def _deploy_header_with_satellites(
        self,
        request: ProvisioningRequest,
        header: MetadataComponent,
        satellites: list[MetadataComponent],
        *,
        creating: bool,
    ) -> None:
        """One deploy; or, for an org that wants a new app's header to exist before its satellites are
        deployed, the header first and the satellites after, removing the header again if they fail."""
        try:
            await self._deploy(request, [header, *satellites], creating=creating)
            return
        except ProvisioningFailed as failure:
            if not (creating and failure.code is Failure.PARENT_FIRST):
                raise
        logger.info("The org wants the External Client App header deployed before its settings; doing so")
        await self._deploy(request, [header], creating=True)
        try:
            await self._deploy(request, satellites, creating=True)
        except ProvisioningFailed as failure:
            if not await self._removed(external_client_app.HEADER, header.full_name):
                raise ProvisioningFailed(code=failure.code, detail=failure.detail + (
                    f"; the new External Client App {header.full_name} could not be removed again: run the "
                    "command once the cause is fixed to complete it")) from failure
            raise

    async def _removed(self, type_name: str, full_name: str) -> bool:
        try:
            results = await self._metadata.delete(type_name, [full_name])
        except SalesforceError as exc:
            logger.warning("Could not remove %s %s after a failed deploy: %s", type_name, full_name, exc.message)
            return False
        return all(result.success or result.already_gone for result in results)

    def _credential_reader(self, request: ProvisioningRequest) -> CredentialReader:
        async def deploy(components: list[MetadataComponent]) -> None:
            await self._deploy(request, components)

        return CredentialReader(metadata=self._metadata, rest=self._rest, deploy=deploy, journal=request.journal,
                                user_id=request.admin_user_id)

    async def _read_bundle(self, api_name: str) -> ExistingBundle:
        return await read_bundle(self._metadata, api_name=api_name)

    async def _deploy(
        self, request: ProvisioningRequest, components: list[MetadataComponent], *, creating: bool = False
    ) -> None:
        try:
            await self._metadata.deploy(components, poll=self._poll, on_submitted=request.record_deploy)
        except DeployFailed as failure:
            await request.record_deploy(None)
            if failure.transient:
                raise
            raise ProvisioningFailed(code=_classify(failure, creating=creating,
                                                    types={c.type_name for c in components}),
                                     detail="; ".join(failure.failures)) from failure
        await request.record_deploy(None)

    def _result(
        self,
        request: ProvisioningRequest,
        observed: ObservedApp,
        *,
        created: bool,
        repaired: list[Drift],
        key: Secret | None,
        secret: Secret | None,
        secret_reason: SecretUnreadable | None,
    ) -> ProvisioningResult:
        checklist = build_checklist(desired=request.desired, run_as=request.run_as,
                                    run_as_is_requester=request.run_as_is_requester, observed=observed,
                                    repaired=repaired)
        return ProvisioningResult(kind=observed.kind, created=created, consumer_key=key, consumer_secret=secret,
                                  secret_unavailable_reason=None if secret else secret_reason,
                                  checklist=checklist, repaired=repaired,
                                  refresh_token_policy=observed.refresh_token_policy)


async def read_bundle(metadata: MetadataClient, *, api_name: str) -> ExistingBundle:
    """The External Client App `api_name` as the org has it: its header and whichever satellites exist."""
    bundle = ExistingBundle()
    bundle.header = (await metadata.read(external_client_app.HEADER, [api_name])).get(api_name)
    if bundle.header is None:
        return bundle
    for satellite in external_client_app.SATELLITES:
        # Found by the parent they name, whatever they are called: an org refuses a second one for the app.
        names = external_client_app.likely_first(api_name, await metadata.list_names(satellite))
        for start in range(0, len(names), _READ_BATCH):
            records = await metadata.read(satellite, names[start:start + _READ_BATCH])
            found = next(((full_name, record) for full_name, record in records.items()
                          if record.findtext(f"{{{METADATA_NS}}}externalClientApplication") == api_name), None)
            if found is not None:
                bundle.satellites[satellite] = found
                break
    return bundle


def _known_secret(request: ProvisioningRequest, key: Secret | None) -> Secret | None:
    """The secret the bot stored earlier for this org, valid only if the app still has the same key."""
    known = request.known_credentials
    if known is None or key is None or known.consumer_key != key:
        return None
    return known.consumer_secret


def _classify(failure: DeployFailed, *, creating: bool, types: set[str]) -> Failure:
    """A rejected deploy, named by what Salesforce's messages say."""
    text = " ".join(failure.failures).lower()
    if "enableconsumersecretapiaccess" in text or ("consumer secret" in text and "metadata api" in text):
        return Failure.CONSUMER_SECRET_API_ACCESS
    if "already taken" in text:
        return Failure.CONSUMER_KEY_TAKEN
    if "cannot provide a consumer" in text or "can't provide a consumer" in text:
        return Failure.CREDENTIALS_NOT_SETTABLE
    if "insufficient" in text or failure.code in PERMISSION_CODES:
        return Failure.MISSING_PERMISSION
    if "externalclientapplication" in text.replace(" ", "") and any(
            phrase in text for phrase in ("doesn't exist", "does not exist", "not found")):
        return Failure.PARENT_FIRST
    if "user" in text and ("run" in text or "credential" in text or "not found" in text or "exist" in text):
        return Failure.RUN_AS_INVALID
    if creating and types == {connected_app.TYPE}:
        # Salesforce's text for the Spring '26 block is not documented: a new Connected App failing for
        # no known reason is that block.
        return Failure.CONNECTED_APP_CREATION_BLOCKED
    return Failure.DEPLOY_FAILED
