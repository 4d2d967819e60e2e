"""The fake's schema layer: the built-in table agrees with the WSDL; fallback mode still refuses."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from standins.salesforce import FakeSalesforce, RefreshPolicy
from standins.salesforce.driver import SalesforceDriver, build_zip, metadata_file
from standins.salesforce.ids import to18
from standins.salesforce.schema import (
    BUILTIN_SIMPLE,
    FALLBACK_ENUMS,
    FALLBACK_TYPES,
    check_structure,
    find_wsdl,
    load_schema,
)

WSDL = find_wsdl()
SCHEMA = load_schema(WSDL) if WSDL else None
needs_wsdl = pytest.mark.skipif(
    SCHEMA is None,
    reason="needs ../shared/salesforce/metadata-v63.wsdl (or $QC_METADATA_WSDL) and lxml",
)
#: complex types the table references without describing (the WSDL check covers them).
OPAQUE = {
    "CanvasMetadata",
    "ConnectedAppAttribute",
    "ConnectedAppCanvasConfig",
    "ConnectedAppIpRange",
    "ConnectedAppMobileDetailConfig",
    "ConnectedAppSamlConfig",
    "ConnectedAppSessionPolicy",
    "ConnectedAppOauthAssetToken",
    "ConnectedAppOauthIdToken",
    "ExternalAppIdTokenConfig",
    "ExtlClntAppOauthSettingsAttribute",
    "ExtlClntAppOauthIpRange",
    "ExtlClntAppOauthPoliciesAttribute",
    "ProfileObjectPermissions",
}


@pytest.mark.wsdl
@needs_wsdl
def test_fallback_table_agrees_with_the_wsdl() -> None:
    assert SCHEMA is not None
    for name, spec in FALLBACK_TYPES.items():
        assert SCHEMA.describe(name) == spec, name
    referenced = {f.type for spec in FALLBACK_TYPES.values() for f in spec.own_fields}
    for type_name in referenced - set(FALLBACK_TYPES) - BUILTIN_SIMPLE - {"ID"}:
        values = SCHEMA.enum_values(type_name)
        if values is not None:
            assert FALLBACK_ENUMS.get(type_name) == values, type_name
        else:
            assert type_name in OPAQUE and SCHEMA.has_complex_type(type_name), type_name
    for name, values in FALLBACK_ENUMS.items():
        assert SCHEMA.enum_values(name) == values, name


@pytest.mark.wsdl
@needs_wsdl
def test_response_validation_is_not_vacuous() -> None:
    assert SCHEMA is not None
    good = (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns="http://soap.sforce.com/2006/04/metadata"><soapenv:Body><deployResponse><result>'
        b"<done>false</done><id>0Af5g0000000004CAA</id><state>Queued</state></result></deployResponse>"
        b"</soapenv:Body></soapenv:Envelope>"
    )
    assert SCHEMA.check_body(good) == []
    assert SCHEMA.check_body(good.replace(b"Queued", b"Waiting"))
    assert SCHEMA.check_body(good.replace(b"0Af5g0000000004CAA", b"0Af5g0000000004"))
    assert SCHEMA.check_body(good.replace(b"<done>false</done>", b""))
    assert load_schema(WSDL) is SCHEMA  # cached per process


def test_find_wsdl_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "metadata.wsdl"
    target.write_text("<definitions/>")
    monkeypatch.setenv("QC_METADATA_WSDL", str(target))
    assert find_wsdl() == target
    monkeypatch.setenv("QC_METADATA_WSDL", str(tmp_path / "absent.wsdl"))
    assert find_wsdl() is None
    with pytest.raises(FileNotFoundError):
        FakeSalesforce(wsdl_path=tmp_path / "absent.wsdl")


def test_check_structure_messages() -> None:
    ns = "http://soap.sforce.com/2006/04/metadata"

    def check(type_name: str, inner: str) -> list[str]:
        return [
            p.message
            for p in check_structure(
                ET.fromstring(f'<{type_name} xmlns="{ns}">{inner}</{type_name}>'), type_name
            )
        ]

    assert check("ConnectedApp", "<contactEmail>a</contactEmail><label>b</label>") == []
    assert check("ConnectedApp", "<fullName>X</fullName><contactEmail>a</contactEmail><label>b</label>") == []
    assert check(
        "ConnectedApp", "<contactEmail>a</contactEmail><contactEmail>a</contactEmail><label>b</label>"
    ) == [f"Element {{{ns}}}contactEmail invalid at this location in type ConnectedApp"]
    assert check(
        "ExtlClntAppConfigurablePolicies", "<externalClientApplication>A</externalClientApplication>"
    ) == ["Required field 'isEnabled' is missing in type ExtlClntAppConfigurablePolicies"]
    assert check(
        "ExtlClntAppOauthConfigurablePolicies",
        "<externalClientApplication>A</externalClientApplication>"
        "<refreshTokenValidityPeriod>ninety</refreshTokenValidityPeriod>",
    ) == ["'ninety' is not a valid value for the type xsd:int (field refreshTokenValidityPeriod)"]
    assert check("DeployOptions", "<allowMissingFiles>false</allowMissingFiles>")[0].startswith(
        "Required field 'autoUpdatePackage'"
    )
    assert (
        check(
            "checkDeployStatus",
            "<asyncProcessId>0Af5g0000000004CAA</asyncProcessId><includeDetails>true</includeDetails>",
        )
        == []
    )


def test_ids_and_policies() -> None:
    assert to18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    created = datetime(2026, 1, 31, tzinfo=UTC)
    assert RefreshPolicy.parse("lifetime:1m").expires_at(created, created) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert RefreshPolicy.parse("specific_inactivity:30:DAYS") == RefreshPolicy("idle", 30, "days")
    assert RefreshPolicy.parse("infinite").expires_at(created, created) is None
    with pytest.raises(ValueError):
        RefreshPolicy.parse("90d")


async def test_fallback_mode_still_refuses() -> None:
    async with FakeSalesforce(wsdl_path=False) as fake, aiohttp.ClientSession() as session:
        assert fake.schema is None
        org = fake.add_org(name="Demo")
        fake.register_client(
            client_id="demoKey00001", client_secret="demoSecret001", redirect_uris=["http://x/cb"]
        )
        sf = SalesforceDriver(
            session, client_id="demoKey00001", client_secret="demoSecret001", redirect_uri="http://x/cb"
        )
        tokens = await sf.login(fake.login_url)
        bad = metadata_file(
            "ExternalClientApplication", "<label>QC</label><distributionState>Local</distributionState>"
        )
        reply = await sf.deploy_and_wait(
            org.my_domain_url, tokens.access_token, build_zip({("ExternalClientApplication", "QC"): bad})
        )
        assert "<status>Failed</status>" in reply.text and "invalid at this location" in reply.text
        enum = metadata_file("ExternalClientApplication", "<distributionState>Shared</distributionState>")
        reply = await sf.deploy_and_wait(
            org.my_domain_url, tokens.access_token, build_zip({("ExternalClientApplication", "QC"): enum})
        )
        assert (
            "&apos;Shared&apos; is not a valid value" in reply.text
            or "'Shared' is not a valid value" in reply.text
        )
        good = metadata_file(
            "ExternalClientApplication", "<distributionState>Local</distributionState><label>QC</label>"
        )
        reply = await sf.deploy_and_wait(
            org.my_domain_url, tokens.access_token, build_zip({("ExternalClientApplication", "QC"): good})
        )
        assert "<status>Succeeded</status>" in reply.text
        bad_options = await sf.soap(
            org.my_domain_url,
            tokens.access_token,
            "<met:deploy><met:ZipFile>UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==</met:ZipFile>"
            "<met:DeployOptions><met:checkOnly>true</met:checkOnly></met:DeployOptions>"
            "</met:deploy>",
        )
        assert bad_options.fault == "soapenv:Client"
