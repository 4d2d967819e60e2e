"""An External Client App's credentials are the org's, read back over Connect REST (SPEC §2, reference §5.1),
end to end over HTTP: the org setting and the permission set the read needs are turned on only for the read and
restored; the reveal never shows a secret the org did not give; an admin who may not make those changes is
told exactly what to grant; an existing app's satellites are found by their parent, whatever their names."""

import pytest

from tests.support.stack import ADMIN

ECA = "QualityClouds"


def org_credentials(stack) -> tuple[str, str]:
    glob = stack.org.external_client_apps[ECA]["ExtlClntAppGlobalOauthSettings"]
    return glob["consumerKey"], stack.org.consumer_secret(ECA)


async def revealed(stack) -> str:
    offer = await stack.slack.wait_for(
        lambda: [e for e in stack.slack.ephemerals(ADMIN) if "Reveal" in str(e.blocks)])
    await stack.slack.click(stack.events_url, message=offer[0], action_id="reveal_credentials", user_id=ADMIN)
    modal = await stack.slack.wait_for(lambda: stack.slack.opened_views[-1:] or None)
    return str(modal[0].view)


def assert_org_as_before(stack, *, setting: bool = False) -> None:
    assert stack.org.client_secret_rest_access is setting
    assert stack.org.permission_sets == {} and stack.org.permission_set_assignments == []
    assert stack.query("SELECT state FROM temporary_org_changes WHERE state != 'restored'") == []


@pytest.mark.parametrize("supplied", ["ignore", "honour"])
async def test_the_revealed_key_and_secret_are_the_orgs_and_the_org_is_restored(stack, supplied):
    stack.org.eca_supplied_credentials = supplied
    await stack.connect()
    status = await stack.status_message()
    key, secret = org_credentials(stack)
    shown = await revealed(stack)
    assert key in shown and secret in shown
    assert secret[-4:] in status.text and secret not in status.text
    assert "✅ Consumer key and secret: read from the org; turned on the org setting" in status.text
    assert "for the read; restored" in status.text
    assert_org_as_before(stack)
    assert sorted(row[0] for row in stack.query("SELECT kind FROM temporary_org_changes")) == [
        "org_setting", "permission_set"]
    # The secret came from Connect REST, asked for apart from the key, and never went into a deploy.
    queries = [r.query for r in stack.salesforce.requests if "/apps/oauth/credentials/" in r.path]
    assert "part=key" in queries and "part=secret" in queries
    assert not any(b"consumerSecret" in d.zip_bytes for d in stack.org.deploys)


async def test_a_setting_already_on_stays_on_and_is_not_touched(stack):
    stack.org.client_secret_rest_access = True
    await stack.connect()
    await stack.status_message()
    key, secret = org_credentials(stack)
    shown = await revealed(stack)
    assert key in shown and secret in shown
    assert_org_as_before(stack, setting=True)
    assert not any(b"settings/" in d.zip_bytes for d in stack.org.deploys)
    assert [row[0] for row in stack.query("SELECT kind FROM temporary_org_changes")] == ["permission_set"]


async def test_an_admin_who_may_not_change_settings_gets_the_key_and_where_to_find_the_secret(stack):
    stack.org.admin.permissions -= {"CustomizeApplication", "ModifyAllData"}
    await stack.connect()
    status = await stack.status_message()
    key, secret = org_credentials(stack)
    assert "Allow access to External Client App consumer secrets via REST API" in status.text
    assert "Customize Application" in status.text and "External Client App Manager" in status.text
    shown = await revealed(stack)
    assert key in shown and secret not in shown and "External Client App Manager" in shown
    assert_org_as_before(stack)


async def test_an_admin_who_may_not_assign_permission_sets_is_told_which_permissions_to_grant(stack):
    stack.org.admin.permissions.discard("AssignPermissionSets")
    await stack.connect()
    status = await stack.status_message()
    key, secret = org_credentials(stack)
    for permission in ("ViewClientSecret", "ExternalClientAppViewer", "Setup → Permission Sets"):
        assert permission in status.text
    assert "⚠️ Consumer key and secret" in status.text and "restored" in status.text
    shown = await revealed(stack)
    assert key in shown and secret not in shown
    assert_org_as_before(stack)


async def test_existing_satellites_are_found_by_their_parent_whatever_their_names(stack):
    stack.org.add_user(username="integration@acme.example", api_only=True)
    stack.org.seed_external_client_app(
        ECA, client_credentials_user="integration@acme.example", pkce_required=True,
        names={"ExtlClntAppOauthSettings": f"{ECA}OAuthSettings", "ExtlClntAppGlobalOauthSettings": f"{ECA}GlblOAuth",
               "ExtlClntAppOauthConfigurablePolicies": f"{ECA}_defaultPolicy",
               "ExtlClntAppConfigurablePolicies": "SomethingElse"})
    await stack.connect("connect-org run-as=integration@acme.example")
    status = await stack.status_message()
    assert "repaired" in status.text or "PKCE" in status.text
    parts = stack.org.external_client_apps[ECA]
    assert {kind: data["fullName"] for kind, data in parts.items() if kind != "ExternalClientApplication"} == {
        "ExtlClntAppOauthSettings": f"{ECA}OAuthSettings", "ExtlClntAppGlobalOauthSettings": f"{ECA}GlblOAuth",
        "ExtlClntAppOauthConfigurablePolicies": f"{ECA}_defaultPolicy",
        "ExtlClntAppConfigurablePolicies": "SomethingElse"}
    assert parts["ExtlClntAppGlobalOauthSettings"]["isPkceRequired"] is False
    key, secret = org_credentials(stack)
    shown = await revealed(stack)
    assert key in shown and secret in shown


async def test_a_temporary_change_that_cannot_be_undone_is_named_with_how_to_remove_it(stack):
    stack.org.fail_next_call("deleteMetadata", fault="INSUFFICIENT_ACCESS",
                             message="insufficient access rights on object id")
    await stack.connect()
    status = await stack.status_message()
    [name] = stack.org.permission_sets
    assert "❌ Temporary changes for the credentials read" in status.text
    assert name in status.text and "Setup → Permission Sets" in status.text and "Manage Assignments" in status.text
    assert stack.query("SELECT kind, state FROM temporary_org_changes ORDER BY id") == [
        ("org_setting", "restored"), ("permission_set", "left")]
    assert stack.org.client_secret_rest_access is False
    key, secret = org_credentials(stack)
    shown = await revealed(stack)
    assert key in shown and secret in shown  # the read itself worked: the secret is proven


async def test_an_org_that_keeps_consumer_secrets_out_of_the_metadata_api_is_explained(stack):
    stack.org.fail_next_deploy(
        status_code="FUNCTIONALITY_NOT_ENABLED",
        message="Access to consumer secrets through the Metadata API is turned off for this org "
                "(enableConsumerSecretApiAccess).")
    await stack.connect()
    status = await stack.status_message()
    assert "Allow Access to OAuth Consumer Secrets via Metadata API" in status.text
    assert "External Client App Settings" in status.text
    assert stack.query("SELECT status, failure_code FROM connections") == [("failed", "consumer_secret_api_access")]
