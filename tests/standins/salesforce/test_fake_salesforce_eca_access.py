"""What an External Client App's credentials need in the fake, following the field evidence (reference §5.1):
a supplied key/secret is silently replaced, and Connect REST hands them out only with the org setting on AND
a permission set granting the External Client App permissions, both changeable over the wire.

Every SOAP response is validated against the v63.0 WSDL in the ``fake`` fixture's teardown.
"""

from __future__ import annotations

import pytest

from standins.salesforce import FakeOrg, FakeSalesforce
from standins.salesforce.driver import SalesforceDriver, Tokens, build_zip, metadata_file

from .test_fake_salesforce_metadata import deploy, eca_header, failures, satellites, tag

SETTINGS = ("Settings", "ExternalClientApp")
READ_PERMISSIONS = ("ExternalClientAppAdmin", "ExternalClientAppDeveloper", "ExternalClientAppViewer",
                    "ViewClientSecret")


@pytest.fixture(autouse=True)
def integration_user(org: FakeOrg) -> None:
    org.add_user(username="integration@acme.example", api_only=True, first_name="Int", last_name="User")


def settings_file(enabled: bool) -> str:
    return metadata_file("ExternalClientAppSettings",
                         f"<enableClientSecretInRestApiAccess>{str(enabled).lower()}</enableClientSecretInRestApiAccess>")


def permission_set_file(*permissions: str) -> str:
    grants = "".join(f"<userPermissions><enabled>true</enabled><name>{p}</name></userPermissions>"
                     for p in permissions)
    return metadata_file("PermissionSet", f"<description>temporary</description><label>QC read</label>{grants}")


async def new_eca(sf: SalesforceDriver, org: FakeOrg, admin: Tokens) -> str:
    reply = await deploy(sf, org, admin, {("ExternalClientApplication", "QualityClouds"): eca_header(),
                                          **satellites(key="suppliedKey0001", secret="suppliedSecret01")})
    assert tag(reply, "status") == "Succeeded", reply.text
    status, usage = await sf.rest(org.my_domain_url, admin.access_token, "apps/oauth/usage")
    app_id = usage["apps"][0]["identifier"]
    status, _ = await sf.rest(org.my_domain_url, admin.access_token, f"apps/oauth/credentials/{app_id}")
    assert status == 403  # the consumers list is a credentials resource too
    return f"apps/oauth/credentials/{app_id}/{org.eca_consumer_id('QualityClouds')}"


