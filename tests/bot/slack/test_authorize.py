"""Bolt's `authorize` for many workspaces reads a workspace's installation once per few seconds, not per request."""

from datetime import UTC, datetime

from cryptography.fernet import Fernet

from bot.redaction import Secret
from bot.slack.authorize import InstallationAuthorize
from storage.crypto import SecretBox
from storage.database import Store, sqlite_url
from storage.installations import SlackInstallation

TOKEN, NEW_TOKEN = "xoxb-1-2-installedbottokenvalue", "xoxb-1-2-reinstalledtokenvalue"


def installation(token: str) -> SlackInstallation:
    return SlackInstallation(enterprise_id=None, team_id="T1", team_name="Alpha", enterprise_name=None,
                             is_enterprise_install=False, app_id="A1", bot_id="B1", bot_user_id="U0BOT",
                             bot_scopes=("commands",), bot_token=Secret(token), bot_refresh_token=None,
                             bot_token_expires_at=None, installer_user_id="U1",
                             installed_at=datetime(2026, 12, 1, tzinfo=UTC))


async def test_an_installation_is_remembered_for_seconds_then_read_again(tmp_path):
    store = Store(url=sqlite_url(tmp_path / "qc-bot.db"),
                  secret_box=SecretBox(keys=[Secret(Fernet.generate_key().decode())]))
    await store.open()
    moment = [100.0]
    authorize = InstallationAuthorize(store=store, remember_for=5.0, now=lambda: moment[0])
    try:
        assert await authorize.answer(enterprise_id=None, team_id="T1") is None, "nothing installed yet"
        await store.run(lambda repos: repos.installations.save(installation(TOKEN)))
        first = await authorize.answer(enterprise_id=None, team_id="T1")
        assert first is not None and first.bot_token == TOKEN, "a refusal is not remembered: the install serves"

        await store.run(lambda repos: repos.installations.save(installation(NEW_TOKEN)))
        moment[0] += 4.9
        assert (await authorize.answer(enterprise_id=None, team_id="T1")).bot_token == TOKEN
        moment[0] += 0.2
        assert (await authorize.answer(enterprise_id=None, team_id="T1")).bot_token == NEW_TOKEN

        await store.run(lambda repos: repos.installations.delete(enterprise_id=None, team_id="T1"))
        moment[0] += 5.1
        assert await authorize.answer(enterprise_id=None, team_id="T2") is None
        assert not authorize._remembered, "a lapsed token is dropped, not kept in memory"
        assert await authorize.answer(enterprise_id=None, team_id="T1") is None
    finally:
        await store.close()


async def test_a_forgotten_workspace_is_read_again_at_once_and_the_others_stay_remembered(tmp_path):
    store = Store(url=sqlite_url(tmp_path / "qc-bot.db"),
                  secret_box=SecretBox(keys=[Secret(Fernet.generate_key().decode())]))
    await store.open()
    authorize = InstallationAuthorize(store=store, remember_for=5.0, now=lambda: 100.0)
    try:
        await store.run(lambda repos: repos.installations.save(installation(TOKEN)))
        assert (await authorize.answer(enterprise_id=None, team_id="T1")).bot_token == TOKEN
        authorize._remembered[(None, "T2")] = authorize._remembered[(None, "T1")]  # another workspace's memory
        await store.run(lambda repos: repos.installations.save(installation(NEW_TOKEN)))

        authorize.forget(enterprise_id=None, team_id="T1")

        assert list(authorize._remembered) == [(None, "T2")]
        assert (await authorize.answer(enterprise_id=None, team_id="T1")).bot_token == NEW_TOKEN
    finally:
        await store.close()
