"""The fake Salesforce's `deleteMetadata`: what it refuses, what it deletes, and the tokens that go with an app.

Every SOAP response is validated against the v63.0 WSDL in the fixture's teardown (when the WSDL is present).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import aiohttp
import pytest

from bot.standins.salesforce import FakeSalesforce, ManualClock
from bot.standins.salesforce.driver import SalesforceDriver, soap_response_problems

CLIENT_ID = "botClientKey0001"
SECRET = "botClientSecret0001"
REDIRECT = "http://127.0.0.1:9/salesforce/oauth/callback"


@pytest.fixture
async def fake():
    fake = FakeSalesforce(clock=ManualClock())
    fake.add_org(name="Acme")
    fake.register_client(client_id=CLIENT_ID, client_secret=SECRET, redirect_uris=[REDIRECT])
    await fake.start()
    yield fake
    await fake.stop()
    assert soap_response_problems(fake) == []


@pytest.fixture
async def session(fake):
    async with aiohttp.ClientSession() as http:
        driver = SalesforceDriver(http, client_id=CLIENT_ID, client_secret=SECRET, redirect_uri=REDIRECT)
        yield driver, await driver.login(fake.login_url)


async def delete(session, type_name, *names):
    driver, tokens = session
    inner = "".join(f"<met:fullNames>{name}</met:fullNames>" for name in names)
    reply = await driver.soap(tokens.instance_url, tokens.access_token,
                              f"<met:deleteMetadata><met:type>{type_name}</met:type>{inner}</met:deleteMetadata>")
    assert reply.status == 200, reply.text
    return re.findall(r"<result>(.*?)</result>", reply.text)


async def test_a_missing_name_fails_with_salesforces_wording(session):
    [result] = await delete(session, "ConnectedApp", "Nope")
    assert "<statusCode>INVALID_CROSS_REFERENCE_KEY</statusCode>" in result
    assert "no ConnectedApp named Nope found" in result and "<success>false</success>" in result


async def test_an_external_client_app_goes_children_first_and_takes_its_tokens(fake, session):
    org = fake.orgs[0]
    parts = org.seed_external_client_app("QualityClouds")
    token_row = org.add_oauth_token(app_name="QualityClouds", user=org.admin, created=datetime(2026, 1, 1, tzinfo=UTC))
    [refused] = await delete(session, "ExternalClientApplication", "QualityClouds")
    assert "<statusCode>DEPENDENCY_EXISTS</statusCode>" in refused
    assert "QualityClouds" in org.external_client_apps

    for type_name in ("ExtlClntAppConfigurablePolicies", "ExtlClntAppOauthConfigurablePolicies",
                      "ExtlClntAppGlobalOauthSettings", "ExtlClntAppOauthSettings"):
        [result] = await delete(session, type_name, parts[type_name]["fullName"])
        assert "<success>true</success>" in result, result
        if type_name == "ExtlClntAppGlobalOauthSettings":
            assert token_row not in org.oauth_tokens, "an app that cannot issue tokens takes its tokens along"
    [header] = await delete(session, "ExternalClientApplication", "QualityClouds")
    assert "<success>true</success>" in header
    assert org.external_client_apps == {} and org.consumer_secret("QualityClouds") is None


async def test_a_connected_app_is_deleted_with_its_tokens(fake, session):
    org = fake.orgs[0]
    org.seed_connected_app("QualityClouds", consumer_key="ConnectedAppKey0123456789")
    org.add_oauth_token(app_name="QualityClouds", user=org.admin, created=datetime(2026, 1, 1, tzinfo=UTC))
    [result] = await delete(session, "ConnectedApp", "QualityClouds")
    assert "<success>true</success>" in result
    assert org.connected_apps == {} and [row.app_name for row in org.oauth_tokens] == ["qc-bot"]
    assert org.app_client("ConnectedAppKey0123456789") is None


async def test_more_than_ten_names_are_refused(session):
    driver, tokens = session
    inner = "".join(f"<met:fullNames>App{number}</met:fullNames>" for number in range(11))
    reply = await driver.soap(tokens.instance_url, tokens.access_token,
                              f"<met:deleteMetadata><met:type>ConnectedApp</met:type>{inner}</met:deleteMetadata>")
    assert reply.status == 500 and reply.fault == "sf:EXCEEDED_ID_LIMIT"
