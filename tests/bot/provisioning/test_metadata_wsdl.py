"""Every metadata document the bot can generate validates against Salesforce's Metadata WSDL v63.0."""

import xml.etree.ElementTree as ET

import pytest

from bot.provisioning import connected_app, credential_access, external_client_app
from bot.provisioning.external_client_app import ExistingBundle
from bot.provisioning.provisioner import generate_credential
from bot.provisioning.settings import DesiredApp, RefreshTokenPolicy
from bot.salesforce.metadata import package_xml
from tests.support.wsdl import wsdl  # noqa: F401  (fixture)

pytestmark = pytest.mark.wsdl
NS = "http://soap.sforce.com/2006/04/metadata"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
POLICIES = ["never", "90d", "12h", "6m", "idle:30d"]


def record(type_name: str, body: str) -> ET.Element:
    """A readMetadata record as Salesforce returns it (xsi:type, fullName first)."""
    return ET.fromstring(f'<records xmlns="{NS}" xmlns:xsi="{XSI}" xsi:type="{type_name}">{body}</records>')


DRIFTED_CONNECTED_APP = record("ConnectedApp", """
    <fullName>QualityClouds</fullName><contactEmail>old@example.com</contactEmail>
    <ipRanges><description>office</description><end>10.0.0.255</end><start>10.0.0.1</start></ipRanges>
    <label>QualityClouds</label>
    <oauthConfig><callbackUrl>https://old.example.com/cb</callbackUrl><consumerKey>OLDKEY12345678</consumerKey>
      <isAdminApproved>false</isAdminApproved><isPkceRequired>true</isPkceRequired><scopes>Api</scopes>
      <scopes>Web</scopes></oauthConfig>
    <oauthPolicy><ipRelaxation>BYPASS</ipRelaxation><refreshTokenPolicy>infinite</refreshTokenPolicy></oauthPolicy>
    <permissionSetName>QC_Users</permissionSetName>""")

DRIFTED_BUNDLE = ExistingBundle(
    header=record("ExternalClientApplication", """<fullName>QualityClouds</fullName>
        <contactEmail>old@example.com</contactEmail><distributionState>Local</distributionState>
        <isProtected>false</isProtected><label>QualityClouds</label>
        <orgScopedExternalApp>00D000000000001:QualityClouds</orgScopedExternalApp>"""),
    satellites={
        "ExtlClntAppOauthSettings": ("QualityClouds_oauth", record("ExtlClntAppOauthSettings", """
            <fullName>QualityClouds_oauth</fullName><commaSeparatedOauthScopes>Api</commaSeparatedOauthScopes>
            <externalClientApplication>QualityClouds</externalClientApplication><label>x</label>""")),
        "ExtlClntAppGlobalOauthSettings": ("QualityClouds_glbloauth", record("ExtlClntAppGlobalOauthSettings", """
            <fullName>QualityClouds_glbloauth</fullName><callbackUrl>https://old.example.com</callbackUrl>
            <consumerKey>ORGKEY123456789</consumerKey>
            <externalClientApplication>QualityClouds</externalClientApplication>
            <isPkceRequired>true</isPkceRequired><label>x</label>""")),
        "ExtlClntAppOauthConfigurablePolicies": ("QualityClouds_defaultPolicy", record(
            "ExtlClntAppOauthConfigurablePolicies", """<fullName>QualityClouds_defaultPolicy</fullName>
            <externalClientApplication>QualityClouds</externalClientApplication>
            <ipRelaxationPolicyType>Enforce</ipRelaxationPolicyType><label>x</label>
            <permittedUsersPolicyType>AllSelfAuthorized</permittedUsersPolicyType>
            <refreshTokenPolicyType>SpecificLifetime</refreshTokenPolicyType>
            <refreshTokenValidityPeriod>365</refreshTokenValidityPeriod>
            <refreshTokenValidityUnit>Days</refreshTokenValidityUnit>""")),
    },
)


def desired(policy: str) -> DesiredApp:
    return DesiredApp(refresh_token_policy=RefreshTokenPolicy.parse(policy))


def assert_valid(wsdl, component) -> None:  # noqa: F811
    problems = wsdl.check_document(component.to_xml())
    assert problems == [], f"{component.path}: {problems}"


@pytest.mark.parametrize("policy", POLICIES)
def test_a_new_connected_app_validates(wsdl, policy):  # noqa: F811
    component = connected_app.component(desired=desired(policy), run_as="int@acme.com", existing=None,
                                        consumer_key=generate_credential(72), consumer_secret=generate_credential(64))
    assert_valid(wsdl, component)


