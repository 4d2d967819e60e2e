"""Multi-workspace install: Bolt's OAuth flow against the fake's authorize page and oauth.v2.access."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.file import FileInstallationStore
from slack_sdk.oauth.state_store.file import FileOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from standins.slack import FakeSlack, ManualClock
from standins.slack.harness import serve_app

SECRET = "oauth-signing-secret"
CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "oauth-client-secret-value"
REDIRECT = "https://qc.example.com/slack/oauth_redirect"


@pytest.fixture
async def fake(clock: ManualClock):
    async with FakeSlack(signing_secret=SECRET, clock=clock) as fake:
        yield fake


async def authorize(fake: FakeSlack, **params: str) -> tuple[int, dict[str, list[str]], str]:
    """GET the authorize page without following the redirect; returns (status, redirect query, location)."""
    query = {"client_id": CLIENT_ID, "scope": "commands,chat:write", "state": "st-1", **params}
    async with (
        aiohttp.ClientSession() as session,
        session.get(fake.authorize_url, params=query, allow_redirects=False) as resp,
    ):
        location = resp.headers.get("Location", "")
        return resp.status, parse_qs(urlsplit(location).query), location


async def test_authorize_redirects_with_code_then_code_exchanges_once(fake: FakeSlack) -> None:
    fake.register_oauth_client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[REDIRECT])
    other = fake.add_team(team_id="T0NEWTEAM", name="New Co", domain="newco")
    installer = fake.add_user(other, user_id="UOWNER01", name="olga", is_owner=True)
    fake.installing_team = other
    status, query, location = await authorize(fake, redirect_uri=REDIRECT)
    assert status == 302 and location.startswith(REDIRECT + "?") and query["state"] == ["st-1"]

    client = AsyncWebClient(base_url=fake.api_url)
    with pytest.raises(SlackApiError) as info:
        await client.oauth_v2_access(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            code=query["code"][0],
            redirect_uri=REDIRECT + "/elsewhere",
        )
    assert info.value.response["error"] == "bad_redirect_uri"
    answer = await client.oauth_v2_access(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=query["code"][0], redirect_uri=REDIRECT
    )
    assert answer.data == {
        "ok": True,
        "app_id": fake.app_id,
        "access_token": other.bot_token,
        "token_type": "bot",
        "scope": "commands,chat:write",
        "bot_user_id": other.bot_user_id,
        "team": {"id": "T0NEWTEAM", "name": "New Co"},
        "enterprise": None,
        "authed_user": {"id": installer.user_id},
        "is_enterprise_install": False,
    }
    assert fake.calls_to("oauth.v2.access")[-1].headers["Authorization"].startswith("Basic ")
    assert other.scopes == {"commands", "chat:write"}
    new_client = AsyncWebClient(base_url=fake.api_url, token=answer["access_token"])
    assert (await new_client.auth_test())["team_id"] == "T0NEWTEAM"
    with pytest.raises(SlackApiError) as info:
        await client.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=query["code"][0])
    assert info.value.response["error"] == "invalid_code"


async def test_oauth_refusals(fake: FakeSlack, clock: ManualClock) -> None:
    fake.register_oauth_client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[REDIRECT])
    assert (await authorize(fake, redirect_uri="https://evil.example.com/cb"))[0] == 400
    assert (await authorize(fake, client_id="999.999"))[0] == 400
    fake.install_consent = "deny"
    status, query, _ = await authorize(fake)
    assert status == 302 and query == {"error": ["access_denied"], "state": ["st-1"]}

    fake.install_consent = "allow"
    _, query, location = await authorize(fake)
    assert location.startswith(REDIRECT)  # no redirect_uri param: the first configured URL
    code = query["code"][0]
    client = AsyncWebClient(base_url=fake.api_url)
    for kwargs, error in [
        ({"client_id": "999.999", "client_secret": CLIENT_SECRET}, "invalid_client_id"),
        ({"client_id": CLIENT_ID, "client_secret": "wrong"}, "bad_client_secret"),
    ]:
        with pytest.raises(SlackApiError) as info:
            await client.oauth_v2_access(code=code, **kwargs)
        assert info.value.response["error"] == error
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake.api_url}oauth.v2.access",
            data={"client_id": CLIENT_ID, "client_secret": "wrong", "code": code},
        ) as resp,
    ):
        assert (await resp.json())["error"] == "bad_client_secret"  # form credentials work too
    clock.advance(601)
    with pytest.raises(SlackApiError) as info:
        await client.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    assert info.value.response["error"] == "invalid_code"


async def test_bolt_install_flow_end_to_end(fake: FakeSlack, tmp_path: Path) -> None:
    installations = FileInstallationStore(base_dir=str(tmp_path / "installations"), client_id=CLIENT_ID)
    settings = AsyncOAuthSettings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scopes=["commands", "chat:write", "chat:write.public"],
        authorization_url=fake.authorize_url,
        installation_store=installations,
        state_store=FileOAuthStateStore(expiration_seconds=600, base_dir=str(tmp_path / "states")),
    )
    app = AsyncApp(
        signing_secret=SECRET, oauth_settings=settings, client=AsyncWebClient(base_url=fake.api_url)
    )

    @app.command("/qc")
    async def qc(ack, client, command) -> None:
        await ack()
        await client.chat_postMessage(channel=command["channel_id"], text="installed and working")

    team = fake.add_team(team_id="T0INSTALL", name="Install Co", domain="installco")
    admin = fake.add_user(team, user_id="UINSTALL1", name="ines", is_admin=True)
    fake.add_channel(team, channel_id="CINSTALL", name="ops", members=[admin.user_id], bot_is_member=False)
    fake.installing_team, fake.installing_user = team, admin.user_id

    async with serve_app(app.web_app()) as base:
        fake.register_oauth_client(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[f"{base}/slack/oauth_redirect"]
        )
        result = await fake.install(f"{base}/slack/install")
        assert result.status == 200, result.text
        assert result.url.startswith(f"{base}/slack/oauth_redirect?code=")
        assert any(url.startswith(fake.authorize_url) for url in result.history)

        bot = await installations.async_find_bot(enterprise_id=None, team_id="T0INSTALL")
        assert bot is not None and bot.bot_token == team.bot_token and bot.bot_id == team.bot_id
        installation = await installations.async_find_installation(enterprise_id=None, team_id="T0INSTALL")
        assert installation is not None and installation.user_id == admin.user_id

        delivery = await fake.send_slash_command(
            f"{base}/slack/events", text="", user_id=admin.user_id, channel_id="CINSTALL", team=team
        )
        assert delivery.ok, delivery.text
        [message] = await fake.wait_for(lambda: fake.messages("CINSTALL"))
        assert message.team_id == "T0INSTALL"

        fake.install_consent = "deny"
        denied = await fake.install(f"{base}/slack/install")
        assert "error=access_denied" in denied.url  # Bolt renders its failure page for the denial
