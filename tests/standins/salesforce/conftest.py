"""What every test of the Salesforce stand-in starts from: one org, the bot's OAuth client, a raw HTTP driver.

Every SOAP response a test provoked is checked against the v63.0 WSDL when the fake stops."""

import aiohttp
import pytest

from standins.salesforce import FakeOrg, FakeSalesforce, ManualClock
from standins.salesforce.driver import SalesforceDriver, Tokens, soap_response_problems

CLIENT_ID = "botClientKey0001"
SECRET = "botClientSecret0001"
REDIRECT = "http://127.0.0.1:9/salesforce/oauth/callback"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def fake(clock: ManualClock):
    fake = FakeSalesforce(clock=clock)
    fake.add_org(name="Acme")
    fake.register_client(client_id=CLIENT_ID, client_secret=SECRET, redirect_uris=[REDIRECT])
    await fake.start()
    yield fake
    await fake.stop()
    assert soap_response_problems(fake) == []


@pytest.fixture
async def sf(fake: FakeSalesforce):
    async with aiohttp.ClientSession() as session:
        yield SalesforceDriver(session, client_id=CLIENT_ID, client_secret=SECRET, redirect_uri=REDIRECT)


@pytest.fixture
def org(fake: FakeSalesforce) -> FakeOrg:
    return fake.orgs[0]


@pytest.fixture
async def admin(fake: FakeSalesforce, sf: SalesforceDriver) -> Tokens:
    return await sf.login(fake.login_url)