@pytest.mark.parametrize("policy", POLICIES)
def test_a_repaired_connected_app_validates_and_keeps_what_it_does_not_manage(wsdl, policy):  # noqa: F811
    component = connected_app.component(desired=desired(policy), run_as="int@acme.com",
                                        existing=DRIFTED_CONNECTED_APP)
    assert_valid(wsdl, component)
    xml = component.to_xml().decode()
    assert "<consumerKey>" not in xml, "Salesforce refuses a consumer key on an update"
    assert "<ipRanges>" in xml and "<permissionSetName>QC_Users</permissionSetName>" in xml
    assert "<ipRelaxation>BYPASS</ipRelaxation>" in xml
    assert "<scopes>Web</scopes>" in xml and "<scopes>RefreshToken</scopes>" in xml


@pytest.mark.parametrize("policy", POLICIES)
def test_a_new_external_client_app_bundle_validates(wsdl, policy):  # noqa: F811
    bundle = ExistingBundle()
    components = [external_client_app.header_component(desired=desired(policy), bundle=bundle),
                  *external_client_app.satellite_components(
                      desired=desired(policy), run_as="int@acme.com", bundle=bundle)]
    assert [c.type_name for c in components] == [
        "ExternalClientApplication", "ExtlClntAppOauthSettings", "ExtlClntAppGlobalOauthSettings",
        "ExtlClntAppOauthConfigurablePolicies", "ExtlClntAppConfigurablePolicies"]
    for component in components:
        assert_valid(wsdl, component)
        assert b"consumerKey" not in component.to_xml() and b"consumerSecret" not in component.to_xml()
    assert wsdl.check_document(package_xml(components)) == []


@pytest.mark.parametrize("enabled", [True, False])
def test_the_org_setting_for_the_credentials_read_validates(wsdl, enabled):  # noqa: F811
    component = credential_access.settings_component(enabled=enabled)
    assert component.path == "settings/ExternalClientApp.settings"
    assert component.to_xml().startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ExternalClientAppSettings ')
    assert_valid(wsdl, component)
    assert wsdl.check_document(package_xml([component])) == []


def test_the_temporary_permission_set_validates_and_grants_the_read_permissions(wsdl):  # noqa: F811
    component = credential_access.permission_set_component("QC_Bot_Credential_Read_0a1b2c3d")
    assert component.path == "permissionsets/QC_Bot_Credential_Read_0a1b2c3d.permissionset"
    assert_valid(wsdl, component)
    assert wsdl.check_document(package_xml([component])) == []
    granted = ET.fromstring(component.to_xml()).findall(f"{{{NS}}}userPermissions")
    assert sorted(p.findtext(f"{{{NS}}}name") for p in granted) == [
        "ExternalClientAppAdmin", "ExternalClientAppDeveloper", "ExternalClientAppViewer", "ViewClientSecret"]
    assert {p.findtext(f"{{{NS}}}enabled") for p in granted} == {"true"}


@pytest.mark.parametrize("policy", POLICIES)
def test_a_repaired_external_client_app_bundle_validates(wsdl, policy):  # noqa: F811
    components = [external_client_app.header_component(desired=desired(policy), bundle=DRIFTED_BUNDLE),
                  *external_client_app.satellite_components(desired=desired(policy), run_as="int@acme.com",
                                                            bundle=DRIFTED_BUNDLE)]
    for component in components:
        assert_valid(wsdl, component)
    names = {component.type_name: component.full_name for component in components}
    assert names["ExtlClntAppOauthConfigurablePolicies"] == "QualityClouds_defaultPolicy", "repaired in place"
    assert names["ExtlClntAppConfigurablePolicies"] == "QualityClouds_plcy", "the missing satellite is added"
    global_settings = next(c for c in components if c.type_name == "ExtlClntAppGlobalOauthSettings").to_xml()
    assert b"<consumerKey>" not in global_settings
    assert b"<orgScopedExternalApp>00D000000000001:QualityClouds</orgScopedExternalApp>" in components[0].to_xml()


def test_schema_catches_an_out_of_order_document(wsdl):  # noqa: F811
    component = connected_app.component(desired=desired("90d"), run_as="int@acme.com", existing=None)
    reordered = component.to_xml().replace(b"<contactEmail>help@qualityclouds.com</contactEmail>", b"").replace(
        b"</ConnectedApp>", b"<contactEmail>help@qualityclouds.com</contactEmail></ConnectedApp>")
    assert wsdl.check_document(reordered) != []
