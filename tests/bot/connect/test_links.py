from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from bot.connect.links import ConnectLink, LinkRefused
from bot.redaction import Secret
from storage.crypto import SecretBox

OLD, NEW = Secret(Fernet.generate_key().decode()), Secret(Fernet.generate_key().decode())


def link() -> ConnectLink:
    return ConnectLink(team_id="T1", enterprise_id=None, user_id="U1", channel_id="C1", environment="sandbox",
                       login_url="https://test.salesforce.com", run_as="int@acme.com",
                       expires_at=datetime(2026, 11, 28, 12, 10, tzinfo=UTC))


def test_a_sealed_link_opens_to_the_same_request_and_reveals_nothing():
    original = link()
    token = original.seal(SecretBox(keys=[OLD]))
    assert ConnectLink.open(SecretBox(keys=[OLD]), token) == original
    for visible in ("int@acme.com", "test.salesforce.com", '"team_id"'):
        assert visible not in token
    assert link().nonce != original.nonce


def test_links_survive_a_key_rotation():
    token = link().seal(SecretBox(keys=[OLD]))
    assert ConnectLink.open(SecretBox(keys=[NEW, OLD]), token).user_id == "U1"


@pytest.mark.parametrize("token", ["", "not-a-token", "gAAAAAB" + "x" * 60, "é"])
def test_foreign_or_damaged_links_are_refused(token):
    with pytest.raises(LinkRefused):
        ConnectLink.open(SecretBox(keys=[OLD]), token)


def test_a_link_sealed_by_another_bot_is_refused():
    token = link().seal(SecretBox(keys=[NEW]))
    with pytest.raises(LinkRefused):
        ConnectLink.open(SecretBox(keys=[OLD]), token)
