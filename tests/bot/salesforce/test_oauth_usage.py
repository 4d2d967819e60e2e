"""The OAuth Usage client against the Salesforce stand-in: every user's tokens, read page by page to the empty
page that follows the last one, and never more than `MAX_PAGES` pages of an answer that does not end."""

import json
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.salesforce.oauth_usage import MAX_PAGES, OAuthUsageClient, UsageTooLarge
from standins.salesforce import FakeSalesforce, ManualClock
from tests.support.rest_client import register_client, signed_in_rest_client

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def usage():
    clock = ManualClock(START)
    async with FakeSalesforce(clock=clock) as fake, aiohttp.ClientSession() as session:
        org = fake.add_org(name="Acme")
        org.seed_external_client_app("QualityClouds")
        register_client(fake)
        await fake.start()
        rest = await signed_in_rest_client(fake, org, session)
        yield fake, org, OAuthUsageClient(rest=rest)


async def test_every_token_of_every_user_is_read_across_pages(usage):
    fake, org, client = usage
    org.oauth_usage_page_size = 2
    users = [org.add_user(username=f"user{n}@acme.example") for n in range(5)]
    for number, user in enumerate(users):
        org.issue_app_token("QualityClouds", user=user, created=START - timedelta(days=number),
                            last_used=START + timedelta(hours=number))
    org.issue_app_token("QualityClouds", user=users[0], created=START + timedelta(days=1))

    found = await client.tokens(developer_name="QualityClouds")

    assert sorted((token.username, token.created_at) for token in found) == sorted(
        [(f"user{n}@acme.example", START - timedelta(days=n)) for n in range(5)]
        + [("user0@acme.example", START + timedelta(days=1))])
    assert {token.user_id for token in found} == {user.id for user in users}
    assert next(t for t in found if t.username == "user3@acme.example").last_used_at == START + timedelta(hours=3)
    pages = [record.query.split("&")[0] for record in fake.calls("apps/oauth/usage/app/users")]
    assert pages == ["", "page=1", "page=2", "page=3"], "three pages of users, then the empty one"


async def test_an_app_nobody_used_has_no_tokens_and_an_unknown_app_none_either(usage):
    _, _, client = usage
    assert await client.tokens(developer_name="QualityClouds") == []
    assert await client.tokens(developer_name="SomeOtherApp") == []


async def test_an_answer_that_never_ends_is_cut_off_after_max_pages(usage):
    fake, org, client = usage
    org.issue_app_token("QualityClouds", user=org.admin, created=START)
    users_path = f"/services/data/v63.0/apps/oauth/usage/{org.eca_id('QualityClouds')}/users"
    for page in range(MAX_PAGES + 5):  # each page names a further page, and none is ever empty
        fake.inject_http(users_path, status=200, body=json.dumps({
            "users": [{"userIdentifier": org.admin.id, "username": org.admin.username}],
            "nextPageUrl": f"{users_path}?page={page + 1}"}))
    with pytest.raises(UsageTooLarge):
        await client.tokens(developer_name="QualityClouds")
    assert len([r for r in fake.requests if r.path == users_path]) == MAX_PAGES


async def test_a_next_page_elsewhere_or_repeated_is_not_followed(usage):
    fake, org, client = usage
    org.issue_app_token("QualityClouds", user=org.admin, created=START)
    users_path = f"/services/data/v63.0/apps/oauth/usage/{org.eca_id('QualityClouds')}/users"
    entry = {"userIdentifier": org.admin.id, "username": org.admin.username}
    fake.inject_http(users_path, status=200, body=json.dumps({"users": [entry], "nextPageUrl": users_path}))
    assert len(await client.tokens(developer_name="QualityClouds")) == 1
    fake.inject_http(users_path, status=200, body=json.dumps(
        {"users": [entry], "nextPageUrl": "https://attacker.example/services/data/v63.0/x"}))
    assert len(await client.tokens(developer_name="QualityClouds")) == 1
    assert len([r for r in fake.requests if r.path == users_path]) == 2
