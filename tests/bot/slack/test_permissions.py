import asyncio
from datetime import UTC, datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import ManualClock
from bot.slack.permissions import Permissions
from standins.slack import FakeSlack


async def test_admins_are_recognised_once_per_burst_and_remembered_for_a_while():
    async with FakeSlack(signing_secret="s") as slack:
        slack.add_user(user_id="UADMIN", name="ada", is_admin=True)
        slack.add_user(user_id="UMEMBER", name="bob")
        slack.add_user(user_id="UOWNER", name="olga", is_owner=True)
        slack.add_user(user_id="UPRIMARY", name="pat", is_primary_owner=True)
        client = AsyncWebClient(token=slack.team.bot_token, base_url=slack.api_url)
        clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
        permissions = Permissions(admin_users=frozenset({"ULISTED"}), clock=clock)
        team = slack.team.team_id
        answers = await asyncio.gather(*(permissions.may_administer(client=client, team_id=team, user_id="UADMIN")
                                         for _ in range(20)))
        assert all(answers) and len(slack.calls_to("users.info")) == 1
        assert not await permissions.may_administer(client=client, team_id=team, user_id="UMEMBER")
        assert await permissions.may_administer(client=client, team_id=team, user_id="UOWNER")
        assert await permissions.may_administer(client=client, team_id=team, user_id="UPRIMARY")
        assert await permissions.may_administer(client=client, team_id=team, user_id="ULISTED")
        assert permissions.known_decision(team_id=team, user_id="UADMIN") is True
        clock.advance(timedelta(minutes=6))
        assert permissions.known_decision(team_id=team, user_id="UADMIN") is None
