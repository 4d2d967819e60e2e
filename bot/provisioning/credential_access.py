"""An External Client App's key and secret, read from the org over Connect REST (reference §5.1), with what
that read needs turned on only for the read.

The read needs the org setting "Allow access to External Client App consumer secrets via REST API"
(`ExternalClientAppSettings.enableClientSecretInRestApiAccess`) and External Client App user permissions a
System Administrator does not hold by default. qc-bot first simply tries; only what Salesforce says is
missing is changed: the setting is turned on, and a uniquely named permission set granting the permissions is
created and assigned to the authorizing admin. Each change is journaled before it is made (`ChangeJournal`),
restored right after the read whatever its outcome, verified, and restored first thing by a process that
resumes the journey after a crash. A pre-existing `true` setting is never touched.

Why a temporary permission set rather than asking the admin: the permissions only let the admin's own
session read the app qc-bot just made, for the seconds the read takes; a permission set is the only way
Salesforce grants them, and removing its assignment and the set leaves the org exactly as it was. An admin
who may not assign permission sets or change settings gets the exact grant to make instead.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from bot.clock import Clock
from bot.failures import PERMISSION_CODES, ProvisioningFailed, SecretUnreadable
from bot.provisioning.checklist import ChecklistItem, Mark
from bot.salesforce.errors import SalesforceError
from bot.salesforce.metadata import METADATA_NS, FieldValue, MetadataClient, MetadataComponent
from bot.salesforce.rest import AppCredentials, RestClient, soql_string
from storage.database import Store
from storage.temporary_changes import ChangeEnd, ChangeKind, TemporaryChange

logger = logging.getLogger(__name__)

SETTINGS_MEMBER = "ExternalClientApp"
SETTINGS_TYPE = "ExternalClientAppSettings"
REST_SECRET_SETTING = "enableClientSecretInRestApiAccess"
READ_PERMISSIONS = ("ExternalClientAppAdmin", "ExternalClientAppDeveloper", "ExternalClientAppViewer",
                    "ViewClientSecret")
PERMISSION_SET_PREFIX = "QC_Bot_Credential_Read_"
ASSIGNMENT = "PermissionSetAssignment"

T = TypeVar("T")

class ChangeJournal(Protocol):
    """Durable record of the temporary changes of one connection (kept by the journey in storage)."""

    async def record(self, *, kind: ChangeKind, name: str, old_value: str | None) -> TemporaryChange: ...

    async def pending(self) -> list[TemporaryChange]: ...

    async def close(self, change: TemporaryChange, *, end: ChangeEnd) -> None: ...


class StoredChangeJournal:
    """The temporary org changes of one piece of work (a connection, a rotation), kept in storage."""

    def __init__(self, *, store: Store, clock: Clock, owner_id: str, team_id: str, org_id: str) -> None:
        self._store = store
        self._clock = clock
        self._owner_id = owner_id
        self._team_id = team_id
        self._org_id = org_id

    async def record(self, *, kind: ChangeKind, name: str, old_value: str | None) -> TemporaryChange:
        now = self._clock.now()
        return await self._store.run(lambda repos: repos.temporary_changes.record(
            connection_id=self._owner_id, team_id=self._team_id, org_id=self._org_id, kind=kind, name=name,
            old_value=old_value, now=now))

    async def pending(self) -> list[TemporaryChange]:
        return await self._store.run(lambda repos: repos.temporary_changes.pending(self._owner_id))

    async def close(self, change: TemporaryChange, *, end: ChangeEnd) -> None:
        now = self._clock.now()
        await self._store.run(lambda repos: repos.temporary_changes.close(change.id, end=end, now=now))


Deploy = Callable[[list[MetadataComponent]], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class CredentialRead:
    credentials: AppCredentials | None
    """The key and, when proven to go with it, the secret; None when the org would not say."""
    unreadable: SecretUnreadable | None = None
    detail: str | None = None
    """Salesforce's own words for the refusal."""
    turned_on: tuple[ChangeKind, ...] = ()
    left: list[TemporaryChange] = field(default_factory=list)
    """Changes qc-bot could not restore (or could not verify as restored)."""


