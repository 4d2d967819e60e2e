"""The fake Salesforce's SOAP Metadata API: deploys of both app kinds, readMetadata, deleteMetadata, faults.

Every SOAP response of every test is validated against the v63.0 WSDL in the ``fake`` fixture's
teardown (when the WSDL is present).
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import aiohttp
import pytest

from standins.salesforce import FakeOrg, FakeSalesforce, ManualClock
from standins.salesforce.clock import xsd_datetime
from standins.salesforce.driver import (
    SalesforceDriver,
    SoapReply,
    Tokens,
    build_zip,
    metadata_file,
    package_xml,
)
from standins.salesforce.metadata_rules import CONNECTED_APP_CREATION_BLOCKED

from .conftest import CLIENT_ID, REDIRECT

CALLBACK = "https://scan.qualityclouds.com/sf_instance/code_callback"
BLOCKED = CONNECTED_APP_CREATION_BLOCKED


@pytest.fixture(autouse=True)
def integration_user(org: FakeOrg) -> None:
    org.add_user(username="integration@acme.example", api_only=True, first_name="Int", last_name="User")


# ------------------------------------------------------------------------------------- documents


def connected_app(
    *,
    key: str | None = None,
    secret: str | None = None,
    scopes: tuple[str, ...] = ("Api", "RefreshToken"),
    pkce: bool = False,
    run_as: str | None = "integration@acme.example",
    cc: bool | None = None,
    policy: str = "specific_lifetime:90:DAYS",
    ip: str = "ENFORCE",
    callback: str = CALLBACK,
) -> str:
    cc = run_as is not None if cc is None else cc
    oauth = f"<callbackUrl>{callback}</callbackUrl>"
    oauth += f"<consumerKey>{key}</consumerKey>" if key else ""
    oauth += f"<consumerSecret>{secret}</consumerSecret>" if secret else ""
    oauth += (
        f"<isAdminApproved>false</isAdminApproved><isClientCredentialEnabled>{str(cc).lower()}"
        "</isClientCredentialEnabled><isConsumerSecretOptional>false</isConsumerSecretOptional>"
        f"<isPkceRequired>{str(pkce).lower()}</isPkceRequired>"
        "<isSecretRequiredForRefreshToken>true</isSecretRequiredForRefreshToken>"
    )
    oauth += f"<oauthClientCredentialUser>{run_as}</oauthClientCredentialUser>" if run_as else ""
    oauth += "".join(f"<scopes>{s}</scopes>" for s in scopes)
    return metadata_file(
        "ConnectedApp",
        "<contactEmail>help@qualityclouds.com</contactEmail><contactPhone>+44 20 3290 0456</contactPhone>"
        "<description>QualityClouds connection for REST API calls</description><label>QualityClouds</label>"
        f"<oauthConfig>{oauth}</oauthConfig>"
        f"<oauthPolicy><ipRelaxation>{ip}</ipRelaxation><refreshTokenPolicy>{policy}</refreshTokenPolicy>"
        "</oauthPolicy>",
    )


def eca_header(label: str = "QualityClouds") -> str:
    return metadata_file(
        "ExternalClientApplication",
        "<contactEmail>help@qualityclouds.com</contactEmail><description>QualityClouds</description>"
        f"<distributionState>Local</distributionState><isProtected>false</isProtected><label>{label}</label>",
    )


def eca_oauth(scopes: str = "Api, RefreshToken", parent: str = "QualityClouds") -> str:
    return metadata_file(
        "ExtlClntAppOauthSettings",
        f"<commaSeparatedOauthScopes>{scopes}</commaSeparatedOauthScopes>"
        f"<externalClientApplication>{parent}</externalClientApplication><label>QualityClouds</label>",
    )


def eca_global(
    key: str | None = None,
    secret: str | None = None,
    parent: str = "QualityClouds",
    pkce: bool | None = False,
) -> str:
    inner = f"<callbackUrl>{CALLBACK}</callbackUrl>"
    inner += f"<consumerKey>{key}</consumerKey>" if key else ""
    inner += f"<consumerSecret>{secret}</consumerSecret>" if secret else ""
    inner += (
        f"<externalClientApplication>{parent}</externalClientApplication>"
        "<isClientCredentialsFlowEnabled>true</isClientCredentialsFlowEnabled>"
        "<isConsumerSecretOptional>false</isConsumerSecretOptional>"
    )
    inner += f"<isPkceRequired>{str(pkce).lower()}</isPkceRequired>" if pkce is not None else ""
    inner += (
        "<isSecretRequiredForRefreshToken>true</isSecretRequiredForRefreshToken><label>QualityClouds</label>"
    )
    return metadata_file("ExtlClntAppGlobalOauthSettings", inner)


def eca_policies(
    *,
    permitted: str = "AllSelfAuthorized",
    ip: str = "Enforce",
    unit: str = "Days",
    kind: str = "SpecificLifetime",
    period: int | None = 90,
    run_as: str | None = "integration@acme.example",
    parent: str = "QualityClouds",
) -> str:
    inner = f"<clientCredentialsFlowUser>{run_as}</clientCredentialsFlowUser>" if run_as else ""
    inner += (
        f"<externalClientApplication>{parent}</externalClientApplication>"
        f"<ipRelaxationPolicyType>{ip}</ipRelaxationPolicyType>"
        f"<isClientCredentialsFlowEnabled>{'true' if run_as else 'false'}</isClientCredentialsFlowEnabled>"
        f"<label>QualityClouds</label><permittedUsersPolicyType>{permitted}</permittedUsersPolicyType>"
        f"<refreshTokenPolicyType>{kind}</refreshTokenPolicyType>"
    )
    inner += (
        f"<refreshTokenValidityPeriod>{period}</refreshTokenValidityPeriod>" if period is not None else ""
    )
    inner += f"<refreshTokenValidityUnit>{unit}</refreshTokenValidityUnit>"
    return metadata_file("ExtlClntAppOauthConfigurablePolicies", inner)


def eca_plugin(parent: str = "QualityClouds") -> str:
    return metadata_file(
        "ExtlClntAppConfigurablePolicies",
        f"<externalClientApplication>{parent}</externalClientApplication><isEnabled>true</isEnabled>"
        "<isOauthPluginEnabled>true</isOauthPluginEnabled><label>QualityClouds</label>",
    )


def satellites(**global_kwargs: object) -> dict[tuple[str, str], str]:
    return {
        ("ExtlClntAppOauthSettings", "QualityClouds_oauth"): eca_oauth(),
        ("ExtlClntAppGlobalOauthSettings", "QualityClouds_glbloauth"): eca_global(**global_kwargs),  # type: ignore[arg-type]
        ("ExtlClntAppOauthConfigurablePolicies", "QualityClouds_oauthPlcy"): eca_policies(),
        ("ExtlClntAppConfigurablePolicies", "QualityClouds_plcy"): eca_plugin(),
    }


# ------------------------------------------------------------------------------------- reading


def tag(reply: SoapReply | str, name: str) -> str | None:
    text = reply.text if isinstance(reply, SoapReply) else reply
    m = re.search(rf"<{name}>(.*?)</{name}>", text, re.S)
    return html.unescape(m.group(1)) if m else None


def failures(reply: SoapReply) -> list[tuple[str, str]]:
    out = []
    for block in re.findall(r"<componentFailures>(.*?)</componentFailures>", reply.text, re.S):
        assert "<problemType>Error</problemType>" in block and "<success>false</success>" in block
        out.append((tag(block, "fullName") or "", tag(block, "problem") or ""))
    return out


def successes(reply: SoapReply) -> list[str]:
    return [
        tag(b, "fullName") or ""
        for b in re.findall(r"<componentSuccesses>(.*?)</componentSuccesses>", reply.text, re.S)
    ]


async def deploy(
    sf: SalesforceDriver, org: FakeOrg, tokens: Tokens, components: dict, **options: str
) -> SoapReply:
    return await sf.deploy_and_wait(org.my_domain_url, tokens.access_token, build_zip(components), **options)


# ------------------------------------------------------------------------------ ConnectedApp


async def test_new_connected_app_blocked_by_default(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    reply = await deploy(sf, org, admin, {("ConnectedApp", "QualityClouds"): connected_app()})
    assert tag(reply, "status") == "Failed" and tag(reply, "success") == "false"
    assert failures(reply) == [("QualityClouds", BLOCKED)]
    assert tag(reply, "numberComponentErrors") == "1" and tag(reply, "numberComponentsDeployed") == "0"
    assert "<componentType>ConnectedApp</componentType>" in reply.text
    assert org.connected_apps == {}
    assert len(fake.calls("deploy")) == 1 and len(org.deploys) == 1


async def test_connected_app_create_read_and_use(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens, clock: ManualClock
) -> None:
    org.connected_app_creation_allowed = True
    reply = await deploy(
        sf,
        org,
        admin,
        {
            ("ConnectedApp", "QualityClouds"): connected_app(
                key="qcKey0000000001",
                secret="qcSecret00000001",
                scopes=("Api", "RefreshToken", "OfflineAccess"),
            )
        },
    )
    assert tag(reply, "status") == "Succeeded", reply.text
    assert successes(reply) == ["QualityClouds", "package.xml"]
    assert "<created>true</created>" in reply.text
    stored = org.connected_apps["QualityClouds"]
    assert stored["oauthConfig"]["consumerKey"] == "qcKey0000000001"
    assert "consumerSecret" not in stored["oauthConfig"]
    assert stored["oauthConfig"]["scopes"] == ["Api", "RefreshToken", "OfflineAccess"]
    assert stored["oauthConfig"]["isPkceRequired"] is False
    assert stored["oauthPolicy"] == {
        "ipRelaxation": "ENFORCE",
        "refreshTokenPolicy": "specific_lifetime:90:DAYS",
    }
    assert org.consumer_secret("QualityClouds") == "qcSecret00000001"
    read = await sf.read_metadata(org.my_domain_url, admin.access_token, "ConnectedApp", ["QualityClouds"])
    assert read.status == 200
    assert '<records xsi:type="ConnectedApp"><fullName>QualityClouds</fullName>' in read.text
    assert "<consumerKey>qcKey0000000001</consumerKey>" in read.text
    assert "consumerSecret" not in read.text and "qcSecret00000001" not in read.text
    assert read.text.count("<scopes>") == 2  # OfflineAccess folds into RefreshToken on read
    form = {
        "grant_type": "client_credentials",
        "client_id": "qcKey0000000001",
        "client_secret": "qcSecret00000001",
    }
    clock.advance(org.credentials_propagation - timedelta(seconds=1))
    status, body = await sf.token(org.my_domain_url, form)
    assert body == {"error": "invalid_client_id", "error_description": "client identifier invalid"}, (
        "new credentials are unknown until Salesforce has propagated them"
    )
    clock.advance(seconds=1)
    status, body = await sf.token(org.my_domain_url, form)
    assert status == 200, body


async def test_connected_app_update_rules(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    org.seed_connected_app(
        "QualityClouds",
        consumer_key="seededKey0001",
        consumer_secret="seededSecret01",
        pkce_required=True,
        callback_urls=["https://other.example/cb"],
        scopes=["Api"],
    )
    reply = await deploy(sf, org, admin, {("ConnectedApp", "QualityClouds"): connected_app()})
    assert tag(reply, "status") == "Succeeded", reply.text
    assert "<created>false</created>" in reply.text and "<changed>true</changed>" in reply.text
    cfg = org.connected_apps["QualityClouds"]["oauthConfig"]
    assert cfg["consumerKey"] == "seededKey0001" and cfg["isPkceRequired"] is False
    assert cfg["callbackUrl"] == CALLBACK and cfg["scopes"] == ["Api", "RefreshToken"]
    assert org.consumer_secret("QualityClouds") == "seededSecret01"
    reply = await deploy(
        sf, org, admin, {("ConnectedApp", "QualityClouds"): connected_app(key="seededKey0001")}
    )
    assert failures(reply) == [("QualityClouds", "You cannot provide a Consumer Key")]
    reply = await deploy(
        sf, org, admin, {("ConnectedApp", "QualityClouds"): connected_app(secret="newSecret0001")}
    )
    assert failures(reply) == [("QualityClouds", "You cannot provide a Consumer Secret")]
    org.connected_app_secret_on_update = "ignore"
    org.connected_app_update_accepts_same_key = True
    reply = await deploy(
        sf,
        org,
        admin,
        {("ConnectedApp", "QualityClouds"): connected_app(key="seededKey0001", secret="newSecret0001")},
    )
    assert tag(reply, "status") == "Succeeded"
    assert org.consumer_secret("QualityClouds") == "seededSecret01"


async def test_consumer_credentials_rules(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    org.connected_app_creation_allowed = True
    other = fake.add_org(name="Globex")
    other.seed_connected_app("Elsewhere", consumer_key="takenKey00001")
    org.seed_connected_app("Existing", consumer_secret="usedSecret0001")
    cases = [
        (connected_app(key="takenKey00001"), "The consumer key is already taken"),
        (connected_app(key=CLIENT_ID), "The consumer key is already taken"),
        (connected_app(key="short"), "The consumer key must be 8 to 256 alphanumeric characters."),
        (connected_app(key="has_underscore_1"), "The consumer key must be 8 to 256 alphanumeric characters."),
        (
            connected_app(secret="usedSecret0001"),
            "The consumer secret is already used by another app in this org. "
            "Provide a different consumer secret.",
        ),
    ]
    for document, problem in cases:
        reply = await deploy(sf, org, admin, {("ConnectedApp", "QualityClouds"): document})
        assert failures(reply) == [("QualityClouds", problem)]
    assert "QualityClouds" not in org.connected_apps
    # two apps claiming one key in the same deploy
    reply = await deploy(
        sf,
        org,
        admin,
        {
            ("ConnectedApp", "A1"): connected_app(key="sameKey000001"),
            ("ConnectedApp", "A2"): connected_app(key="sameKey000001"),
        },
    )
    assert failures(reply) == [("A2", "The consumer key is already taken")]
    # a collision with a key some other Salesforce org holds, forced by the switch
    fake.collide_next_supplied_keys = 1
    reply = await deploy(sf, org, admin, {("ConnectedApp", "QualityClouds"): connected_app(key="freshKey00001")})
    assert failures(reply) == [("QualityClouds", "The consumer key is already taken")]
    # the org generates what was not supplied
    reply = await deploy(sf, org, admin, {("ConnectedApp", "QualityClouds"): connected_app()})
    assert tag(reply, "status") == "Succeeded"
    assert org.connected_apps["QualityClouds"]["oauthConfig"]["consumerKey"].startswith("3MVG9")
    assert org.consumer_secret("QualityClouds")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (connected_app(policy="expire_after:90d"), "'expire_after:90d' is not a valid refresh token policy."),
        (connected_app(policy="specific_lifetime:90:WEEKS"), "is not a valid refresh token policy"),
        (connected_app(ip="RELAXED"), "'RELAXED' is not a valid value for the enum 'IpRelaxation'"),
        (
            connected_app(scopes=("Api", "ChatterApi")),
            "'ChatterApi' is not a valid value for the enum 'ConnectedAppOauthAccessScope'",
        ),
        (connected_app(run_as=None, cc=True), "needs a run-as user: set oauthClientCredentialUser"),
        (
            connected_app(run_as="nobody@acme.example"),
            "The run-as user 'nobody@acme.example' doesn't exist or isn't active in this org.",
        ),
        (
            connected_app(run_as="inactive@acme.example"),
            "The run-as user 'inactive@acme.example' doesn't exist or isn't active in this org.",
        ),
    ],
)
async def test_connected_app_field_rules(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens, document: str, problem: str
) -> None:
    org.connected_app_creation_allowed = True
    org.add_user(username="inactive@acme.example", active=False)
    reply = await deploy(sf, org, admin, {("ConnectedApp", "QualityClouds"): document})
    assert tag(reply, "status") == "Failed"
    assert len(failures(reply)) == 1 and problem in failures(reply)[0][1]


async def test_api_only_run_as_switch(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    org.connected_app_creation_allowed = True
    reply = await deploy(
        sf, org, admin, {("ConnectedApp", "QualityClouds"): connected_app(run_as=org.admin.username)}
    )
    assert tag(reply, "status") == "Succeeded"  # not required by default
    org.require_api_only_run_as = True
    reply = await deploy(
        sf, org, admin, {("ConnectedApp", "QualityClouds"): connected_app(run_as=org.admin.username)}
    )
    assert failures(reply) == [
        ("QualityClouds", f"The run-as user '{org.admin.username}' must have the API Only User permission.")
    ]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            metadata_file("ConnectedApp", "<label>X</label><contactEmail>a@b.c</contactEmail>"),
            "Error parsing file: Element {http://soap.sforce.com/2006/04/metadata}label invalid at this "
            "location in type ConnectedApp",
        ),
        (
            metadata_file("ConnectedApp", "<contactEmail>a@b.c</contactEmail>"),
            "Error parsing file: Required field 'label' is missing in type ConnectedApp",
        ),
        (
            metadata_file(
                "ConnectedApp", "<contactEmail>a@b.c</contactEmail><label>X</label><colour>red</colour>"
            ),
            "Error parsing file: Element {http://soap.sforce.com/2006/04/metadata}colour invalid at this "
            "location",
        ),
        (
            metadata_file(
                "ConnectedApp",
                "<contactEmail>a@b.c</contactEmail><label>X</label>"
                "<oauthConfig><callbackUrl>x</callbackUrl><isPkceRequired>no</isPkceRequired>"
                "</oauthConfig>",
            ),
            "Error parsing file: 'no' is not a valid value for the type xsd:boolean",
        ),
        ("<ConnectedApp xmlns='http://soap.sforce.com/2006/04/metadata'><label>", "Error parsing file: "),
        (
            "<ConnectedApp><contactEmail>a@b.c</contactEmail><label>X</label></ConnectedApp>",
            "Error parsing file: the root element must be",
        ),
    ],
)
async def test_schema_refusals(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens, document: str, expected: str
) -> None:
    org.connected_app_creation_allowed = True
    reply = await deploy(sf, org, admin, {("ConnectedApp", "QualityClouds"): document})
    [(name, problem)] = failures(reply)
    assert name == "QualityClouds" and problem.startswith(expected)


@pytest.mark.wsdl
async def test_wsdl_catches_what_the_table_does_not(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    if fake.schema is None:
        pytest.skip("the Metadata WSDL (../shared/salesforce/metadata-v63.wsdl) or lxml is not available")
    org.connected_app_creation_allowed = True
    document = metadata_file(  # ConnectedAppIpRange needs <end> and <start>; only the WSDL knows
        "ConnectedApp",
        "<contactEmail>a@b.c</contactEmail><ipRanges><description>x</description></ipRanges><label>X</label>",
    )
    reply = await deploy(sf, org, admin, {("ConnectedApp", "QualityClouds"): document})
    [(_, problem)] = failures(reply)
    assert problem.startswith("Error parsing file: ") and "ipRanges" in problem


async def test_package_xml_rules(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    base = org.my_domain_url
    header = {("ExternalClientApplication", "QualityClouds"): eca_header()}

    async def run(zip_bytes: bytes) -> SoapReply:
        return await sf.deploy_and_wait(base, admin.access_token, zip_bytes)

    reply = await run(
        build_zip(
            header, package=package_xml({"ExternalClientApplication": ["QualityClouds"]}, version="64.0")
        )
    )
    assert "is not supported" in failures(reply)[0][1]
    reply = await run(
        build_zip(header, package=package_xml({"ExternalClientApplication": ["QualityClouds", "Gone"]}))
    )
    assert failures(reply) == [
        (
            "Gone",
            "An object 'Gone' of type ExternalClientApplication was named in "
            "package.xml, but was not found in zipped directory",
        )
    ]
    reply = await run(build_zip(header, package=package_xml({"ExternalClientApplication": []})))
    assert failures(reply) == [("QualityClouds", "Not in package.xml")]
    reply = await run(
        build_zip(
            header,
            package=package_xml({"ExternalClientApplication": ["QualityClouds"], "ApexClass": ["Foo"]}),
        )
    )
    assert (
        "does not model metadata type 'ApexClass'" in failures(reply)[0][1]
        or "Unknown type name 'ApexClass'" in failures(reply)[0][1]
    )
    reply = await run(
        build_zip(
            header, package=package_xml({"ExternalClientApplication": ["QualityClouds"], "Nonsense": ["Foo"]})
        )
    )
    assert failures(reply) == [("package.xml", "Unknown type name 'Nonsense' specified in package.xml")]
    reply = await run(
        build_zip(header, extra_files={"externalClientApps/QualityClouds.eca-meta.xml": eca_header()})
    )
    assert failures(reply)[0][1].startswith("An unexpected file was found in the zip")
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("externalClientApps/QualityClouds.eca", eca_header())
    reply = await run(buf.getvalue())
    assert failures(reply) == [("package.xml", "No package.xml found")]
    assert org.external_client_apps == {}
    reply = await run(build_zip(header, package=package_xml({"ExternalClientApplication": ["*"]})))
    assert tag(reply, "status") == "Succeeded"
    # singlePackage=false: one folder holding package.xml and the components
    other = {("ExternalClientApplication", "Other"): eca_header("Other")}
    reply = await sf.deploy_and_wait(
        base, admin.access_token, build_zip(other, root="unpackaged/"), singlePackage="false"
    )
    assert tag(reply, "status") == "Succeeded" and "unpackaged/externalClientApps/Other.eca" in reply.text
    reply = await sf.deploy_and_wait(base, admin.access_token, build_zip(other, root="unpackaged/"))
    assert failures(reply) == [("package.xml", "No package.xml found")]


async def test_rollback_partial_and_check_only(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    org.connected_app_creation_allowed = True
    good_and_bad = {
        ("ConnectedApp", "QualityClouds"): connected_app(),
        ("ExternalClientApplication", "Broken"): metadata_file(
            "ExternalClientApplication", "<distributionState>Shared</distributionState>"
        ),
    }
    reply = await deploy(sf, org, admin, good_and_bad)
    assert tag(reply, "status") == "Failed"
    assert failures(reply) == [
        ("Broken", "'Shared' is not a valid value for the enum 'ExtlClntAppDistState'")
    ]
    assert successes(reply) == [] and org.connected_apps == {} and org.external_client_apps == {}
    reply = await deploy(
        sf, org, admin, {("ConnectedApp", "QualityClouds"): connected_app()}, checkOnly="true"
    )
    assert tag(reply, "status") == "Succeeded" and tag(reply, "checkOnly") == "true"
    assert org.connected_apps == {}
    reply = await deploy(sf, org, admin, good_and_bad, rollbackOnError="false")
    assert (tag(reply, "status"), tag(reply, "success")) == ("SucceededPartial", "false")
    assert "QualityClouds" in org.connected_apps and org.external_client_apps == {}


# --------------------------------------------------------------------------- External Client Apps


async def test_eca_header_and_satellites_in_one_deploy(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens, clock: ManualClock
) -> None:
    everything = {
        ("ExternalClientApplication", "QualityClouds"): eca_header(),
        **satellites(key="ecaKey0000001", secret="ecaSecret00001"),
    }
    reply = await deploy(sf, org, admin, satellites(key="ecaKey0000001", secret="ecaSecret00001"))
    assert tag(reply, "status") == "Failed", "satellites without their parent anywhere fail"
    reply = await deploy(sf, org, admin, everything)
    assert tag(reply, "status") == "Succeeded", reply.text
    assert set(org.external_client_apps["QualityClouds"]) == {
        "ExternalClientApplication", "ExtlClntAppOauthSettings", "ExtlClntAppGlobalOauthSettings",
        "ExtlClntAppOauthConfigurablePolicies", "ExtlClntAppConfigurablePolicies"}


async def test_eca_parent_first_then_satellites_when_the_org_is_strict(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens, clock: ManualClock
) -> None:
    org.eca_satellites_need_existing_parent = True
    org.eca_supplied_credentials = "honour"
    everything = {
        ("ExternalClientApplication", "QualityClouds"): eca_header(),
        **satellites(key="ecaKey0000001", secret="ecaSecret00001"),
    }
    reply = await deploy(sf, org, admin, everything)
    assert tag(reply, "status") == "Failed"
    problems = dict(failures(reply))
    assert set(problems) == {
        "QualityClouds_oauth",
        "QualityClouds_glbloauth",
        "QualityClouds_oauthPlcy",
        "QualityClouds_plcy",
    }
    assert all("doesn't exist. Deploy the ExternalClientApplication before" in p for p in problems.values())
    assert org.external_client_apps == {}
    reply = await deploy(sf, org, admin, {("ExternalClientApplication", "QualityClouds"): eca_header()})
    assert tag(reply, "status") == "Succeeded"
    reply = await deploy(sf, org, admin, satellites(key="ecaKey0000001", secret="ecaSecret00001"))
    assert tag(reply, "status") == "Succeeded", reply.text
    app = org.external_client_apps["QualityClouds"]
    assert set(app) == {
        "ExternalClientApplication",
        "ExtlClntAppOauthSettings",
        "ExtlClntAppGlobalOauthSettings",
        "ExtlClntAppOauthConfigurablePolicies",
        "ExtlClntAppConfigurablePolicies",
    }
    assert app["ExternalClientApplication"]["orgScopedExternalApp"] == f"{org.id}:QualityClouds"
    glob = app["ExtlClntAppGlobalOauthSettings"]
    assert glob["consumerKey"] == "ecaKey0000001" and "consumerSecret" not in glob
    assert glob["fullName"] == "QualityClouds_glbloauth" and glob["isPkceRequired"] is False
    assert app["ExtlClntAppOauthConfigurablePolicies"]["refreshTokenValidityPeriod"] == 90
    assert org.consumer_secret("QualityClouds") == "ecaSecret00001"
    clock.advance(org.credentials_propagation)
    status, body = await sf.token(
        org.my_domain_url,
        {"grant_type": "client_credentials", "client_id": "ecaKey0000001", "client_secret": "ecaSecret00001"},
    )
    assert status == 200, body
    read = await sf.read_metadata(
        org.my_domain_url,
        admin.access_token,
        "ExtlClntAppGlobalOauthSettings",
        ["QualityClouds_glbloauth", "Missing"],
    )
    assert read.text.count("<records") == 1 and "<consumerKey>ecaKey0000001</consumerKey>" in read.text
    assert "ecaSecret00001" not in read.text
    listed = await sf.soap(
        org.my_domain_url,
        admin.access_token,
        "<met:listMetadata><met:queries><met:type>ExtlClntAppGlobalOauthSettings</met:type>"
        "</met:queries><met:asOfVersion>63.0</met:asOfVersion></met:listMetadata>",
    )
    assert (
        "<fileName>extlClntAppGlobalOauthSets/QualityClouds_glbloauth.ecaGlblOauth</fileName>" in listed.text
    )


async def test_eca_generated_credentials_read_back(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens, clock: ManualClock
) -> None:
    org.eca_satellites_need_existing_parent = False  # one deploy for all five types
    org.client_secret_rest_access = True
    org.seed_permission_set("QC_Read", permissions=["ExternalClientAppViewer", "ViewClientSecret"],
                            assignee=org.admin)
    # By default a supplied key and secret are accepted and silently replaced by the org's own.
    everything = {
        ("ExternalClientApplication", "QualityClouds"): eca_header(),
        **satellites(key="ecaKey0000001", secret="ecaSecret00001"),
    }
    reply = await deploy(sf, org, admin, everything)
    assert tag(reply, "status") == "Succeeded", reply.text
    assert org.consumer_secret("QualityClouds") != "ecaSecret00001"
    read = await sf.read_metadata(
        org.my_domain_url, admin.access_token, "ExtlClntAppGlobalOauthSettings", ["QualityClouds_glbloauth"]
    )
    key = tag(read, "consumerKey")
    assert key and key.startswith("3MVG9")
    status, usage = await sf.rest(org.my_domain_url, admin.access_token, "apps/oauth/usage")
    app_id = usage["apps"][0]["identifier"]
    status, consumers = await sf.rest(
        org.my_domain_url, admin.access_token, f"apps/oauth/credentials/{app_id}"
    )
    consumer = consumers["consumers"][0]
    status, creds = await sf.rest(
        org.my_domain_url,
        admin.access_token,
        f"apps/oauth/credentials/{app_id}/{consumer['id']}",
        params={"part": "keyandsecret"},
    )
    assert creds["key"] == key and creds["secret"] == org.consumer_secret("QualityClouds")
    clock.advance(org.credentials_propagation)
    status, _ = await sf.token(
        org.my_domain_url,
        {"grant_type": "client_credentials", "client_id": key, "client_secret": creds["secret"]},
    )
    assert status == 200


@pytest.mark.parametrize(
    ("component", "problem"),
    [
        (
            ("ExtlClntAppOauthConfigurablePolicies", eca_policies(permitted="AdminApproved")),
            "'AdminApproved' is not a valid value for the enum 'PermittedUsersPolicyType'",
        ),
        (
            ("ExtlClntAppOauthConfigurablePolicies", eca_policies(ip="ENFORCE")),
            "'ENFORCE' is not a valid value for the enum 'IpRelaxationPolicyType'",
        ),
        (
            ("ExtlClntAppOauthConfigurablePolicies", eca_policies(unit="Weeks")),
            "'Weeks' is not a valid value for the enum 'RefreshTokenValidityUnit'",
        ),
        (
            ("ExtlClntAppOauthConfigurablePolicies", eca_policies(kind="Forever")),
            "'Forever' is not a valid value for the enum 'RefreshTokenPolicyType'",
        ),
        (
            ("ExtlClntAppOauthConfigurablePolicies", eca_policies(period=None)),
            "refreshTokenValidityPeriod (1 or more) and refreshTokenValidityUnit are required",
        ),
        (
            ("ExtlClntAppOauthConfigurablePolicies", eca_policies(run_as="ghost@acme.example")),
            "The run-as user 'ghost@acme.example' doesn't exist or isn't active in this org.",
        ),
        (
            ("ExtlClntAppOauthSettings", eca_oauth(scopes="Api, ChatterApi")),
            "'ChatterApi' is not a valid value for the enum 'ConnectedAppOauthAccessScope'. "
            "Valid values are: Basic,",
        ),
        (
            ("ExtlClntAppGlobalOauthSettings", eca_global(key="bad-key!")),
            "The consumer key must be 8 to 256 alphanumeric characters.",
        ),
    ],
)
async def test_eca_field_rules(
    fake: FakeSalesforce,
    sf: SalesforceDriver,
    org: FakeOrg,
    admin: Tokens,
    component: tuple[str, str],
    problem: str,
) -> None:
    org.eca_supplied_credentials = "honour"
    org.seed_external_client_app("QualityClouds", policies=False)
    del org.external_client_apps["QualityClouds"]["ExtlClntAppOauthSettings"]
    del org.external_client_apps["QualityClouds"]["ExtlClntAppGlobalOauthSettings"]
    type_name, document = component
    reply = await deploy(sf, org, admin, {(type_name, "QualityClouds_x"): document})
    [(name, text)] = failures(reply)
    assert name == "QualityClouds_x" and text.startswith(problem)


async def test_eca_update_rules(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    org.seed_external_client_app(
        "QualityClouds", consumer_key="seedKey000001", consumer_secret="seedSecret0001"
    )
    glob = ("ExtlClntAppGlobalOauthSettings", "QualityClouds_glbloauth")
    reply = await deploy(sf, org, admin, {glob: eca_global(key="otherKey00001")})
    assert failures(reply) == [("QualityClouds_glbloauth", "You cannot provide a Consumer Key")]
    reply = await deploy(sf, org, admin, {glob: eca_global(secret="otherSecret001")})
    assert failures(reply) == [("QualityClouds_glbloauth", "You cannot provide a Consumer Secret")]
    reply = await deploy(sf, org, admin, {glob: eca_global(key="seedKey000001", pkce=None)})
    assert tag(reply, "status") == "Succeeded"
    stored = org.external_client_apps["QualityClouds"]["ExtlClntAppGlobalOauthSettings"]
    assert stored["consumerKey"] == "seedKey000001" and stored["isPkceRequired"] is True  # default true
    org.pkce_required_org_wide = True
    reply = await deploy(sf, org, admin, {glob: eca_global(pkce=False)})
    assert tag(reply, "status") == "Succeeded"
    assert (
        org.external_client_apps["QualityClouds"]["ExtlClntAppGlobalOauthSettings"]["isPkceRequired"] is True
    )
    # a second OAuth policy under another name would duplicate the app's policies
    reply = await deploy(
        sf, org, admin, {("ExtlClntAppOauthConfigurablePolicies", "QualityClouds_other"): eca_policies()}
    )
    [(name, problem)] = failures(reply)
    assert (
        name == "QualityClouds_other"
        and "already has a ExtlClntAppOauthConfigurablePolicies named" in problem
    )


async def test_permissions(fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens) -> None:
    org.connected_app_creation_allowed = True
    org.seed_external_client_app("QualityClouds")
    nobody = org.add_user(username="viewer@acme.example", permissions=set())
    fake.sign_in(org, nobody.username)
    viewer = await sf.login(fake.login_url)
    reply = await sf.read_metadata(org.my_domain_url, viewer.access_token, "ConnectedApp", ["QualityClouds"])
    assert reply.status == 500 and reply.fault == "sf:INSUFFICIENT_ACCESS"
    deployer = org.add_user(username="deployer@acme.example", permissions={"ModifyMetadata"})
    fake.sign_in(org, deployer.username)
    tokens = await sf.login(fake.login_url)
    reply = await deploy(
        sf,
        org,
        tokens,
        {
            ("ConnectedApp", "QualityClouds"): connected_app(),
            ("ExternalClientApplication", "QualityClouds"): eca_header("New"),
        },
    )
    assert sorted(failures(reply)) == [
        (
            "QualityClouds",
            "Insufficient access rights: deploying connected apps requires Customize Application and "
            "either Modify All Data or Manage Connected Apps.",
        ),
        (
            "QualityClouds",
            "Insufficient access rights: deploying external client apps requires Manage External "
            "Client Apps or Modify All Data.",
        ),
    ]
    deployer.permissions |= {"ManageExternalClientApps"}
    reply = await deploy(sf, org, tokens, {("ExternalClientApplication", "QualityClouds"): eca_header("New")})
    assert tag(reply, "status") == "Succeeded"


# ----------------------------------------------------------------------------- deploy life cycle


async def test_deploy_progress_and_forced_failure(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    base = org.my_domain_url
    zip_bytes = build_zip({("ExternalClientApplication", "QualityClouds"): eca_header()})
    reply = await sf.soap(
        base,
        admin.access_token,
        "<met:deploy><met:ZipFile>"
        + __import__("base64").b64encode(zip_bytes).decode()
        + "</met:ZipFile><met:DeployOptions><met:allowMissingFiles>false</met:allowMissingFiles>"
        "<met:autoUpdatePackage>false</met:autoUpdatePackage><met:checkOnly>false</met:checkOnly>"
        "<met:ignoreWarnings>false</met:ignoreWarnings><met:performRetrieve>false"
        "</met:performRetrieve><met:purgeOnDelete>false</met:purgeOnDelete><met:rollbackOnError>"
        "true</met:rollbackOnError><met:singlePackage>true</met:singlePackage><met:testLevel>"
        "NoTestRun</met:testLevel></met:DeployOptions></met:deploy>",
    )
    assert (tag(reply, "done"), tag(reply, "state")) == ("false", "Queued")
    deploy_id = tag(reply, "id") or ""
    assert len(deploy_id) == 18 and deploy_id.startswith("0Af")
    seen = []
    for _ in range(3):
        status = await sf.check_status(base, admin.access_token, deploy_id, include_details=False)
        seen.append((tag(status, "status"), tag(status, "done")))
    assert seen == [("Pending", "false"), ("InProgress", "false"), ("Succeeded", "true")]
    assert "<details></details>" in status.text
    org.deploy_polls_until_done = 0
    org.fail_next_deploy()
    reply = await deploy(sf, org, admin, {("ExternalClientApplication", "Other"): eca_header()})
    assert (tag(reply, "status"), tag(reply, "errorStatusCode")) == ("Failed", "ALREADY_IN_PROCESS")
    assert tag(reply, "errorMessage") and failures(reply) == [] and "Other" not in org.external_client_apps
    if fake.schema is not None:
        with pytest.raises(ValueError):
            org.fail_next_deploy(status_code="NOT_A_STATUS_CODE")
    assert [d.status for d in org.deploys] == ["Succeeded", "Failed"]
    cancel = await sf.soap(
        base, admin.access_token, f"<met:cancelDeploy><met:String>{deploy_id}</met:String></met:cancelDeploy>"
    )
    assert tag(cancel, "done") == "true"


# ------------------------------------------------------------------------------------ SOAP faults


async def test_soap_faults(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens, clock: ManualClock
) -> None:
    base = org.my_domain_url
    read = (
        "<met:readMetadata><met:type>ConnectedApp</met:type><met:fullNames>X</met:fullNames>"
        "</met:readMetadata>"
    )
    reply = await sf.soap(base, "bogus", read)
    assert (reply.status, reply.fault, reply.faultstring) == (
        500,
        "sf:INVALID_SESSION_ID",
        "INVALID_SESSION_ID: Invalid Session ID found in SessionHeader: Illegal Session",
    )
    assert "<sf:exceptionCode>INVALID_SESSION_ID</sf:exceptionCode>" in reply.text
    assert (await sf.soap(base, None, read)).fault == "sf:INVALID_SESSION_ID"
    ok = await sf.soap(base, admin.access_token, read, suffix=f"/{org.id[:15]}", soap_action="deploy")
    assert ok.status == 200 and "<readMetadataResponse><result></result></readMetadataResponse>" in ok.text
    assert (await sf.soap(fake.login_url, admin.access_token, read)).fault == "sf:UNKNOWN_EXCEPTION"
    assert (
        await sf.soap(base, admin.access_token, read, version="64.0")
    ).fault == "sf:UNSUPPORTED_API_VERSION"
    wrong_type = await sf.soap(base, admin.access_token, read, content_type="application/soap+xml")
    assert (wrong_type.status, wrong_type.fault) == (500, "soapenv:Client")
    unknown = await sf.soap(base, admin.access_token, "<met:frobnicate/>")
    assert "No operation available for request" in (unknown.faultstring or "")
    if fake.schema is not None:
        unimplemented = await sf.soap(
            base,
            admin.access_token,
            "<met:describeMetadata><met:asOfVersion>63.0</met:asOfVersion></met:describeMetadata>",
        )
        assert "not implemented by the fake" in (unimplemented.faultstring or "")
    bad_id = await sf.soap(
        base,
        admin.access_token,
        "<met:checkDeployStatus><met:asyncProcessId>0Af12"
        "</met:asyncProcessId><met:includeDetails>true"
        "</met:includeDetails></met:checkDeployStatus>",
    )
    assert bad_id.fault == "soapenv:Client" and "Invalid request for checkDeployStatus" in (
        bad_id.faultstring or ""
    )
    no_options = await sf.soap(
        base,
        admin.access_token,
        "<met:deploy><met:ZipFile>UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="
        "</met:ZipFile><met:DeployOptions><met:checkOnly>true"
        "</met:checkOnly></met:DeployOptions></met:deploy>",
    )
    assert no_options.fault == "soapenv:Client"
    unknown_deploy = await sf.check_status(base, admin.access_token, "0Af000000000000AAA")
    assert unknown_deploy.fault == "sf:INVALID_CROSS_REFERENCE_KEY"
    many = await sf.read_metadata(base, admin.access_token, "ConnectedApp", [f"A{i}" for i in range(11)])
    assert many.fault == "sf:EXCEEDED_ID_LIMIT"
    other_type = await sf.read_metadata(base, admin.access_token, "ApexClass", ["Foo"])
    assert other_type.fault == "sf:INVALID_TYPE"
    org.fail_next_call("readMetadata")
    limited = await sf.soap(base, admin.access_token, read)
    assert (limited.status, limited.fault, limited.faultstring) == (
        500,
        "sf:REQUEST_LIMIT_EXCEEDED",
        "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.",
    )
    fake.inject_http("/services/Soap/m/", status=503)
    assert (await sf.soap(base, admin.access_token, read)).status == 503
    assert (await sf.soap(base, admin.access_token, read)).status == 200
    clock.advance(hours=3)
    assert (await sf.soap(base, admin.access_token, read)).fault == "sf:INVALID_SESSION_ID"


async def test_read_metadata_missing_forms_and_seeded_drift(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    org.seed_connected_app(
        "QualityClouds", pkce_required=True, callback_urls=["https://other.example/cb"], scopes=["Api"]
    )
    read = await sf.read_metadata(
        org.my_domain_url, admin.access_token, "ConnectedApp", ["Missing", "QualityClouds"]
    )
    assert read.text.count("<records") == 1
    assert "<isPkceRequired>true</isPkceRequired>" in read.text
    assert "<callbackUrl>https://other.example/cb</callbackUrl>" in read.text
    assert "<isClientCredentialEnabled>false</isClientCredentialEnabled>" in read.text
    org.read_missing = "empty"
    read = await sf.read_metadata(org.my_domain_url, admin.access_token, "ConnectedApp", ["Missing"])
    assert "<result><records/></result>" in read.text
    assert [r.operation for r in fake.requests if r.path.startswith("/services/Soap")] == ["readMetadata"] * 2


async def test_eca_auto_default_policy(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens
) -> None:
    org.eca_auto_default_policy = True
    await deploy(sf, org, admin, {("ExternalClientApplication", "QualityClouds"): eca_header()})
    parts = satellites()
    reply = await deploy(
        sf,
        org,
        admin,
        {
            k: v
            for k, v in parts.items()
            if k[0] in ("ExtlClntAppOauthSettings", "ExtlClntAppGlobalOauthSettings")
        },
    )
    assert tag(reply, "status") == "Succeeded"
    policy = org.external_client_apps["QualityClouds"]["ExtlClntAppOauthConfigurablePolicies"]
    assert policy["fullName"] == "QualityClouds_defaultPolicy" and policy["refreshTokenValidityPeriod"] == 365
    reply = await deploy(
        sf,
        org,
        admin,
        {("ExtlClntAppOauthConfigurablePolicies", "QualityClouds_defaultPolicy"): eca_policies()},
    )
    assert tag(reply, "status") == "Succeeded"  # updating the generated policy works


async def test_org_app_web_server_flow_and_oauth_token_rows(fake: FakeSalesforce, org: FakeOrg) -> None:
    org.seed_external_client_app(
        "QualityClouds", callback_url=REDIRECT, consumer_key="ecaWebKey0001", consumer_secret="ecaWebSecret01"
    )
    async with aiohttp.ClientSession() as session:
        app = SalesforceDriver(
            session, client_id="ecaWebKey0001", client_secret="ecaWebSecret01", redirect_uri=REDIRECT
        )
        await app.login(fake.login_url)
        assert org.oauth_tokens == [], "by default an ECA's tokens are only in its OAuth Usage"
        assert len(org.usage_tokens("QualityClouds")) == 1
        org.oauth_token_includes_eca = True
        await app.login(fake.login_url)
        assert [r.app_name for r in org.oauth_tokens] == ["QualityClouds"]
        assert len(org.usage_tokens("QualityClouds")) == 2
        resp = await app.authorize(fake.login_url, state="s")  # the ECA requires PKCE by default
        assert resp.status == 302 and "error=invalid_request" in resp.headers["Location"]


# ------------------------------------------------------------------------------------ deleteMetadata


async def delete(sf: SalesforceDriver, admin: Tokens, type_name: str, *names: str) -> list[str]:
    inner = "".join(f"<met:fullNames>{name}</met:fullNames>" for name in names)
    reply = await sf.soap(admin.instance_url, admin.access_token,
                          f"<met:deleteMetadata><met:type>{type_name}</met:type>{inner}</met:deleteMetadata>")
    assert reply.status == 200, reply.text
    return re.findall(r"<result>(.*?)</result>", reply.text)


async def test_delete_of_a_missing_name_fails_with_salesforces_wording(sf: SalesforceDriver, admin: Tokens) -> None:
    [result] = await delete(sf, admin, "ConnectedApp", "Nope")
    assert "<statusCode>INVALID_CROSS_REFERENCE_KEY</statusCode>" in result
    assert "no ConnectedApp named Nope found" in result and "<success>false</success>" in result


async def test_an_external_client_app_is_deleted_children_first_and_takes_its_tokens(
    sf: SalesforceDriver, org: FakeOrg, admin: Tokens, clock: ManualClock
) -> None:
    parts = org.seed_external_client_app("QualityClouds")
    token_row = org.add_oauth_token(app_name="QualityClouds", user=org.admin, created=clock())
    [refused] = await delete(sf, admin, "ExternalClientApplication", "QualityClouds")
    assert "<statusCode>DEPENDENCY_EXISTS</statusCode>" in refused
    assert "QualityClouds" in org.external_client_apps

    for type_name in ("ExtlClntAppConfigurablePolicies", "ExtlClntAppOauthConfigurablePolicies",
                      "ExtlClntAppGlobalOauthSettings", "ExtlClntAppOauthSettings"):
        [result] = await delete(sf, admin, type_name, parts[type_name]["fullName"])
        assert "<success>true</success>" in result, result
        if type_name == "ExtlClntAppGlobalOauthSettings":
            assert token_row not in org.oauth_tokens, "an app that cannot issue tokens takes its tokens along"
    [header] = await delete(sf, admin, "ExternalClientApplication", "QualityClouds")
    assert "<success>true</success>" in header
    assert org.external_client_apps == {} and org.consumer_secret("QualityClouds") is None


async def test_a_connected_app_is_deleted_with_its_tokens(
    sf: SalesforceDriver, org: FakeOrg, admin: Tokens, clock: ManualClock
) -> None:
    org.seed_connected_app("QualityClouds", consumer_key="ConnectedAppKey0123456789")
    org.add_oauth_token(app_name="QualityClouds", user=org.admin, created=clock())
    [result] = await delete(sf, admin, "ConnectedApp", "QualityClouds")
    assert "<success>true</success>" in result
    assert org.connected_apps == {} and [row.app_name for row in org.oauth_tokens] == ["qc-bot"]
    assert org.app_client("ConnectedAppKey0123456789") is None


async def test_delete_of_more_than_ten_names_is_refused(sf: SalesforceDriver, admin: Tokens) -> None:
    inner = "".join(f"<met:fullNames>App{number}</met:fullNames>" for number in range(11))
    reply = await sf.soap(admin.instance_url, admin.access_token,
                          f"<met:deleteMetadata><met:type>ConnectedApp</met:type>{inner}</met:deleteMetadata>")
    assert reply.status == 500 and reply.fault == "sf:EXCEEDED_ID_LIMIT"


# ------------------------------------------------------------------------------ changes made in Setup


async def test_listmetadata_names_who_changed_an_app_in_setup_and_when(
    fake: FakeSalesforce, sf: SalesforceDriver, org: FakeOrg, admin: Tokens, clock: ManualClock
) -> None:
    reply = await deploy(sf, org, admin, {("ExternalClientApplication", "QualityClouds"): eca_header(),
                                          **satellites()})
    assert tag(reply, "status") == "Succeeded", reply.text
    deployed_at = fake.now()
    clock.advance(timedelta(minutes=30))  # within the session's lifetime
    editor = org.add_user(username="sam.setup@acme.example", first_name="Sam", last_name="Setup")
    org.change_in_setup("ExtlClntAppGlobalOauthSettings", "QualityClouds_glbloauth", {"isPkceRequired": True},
                        by=editor)

    async def listed(type_name: str) -> str:
        reply = await sf.soap(org.my_domain_url, admin.access_token,
                              f"<met:listMetadata><met:queries><met:type>{type_name}</met:type></met:queries>"
                              "<met:asOfVersion>63.0</met:asOfVersion></met:listMetadata>")
        assert reply.status == 200, reply.text
        return reply.text

    changed = await listed("ExtlClntAppGlobalOauthSettings")
    assert tag(changed, "lastModifiedByName") == "Sam Setup" and tag(changed, "createdByName") == org.admin.name
    assert tag(changed, "lastModifiedDate") == xsd_datetime(deployed_at + timedelta(minutes=30))
    assert tag(changed, "createdDate") == xsd_datetime(deployed_at)
    untouched = await listed("ExternalClientApplication")
    assert tag(untouched, "lastModifiedByName") == org.admin.name
    assert tag(untouched, "lastModifiedDate") == xsd_datetime(deployed_at)
    read = await sf.read_metadata(org.my_domain_url, admin.access_token, "ExtlClntAppGlobalOauthSettings",
                                  ["QualityClouds_glbloauth"])
    assert tag(read, "isPkceRequired") == "true"

    org.setup_edit_recorded_on = "header"  # the other reading: Setup stamps the app, not the settings it changed
    clock.advance(timedelta(minutes=5))
    org.change_in_setup("ExtlClntAppOauthSettings", "QualityClouds_oauth", {"commaSeparatedOauthScopes": "Api"},
                        by=editor)
    header = await listed("ExternalClientApplication")
    assert tag(header, "lastModifiedByName") == "Sam Setup"
    assert tag(header, "lastModifiedDate") == xsd_datetime(deployed_at + timedelta(minutes=35))
    assert tag(await listed("ExtlClntAppOauthSettings"), "lastModifiedByName") == org.admin.name

    org.delete_app_in_setup("QualityClouds")
    assert org.external_client_apps == {}
    assert "<result>" not in await listed("ExtlClntAppGlobalOauthSettings")
    assert "<result>" not in await listed("ExternalClientApplication")
