from datetime import timedelta

from bot.redaction import Secret
from storage.installations import SlackInstallation
from storage.key_rotation import ENCRYPTED_COLUMNS
from tests.storage.conftest import NOW, rotate_to_a_new_key

BOT_TOKEN = "xoxb-1-2-installedbottokenvalue"


def installation(**changes) -> SlackInstallation:
    values = dict(enterprise_id=None, team_id="T1", team_name="Alpha", enterprise_name=None,
                  is_enterprise_install=False, app_id="A1", bot_id="B1", bot_user_id="U0BOT",
                  bot_scopes=("commands", "chat:write"), bot_token=Secret(BOT_TOKEN), bot_refresh_token=None,
                  bot_token_expires_at=None, installer_user_id="U1", installed_at=NOW)
    values.update(changes)
    return SlackInstallation(**values)


async def test_a_reinstall_replaces_the_token_and_keeps_the_installer(database_bytes, store):
    await store.run(lambda repos: repos.installations.save(installation()))
    await store.run(lambda repos: repos.installations.save(
        installation(bot_token=Secret("xoxb-1-2-reinstalledtokenvalue"), installer_user_id=None)))
    found = await store.run(lambda repos: repos.installations.find(enterprise_id=None, team_id="T1"))
    assert found.bot_token.reveal() == "xoxb-1-2-reinstalledtokenvalue" and found.installer_user_id == "U1"
    assert found.bot_scopes == ("commands", "chat:write")
    assert (await store.run(lambda repos: repos.installations.for_team("T1"))) == found
    assert await store.run(lambda repos: repos.installations.for_team("T2")) is None
    assert BOT_TOKEN.encode() not in database_bytes()


async def test_an_org_wide_install_is_keyed_by_the_enterprise(store):
    await store.run(lambda repos: repos.installations.save(
        installation(enterprise_id="E1", team_id=None, is_enterprise_install=True)))
    assert await store.run(lambda repos: repos.installations.find(
        enterprise_id="E1", team_id="T9", is_enterprise_install=True)) is not None
    assert await store.run(lambda repos: repos.installations.find(enterprise_id="E1", team_id="T9")) is None
    assert await store.run(lambda repos: repos.installations.delete(
        enterprise_id="E1", team_id="T9", is_enterprise_install=True))


async def test_install_states_are_single_use_and_expire(store):
    await store.run(lambda repos: repos.installations.issue_state(state=Secret("state-one-0123456789"),
                                                                   expires_at=NOW + timedelta(minutes=10)))
    await store.run(lambda repos: repos.installations.issue_state(state=Secret("state-two-0123456789"),
                                                                   expires_at=NOW + timedelta(minutes=10)))
    consume = store.run
    assert await consume(lambda repos: repos.installations.consume_state(state="state-one-0123456789", now=NOW))
    assert not await consume(lambda repos: repos.installations.consume_state(state="state-one-0123456789", now=NOW))
    assert not await consume(lambda repos: repos.installations.consume_state(state="forged", now=NOW))
    late = NOW + timedelta(minutes=10)
    assert not await consume(lambda repos: repos.installations.consume_state(state="state-two-0123456789", now=late))


async def test_bot_tokens_rotate_with_the_encryption_key(database_url, encryption_key, store):
    assert ENCRYPTED_COLUMNS["slack_installations"] == ("bot_token_enc", "bot_refresh_token_enc")
    await store.run(lambda repos: repos.installations.save(installation(
        bot_refresh_token=Secret("xoxe-1-refreshtokenvalue"))))
    await store.close()
    rewritten, only_new = await rotate_to_a_new_key(database_url, encryption_key)
    assert rewritten == 2
    found = await only_new.run(lambda repos: repos.installations.find(enterprise_id=None, team_id="T1"))
    await only_new.close()
    assert found.bot_token.reveal() == BOT_TOKEN and found.bot_refresh_token.reveal() == "xoxe-1-refreshtokenvalue"
