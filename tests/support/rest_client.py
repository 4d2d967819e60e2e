"""A `RestClient` signed in to an org of the Salesforce stand-in, as the bot's REST clients are used."""

import aiohttp

from bot.redaction import Secret
from bot.retry import Backoff
from bot.salesforce.hosts import HostPolicy
from bot.salesforce.http import SalesforceHttp
from bot.salesforce.rest import RestClient
from bot.salesforce.session import OrgSession
from standins.salesforce import FakeOrg, FakeSalesforce
from standins.salesforce.driver import SalesforceDriver

CLIENT_ID = "clientKey00001"
CLIENT_SECRET = "clientSecret001"
REDIRECT = "http://127.0.0.1:9/callback"


def register_client(fake: FakeSalesforce) -> None:
    """The OAuth client `signed_in_rest_client` signs in with."""
    fake.register_client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[REDIRECT])


async def signed_in_rest_client(fake: FakeSalesforce, org: FakeOrg, session: aiohttp.ClientSession) -> RestClient:
    """A REST client on the org's My Domain, signed in as the admin through the registered client (the fake
    started), retrying quickly."""
    tokens = await SalesforceDriver(session, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                    redirect_uri=REDIRECT).login(fake.login_url)
    http = SalesforceHttp(session=session, host_policy=HostPolicy.from_entries(fake.allowed_hosts),
                          retry=Backoff(initial=0.01, maximum=0.05, jitter=0.0, deadline=1.0))
    return RestClient(http=http, session=OrgSession(instance_url=org.my_domain_url,
                                                    access_token=Secret(tokens.access_token), refresh=None))
