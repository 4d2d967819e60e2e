from cryptography.fernet import Fernet

from bot.redaction import Secret
from storage.crypto import SecretBox
from storage.database import Store

from .conftest import NOW, rotate_to_a_new_key


def authorization(**overrides):
    values = dict(team_id="T1", org_id="00D000000000001AAA", org_name="Acme", is_sandbox=False,
                  instance_url="https://acme.my.salesforce.com", login_url="https://login.salesforce.com",
                  channel_id="C1", connected_by="U1", salesforce_user_id="005000000000001AAA",
                  salesforce_username="admin@acme.com", access_token=Secret("00D000000000001!access-token-value"),
                  refresh_token=Secret("refresh-token-value-0123456789"), issued_at=NOW, now=NOW)
    values.update(overrides)
    return values


async def test_tokens_and_credentials_are_encrypted_at_rest(database_bytes, store):
    secret = Secret("consumer-secret-value-0123456789")
    await store.run(lambda repos: repos.orgs.save_authorization(**authorization()))
    await store.run(lambda repos: repos.orgs.save_app(team_id="T1", org_id="00D000000000001AAA",
                                                      app_kind="external-client-app",
                                                      consumer_key=Secret("consumer-key-value-0123456789"),
                                                      consumer_secret=secret, now=NOW))
    await store.close()
    raw = database_bytes()
    for plaintext in ("access-token-value", "refresh-token-value", "consumer-key-value", "consumer-secret-value"):
        assert plaintext.encode() not in raw


async def test_a_new_authorization_keeps_the_app_credentials_and_old_refresh_token(store):
    await store.run(lambda repos: repos.orgs.save_authorization(**authorization()))
    await store.run(lambda repos: repos.orgs.save_app(team_id="T1", org_id="00D000000000001AAA",
                                                      app_kind="connected-app",
                                                      consumer_key=Secret("consumer-key-value-abcdefghij"),
                                                      consumer_secret=None, now=NOW))
    await store.run(lambda repos: repos.orgs.save_authorization(**authorization(refresh_token=None,
                                                                                connected_by="U2")))
    org = await store.run(lambda repos: repos.orgs.get(team_id="T1", org_id="00D000000000001AAA"))
    assert org.connected_by == "U2"
    assert org.refresh_token.reveal() == "refresh-token-value-0123456789"
    assert org.consumer_key.reveal() == "consumer-key-value-abcdefghij"


async def test_keys_rotate_without_losing_secrets(database_url, encryption_key, store):
    await store.run(lambda repos: repos.orgs.save_authorization(**authorization()))
    # A second org of the same team: each row is rewritten by its own key (team, org), none swapped.
    await store.run(lambda repos: repos.orgs.save_authorization(**authorization(
        org_id="00D000000000002AAA", access_token=Secret("00D000000000002!second-access-token"), refresh_token=None)))
    await store.close()
    rewritten, only_new = await rotate_to_a_new_key(database_url, encryption_key)
    assert rewritten == 3
    org = await only_new.run(lambda repos: repos.orgs.get(team_id="T1", org_id="00D000000000001AAA"))
    second = await only_new.run(lambda repos: repos.orgs.get(team_id="T1", org_id="00D000000000002AAA"))
    await only_new.close()
    assert org.access_token.reveal() == "00D000000000001!access-token-value"
    assert org.refresh_token.reveal() == "refresh-token-value-0123456789"
    assert (second.access_token.reveal(), second.refresh_token) == ("00D000000000002!second-access-token", None)


async def test_a_team_lists_its_orgs_by_name_whatever_the_case(store):
    for number, name in enumerate(("beta", "Alpha", "acme", "Zeta", "Ärzte", "äpfel"), start=1):
        await store.run(lambda repos, number=number, name=name: repos.orgs.save_authorization(
            **authorization(org_id=f"00D00000000000{number}AAA", org_name=name)))
    await store.run(lambda repos: repos.orgs.disconnect(team_id="T1", org_id="00D000000000004AAA", now=NOW))
    listed = await store.run(lambda repos: repos.orgs.for_team(team_id="T1"))
    # one order on both engines, beyond ASCII too (SQLite's lower() would put "Ärzte" before "äpfel")
    assert [org.org_name for org in listed] == ["acme", "Alpha", "beta", "äpfel", "Ärzte"]


async def test_a_refreshed_token_is_not_stored_for_a_disconnected_org(tmp_path, store):
    await store.run(lambda repos: repos.orgs.save_authorization(**authorization()))
    await store.run(lambda repos: repos.db.execute("UPDATE orgs SET status = 'disconnected', access_token_enc = NULL"))
    stored = await store.run(lambda repos: repos.orgs.save_access_token(
        team_id="T1", org_id="00D000000000001AAA", access_token=Secret("00D000000000001!fresh-access-token"),
        refresh_token=None, now=NOW))
    assert stored is False
    org = await store.run(lambda repos: repos.orgs.get(team_id="T1", org_id="00D000000000001AAA"))
    assert org.access_token is None


async def test_listing_orgs_decrypts_no_secret(database_url, store):
    """A listing (`/qc status`, the App Home, finding the org to disconnect) still works when the stored
    secrets cannot be opened, because it never opens them."""
    await store.run(lambda repos: repos.orgs.save_authorization(**authorization()))
    await store.close()
    other_key = Store(url=database_url, secret_box=SecretBox(keys=[Secret(Fernet.generate_key().decode())]))
    await other_key.open()
    try:
        listed = await other_key.run(lambda repos: repos.orgs.for_team(team_id="T1"))
    finally:
        await other_key.close()
    assert [(org.org_id, org.org_name, org.status) for org in listed] == [("00D000000000001AAA", "Acme", "connected")]
    assert not hasattr(listed[0], "access_token")