async def test_a_supplied_key_and_secret_are_silently_replaced_by_default(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    await new_eca(sf, org, admin)
    glob = org.external_client_apps["QualityClouds"]["ExtlClntAppGlobalOauthSettings"]
    assert glob["consumerKey"] != "suppliedKey0001" and glob["consumerKey"].startswith("3MVG9")
    assert org.consumer_secret("QualityClouds") not in (None, "suppliedSecret01")


async def test_the_honour_switch_keeps_a_supplied_key_and_secret(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    org.eca_supplied_credentials = "honour"
    await new_eca(sf, org, admin)
    glob = org.external_client_apps["QualityClouds"]["ExtlClntAppGlobalOauthSettings"]
    assert (glob["consumerKey"], org.consumer_secret("QualityClouds")) == ("suppliedKey0001", "suppliedSecret01")


async def test_credentials_need_the_setting_and_a_permission_set_both_changed_over_the_wire(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    base, token = org.my_domain_url, admin.access_token
    path = await new_eca(sf, org, admin)
    assert not org.admin.has_any(*READ_PERMISSIONS)  # a System Administrator holds none of them
    status, body = await sf.rest(base, token, path, params={"part": "key"})
    assert (status, body[0]["errorCode"]) == (403, "FUNCTIONALITY_NOT_ENABLED")
    assert "not currently enabled" in body[0]["message"]
    read = await sf.read_metadata(base, token, "ExternalClientAppSettings", ["ExternalClientApp"])
    assert tag(read, "enableClientSecretInRestApiAccess") == "false"

    reply = await deploy(sf, org, admin, {SETTINGS: settings_file(True)})
    assert tag(reply, "status") == "Succeeded", reply.text
    read = await sf.read_metadata(base, token, "ExternalClientAppSettings", ["ExternalClientApp"])
    assert tag(read, "enableClientSecretInRestApiAccess") == "true"
    assert tag(read, "enableConsumerSecretApiAccess") == "false"  # a settings file changes only what it names
    status, body = await sf.rest(base, token, path, params={"part": "key"})
    assert (status, body[0]["errorCode"]) == (403, "INSUFFICIENT_ACCESS")

    reply = await deploy(sf, org, admin, {("PermissionSet", "QC_Read_1"): permission_set_file(*READ_PERMISSIONS)})
    assert tag(reply, "status") == "Succeeded", reply.text
    status, found = await sf.query(base, token, "SELECT Id, Name FROM PermissionSet WHERE Name = 'QC_Read_1'")
    [record] = found["records"]
    status, created = await sf.rest(base, token, "sobjects/PermissionSetAssignment", method="POST",
                                    json={"AssigneeId": org.admin.id, "PermissionSetId": record["Id"]})
    assert status == 201 and created["success"] is True
    status, body = await sf.rest(base, token, "sobjects/PermissionSetAssignment", method="POST",
                                 json={"AssigneeId": org.admin.id, "PermissionSetId": record["Id"]})
    assert (status, body[0]["errorCode"]) == (400, "DUPLICATE_VALUE")
    status, body = await sf.rest(base, token, path, params={"part": "key"})
    assert status == 200 and body["key"] == org.external_client_apps["QualityClouds"][
        "ExtlClntAppGlobalOauthSettings"]["consumerKey"]
    status, body = await sf.rest(base, token, path, params={"part": "secret"})
    assert status == 200 and body["secret"] == org.consumer_secret("QualityClouds")

    # A permission set still assigned cannot be deleted; the assignment goes first.
    delete = ("<met:deleteMetadata><met:type>PermissionSet</met:type><met:fullNames>QC_Read_1</met:fullNames>"
              "</met:deleteMetadata>")
    reply = await sf.soap(base, token, delete)
    assert tag(reply, "success") == "false"
    status, assigned = await sf.query(
        base, token, f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{org.admin.id}' "
                     f"AND PermissionSetId = '{record['Id']}'")
    assert [r["Id"] for r in assigned["records"]] == [created["id"]]
    status, _ = await sf.rest(base, token, f"sobjects/PermissionSetAssignment/{created['id']}", method="DELETE")
    assert status == 204
    assert (await sf.rest(base, token, path, params={"part": "secret"}))[0] == 403
    reply = await sf.soap(base, token, delete)
    assert tag(reply, "success") == "true" and org.permission_sets == {}

    reply = await deploy(sf, org, admin, {SETTINGS: settings_file(False)})
    assert tag(reply, "status") == "Succeeded" and org.client_secret_rest_access is False


async def test_changing_settings_and_assigning_permission_sets_are_permissions_of_their_own(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    base, token = org.my_domain_url, admin.access_token
    permission_set_id = org.seed_permission_set("QC_Read_2", permissions=READ_PERMISSIONS)
    org.admin.permissions -= {"AssignPermissionSets", "ModifyAllData", "CustomizeApplication"}
    org.admin.permissions |= {"ModifyMetadata", "ManageExternalClientApps"}
    reply = await deploy(sf, org, admin, {SETTINGS: settings_file(True)})
    [(name, problem)] = failures(reply)
    assert name == "ExternalClientApp" and "Customize Application" in problem
    assert org.client_secret_rest_access is False
    status, body = await sf.rest(base, token, "sobjects/PermissionSetAssignment", method="POST",
                                 json={"AssigneeId": org.admin.id, "PermissionSetId": permission_set_id})
    assert (status, body[0]["errorCode"]) == (400, "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY")
    assert org.permission_set_assignments == []


async def test_other_settings_members_are_refused(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    zip_bytes = build_zip({("Settings", "Security"): metadata_file("SecuritySettings", "")})
    reply = await sf.deploy_and_wait(org.my_domain_url, admin.access_token, zip_bytes)
    assert tag(reply, "status") == "Failed"
