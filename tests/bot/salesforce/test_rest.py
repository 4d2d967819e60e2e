"""The REST client against the Salesforce stand-in: SOQL answered in batches is read to the end."""

from datetime import UTC, datetime

import aiohttp

from bot.redaction import Secret
from bot.retry import Backoff
from bot.salesforce.hosts import HostPolicy
from bot.salesforce.http import SalesforceHttp
from bot.salesforce.rest import RestClient
from bot.salesforce.session import OrgSession
from standins.salesforce import FakeSalesforce
from standins.salesforce.driver import SalesforceDriver

REDIRECT = "http://127.0.0.1:9/callback"


async def test_a_query_answered_in_batches_is_read_to_the_end():
    async with FakeSalesforce() as fake, aiohttp.ClientSession() as session:
        org = fake.add_org(name="Big")
        fake.register_client(client_id="clientKey00001", client_secret="clientSecret001", redirect_uris=[REDIRECT])
        await fake.start()
        for number in range(7):
            user = org.add_user(username=f"user{number}@big.example")
            org.add_oauth_token(app_name="QualityClouds", user=user, created=datetime(2026, 1, 1, tzinfo=UTC))
        org.query_batch_size = 3
        tokens = await SalesforceDriver(session, client_id="clientKey00001", client_secret="clientSecret001",
                                        redirect_uri=REDIRECT).login(fake.login_url)
        http = SalesforceHttp(session=session, host_policy=HostPolicy.from_entries(fake.allowed_hosts),
                              retry=Backoff(initial=0.01, maximum=0.05, jitter=0.0, deadline=1.0))
        rest = RestClient(http=http, session=OrgSession(instance_url=org.my_domain_url,
                                                        access_token=Secret(tokens.access_token), refresh=None))
        records = await rest.query("SELECT UserId FROM OauthToken WHERE AppName = 'QualityClouds'")
        assert len(records) == 7 and len({record["UserId"] for record in records}) == 7
        assert len([r for r in fake.requests if r.operation == "query/more"]) == 2
        assert org.query_locators == {}, "a locator read to the end is released"
