"""The REST client against the Salesforce stand-in: SOQL answered in batches is read to the end."""

from datetime import UTC, datetime

import aiohttp

from standins.salesforce import FakeSalesforce
from tests.support.rest_client import register_client, signed_in_rest_client


async def test_a_query_answered_in_batches_is_read_to_the_end():
    async with FakeSalesforce() as fake, aiohttp.ClientSession() as session:
        org = fake.add_org(name="Big")
        register_client(fake)
        await fake.start()
        for number in range(7):
            user = org.add_user(username=f"user{number}@big.example")
            org.add_oauth_token(app_name="QualityClouds", user=user, created=datetime(2026, 1, 1, tzinfo=UTC))
        org.query_batch_size = 3
        rest = await signed_in_rest_client(fake, org, session)
        records = await rest.query("SELECT UserId FROM OauthToken WHERE AppName = 'QualityClouds'")
        assert len(records) == 7 and len({record["UserId"] for record in records}) == 7
        assert len([r for r in fake.requests if r.operation == "query/more"]) == 2
        assert org.query_locators == {}, "a locator read to the end is released"