class AccessRefused(Exception):
    """Connect REST stayed refused: the setting or permissions could not be granted, or something else is
    missing (`reason` says which; `detail` holds Salesforce's words)."""

    def __init__(self, reason: SecretUnreadable, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _NotRestored(Exception):
    pass


def settings_component(*, enabled: bool) -> MetadataComponent:
    """`settings/ExternalClientApp.settings`: only the one field qc-bot changes (a settings file leaves the
    fields it does not name as they are)."""
    return MetadataComponent("Settings", SETTINGS_MEMBER, [(REST_SECRET_SETTING, enabled)])


def permission_set_component(name: str) -> MetadataComponent:
    def grant(permission: str) -> list[tuple[str, FieldValue]]:
        return [("enabled", True), ("name", permission)]

    grants: list[FieldValue] = [grant(permission) for permission in READ_PERMISSIONS]
    return MetadataComponent("PermissionSet", name, [
        ("description", "Temporary: lets the admin who runs qc-bot read the QualityClouds External Client App's "
                        "consumer key and secret. qc-bot removes it right after the read."),
        ("label", f"qc-bot credential read {name.removeprefix(PERMISSION_SET_PREFIX)}"),
        ("userPermissions", grants),
    ])


class CredentialReader:
    def __init__(
        self, *, metadata: MetadataClient, rest: RestClient, deploy: Deploy, journal: ChangeJournal, user_id: str
    ) -> None:
        self._metadata = metadata
        self._rest = rest
        self._deploy = deploy
        self._journal = journal
        self._user_id = user_id

    async def read(self, *, developer_name: str) -> CredentialRead:
        """Read the app's credentials, turning on only what the read is refused for, and restore it after."""
        turned_on: list[ChangeKind] = []
        try:
            result = await self._read_with_access(developer_name, turned_on)
        finally:
            left = await self.restore_pending()
        return CredentialRead(credentials=result.credentials, unreadable=result.unreadable, detail=result.detail,
                              turned_on=tuple(turned_on), left=left)

    async def _read_with_access(self, developer_name: str, turned_on: list[ChangeKind]) -> CredentialRead:
        try:
            credentials = await self.with_access(
                lambda: self._rest.external_client_app_credentials(developer_name=developer_name), turned_on)
        except AccessRefused as refused:
            return CredentialRead(credentials=None, unreadable=refused.reason, detail=refused.detail)
        if credentials is None or credentials.consumer_secret is None:
            return CredentialRead(credentials=credentials, unreadable=SecretUnreadable.EXTERNAL_CLIENT_APP)
        return CredentialRead(credentials=credentials)

    async def with_access(self, operation: Callable[[], Awaitable[T]], turned_on: list[ChangeKind]) -> T:
        """Run Connect REST `operation`; when Salesforce refuses it for the org setting or the admin's External
        Client App permissions, turn on what it names (journaled, appended to `turned_on`) and run it again.
        Raises `AccessRefused` when it stays refused. The caller restores with `restore_pending`."""
        while True:
            try:
                return await operation()
            except SalesforceError as exc:
                if exc.transient:
                    raise
                missing = _missing(exc)
                if missing == "org_setting" and missing not in turned_on and await self._turn_on_setting():
                    turned_on.append(missing)
                    continue
                if missing == "permission_set" and missing not in turned_on:
                    await self._grant_permission_set()
                    turned_on.append(missing)
                    continue
                logger.info("Connect REST refused the credentials resource: %s", exc.code or exc)
                raise AccessRefused(SecretUnreadable.EXTERNAL_CLIENT_APP, exc.message) from exc

    async def _turn_on_setting(self) -> bool:
        """False when the setting is on already (the refusal then has another cause)."""
        if await self._setting_value() == "true":
            return False
        await self._journal.record(kind="org_setting", name=REST_SECRET_SETTING, old_value="false")
        try:
            await self._deploy([settings_component(enabled=True)])
        except ProvisioningFailed as failure:
            raise AccessRefused(SecretUnreadable.REST_SETTING_NOT_CHANGEABLE, failure.detail) from failure
        except SalesforceError as exc:
            # A deploy function that is Salesforce's own (rotation, the journey's restore) raises DeployFailed.
            if exc.transient:
                raise
            raise AccessRefused(SecretUnreadable.REST_SETTING_NOT_CHANGEABLE, exc.message) from exc
        return True

    async def _grant_permission_set(self) -> None:
        name = PERMISSION_SET_PREFIX + secrets.token_hex(4)
        await self._journal.record(kind="permission_set", name=name, old_value=None)
        try:
            await self._deploy([permission_set_component(name)])
            permission_set_id = await self._permission_set_id(name)
            if permission_set_id is None:
                raise AccessRefused(SecretUnreadable.REST_PERMISSION_NOT_GRANTABLE,
                                f"the permission set {name} was deployed but cannot be found")
            await self._rest.create(ASSIGNMENT, {"AssigneeId": self._user_id, "PermissionSetId": permission_set_id})
        except ProvisioningFailed as failure:
            raise AccessRefused(SecretUnreadable.REST_PERMISSION_NOT_GRANTABLE, failure.detail) from failure
        except SalesforceError as exc:
            if exc.transient:
                raise
            raise AccessRefused(SecretUnreadable.REST_PERMISSION_NOT_GRANTABLE, exc.message) from exc

    async def restore_pending(self) -> list[TemporaryChange]:
        """Undo every journaled change still pending, newest first; returns those that could not be undone."""
        left: list[TemporaryChange] = []
        for change in reversed(await self._journal.pending()):
            try:
                await self._restore(change)
            except (SalesforceError, ProvisioningFailed, _NotRestored) as exc:
                logger.warning("Could not restore the temporary %s %s: %s", change.kind, change.name, exc)
                await self._journal.close(change, end="left")
                left.append(change)
                continue
            logger.info("Restored the temporary %s %s", change.kind, change.name)
            await self._journal.close(change, end="restored")
        return left

    async def _restore(self, change: TemporaryChange) -> None:
        if change.kind == "org_setting":
            old = change.old_value or "false"
            if await self._setting_value() != old:
                await self._deploy([settings_component(enabled=old == "true")])
            if await self._setting_value() != old:
                raise _NotRestored(f"{change.name} is not back to {old}")
            return
        permission_set_id = await self._permission_set_id(change.name)
        if permission_set_id is None:
            return  # never made, or removed already
        for record in await self._rest.query(
            f"SELECT Id FROM {ASSIGNMENT} WHERE PermissionSetId = {soql_string(permission_set_id)}"
        ):
            await self._rest.delete(ASSIGNMENT, str(record["Id"]))
        results = await self._metadata.delete("PermissionSet", [change.name])
        if not all(result.success or result.already_gone for result in results):
            raise _NotRestored("; ".join(result.message or "" for result in results))
        if await self._permission_set_id(change.name) is not None:
            raise _NotRestored(f"the permission set {change.name} still exists")

    async def _setting_value(self) -> str:
        record = (await self._metadata.read(SETTINGS_TYPE, [SETTINGS_MEMBER])).get(SETTINGS_MEMBER)
        value = record.findtext(f"{{{METADATA_NS}}}{REST_SECRET_SETTING}") if record is not None else None
        return "true" if (value or "").strip().lower() == "true" else "false"

    async def _permission_set_id(self, name: str) -> str | None:
        records = await self._rest.query(f"SELECT Id FROM PermissionSet WHERE Name = {soql_string(name)}")
        return str(records[0]["Id"]) if records else None


SETTING_LABEL = "Allow access to External Client App consumer secrets via REST API"
CHECKLIST_SETTING = "Consumer key and secret"
_TURNED_ON = {
    "org_setting": f"the org setting *{SETTING_LABEL}*",
    "permission_set": "a temporary permission set for you with the External Client App permissions",
}


def read_item(read: CredentialRead) -> ChecklistItem:
    """The checklist line for the credentials read: where they came from and what was changed for it."""
    changes = " and ".join(_TURNED_ON[kind] for kind in read.turned_on)
    if read.left:
        return left_behind_item(read.left)
    if read.credentials is None or read.credentials.consumer_secret is None:
        tried = f" (qc-bot turned on {changes} to try; restored)" if changes else ""
        return ChecklistItem(CHECKLIST_SETTING, Mark.WARN,
                             f"the org did not let qc-bot read the secret{tried}: the key shown is the org's, the "
                             "secret is to be copied from Setup (see below)")
    if changes:
        return ChecklistItem(CHECKLIST_SETTING, Mark.OK,
                             f"read from the org; turned on {changes} for the read; restored")
    return ChecklistItem(CHECKLIST_SETTING, Mark.OK, "read from the org")


def left_behind_item(left: list[TemporaryChange]) -> ChecklistItem:
    """What qc-bot turned on for a credentials read and could not verifiably restore, and how to remove it."""
    parts = []
    for change in left:
        if change.kind == "org_setting":
            parts.append(f"the org setting *{SETTING_LABEL}* may still be on (it was off before): "
                         "turn it off in Setup → Quick Find → External Client App Settings")
        else:
            parts.append(f"the permission set `{change.name}` may still exist and be assigned to you: in Setup → "
                         "Permission Sets → open it → Manage Assignments, remove yours, then delete the set")
    return ChecklistItem("Temporary changes for the credentials read", Mark.FAIL,
                         "qc-bot could not verify it undid them — " + "; ".join(parts))


def _missing(exc: SalesforceError) -> ChangeKind | None:
    """What a Connect REST refusal says is missing: the org setting, or the user's permissions."""
    text = exc.message.lower()
    if exc.code == "FUNCTIONALITY_NOT_ENABLED" or "not currently enabled" in text or "feature is not enabled" in text:
        return "org_setting"
    if exc.code in PERMISSION_CODES or "permission" in text:
        return "permission_set"
    return None
