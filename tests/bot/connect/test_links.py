import json
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from bot.connect.links import ConnectLink, LinkRefused, LinkSeal
from bot.redaction import Secret
from storage.crypto import SecretBox

OLD, NEW = Secret(Fernet.generate_key().decode()), Secret(Fernet.generate_key().decode())


def link() -> ConnectLink:
    return ConnectLink(team_id="T1", enterprise_id=None, user_id="U1", channel_id="C1", environment="sandbox",
                       login_url="https://test.salesforce.com", run_as="int@acme.com",
                       expires_at=datetime(2026, 11, 28, 12, 10, tzinfo=UTC), team_name="acme",
                       response_url="https://hooks.slack.com/commands/T1/1/x")


def test_a_sealed_link_opens_to_the_same_request_and_reveals_nothing():
    original = link()
    token = LinkSeal(keys=[OLD]).seal(original)
    assert LinkSeal(keys=[OLD]).open(token) == original
    for visible in ("int@acme.com", "test.salesforce.com", "team_id", "hooks.slack.com"):
        assert visible not in token
    assert link().nonce != original.nonce
    # Two seals of one request differ (a fresh cipher nonce each), and the token stays URL-safe unescaped.
    assert LinkSeal(keys=[OLD]).seal(original) != token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_links_survive_a_key_rotation():
    token = LinkSeal(keys=[OLD]).seal(link())
    assert LinkSeal(keys=[NEW, OLD]).open(token).user_id == "U1"


@pytest.mark.parametrize("token", ["", "not-a-token", "gAAAAAB" + "x" * 60, "é", "A" * 80, "Ag", "AgAA!!"])
def test_foreign_or_damaged_links_are_refused(token):
    with pytest.raises(LinkRefused):
        LinkSeal(keys=[OLD]).open(token)


def test_a_link_sealed_by_another_bot_is_refused():
    token = LinkSeal(keys=[NEW]).seal(link())
    with pytest.raises(LinkRefused):
        LinkSeal(keys=[OLD]).open(token)


def test_a_tampered_link_is_refused():
    token = LinkSeal(keys=[OLD]).seal(link())
    for position in (0, 5, 20, len(token) - 2):
        flipped = token[:position] + ("B" if token[position] != "B" else "C") + token[position + 1:]
        with pytest.raises(LinkRefused):
            LinkSeal(keys=[OLD]).open(flipped)


def test_a_link_minted_by_the_previous_version_still_opens():
    """Version 1 sealed the same JSON in a Fernet token: a link handed out just before an upgrade works."""
    original = link()
    values = {name: getattr(original, name) for name in original.__dataclass_fields__}
    values.update(expires_at=original.expires_at.timestamp(), v=1)
    token = SecretBox(keys=[OLD]).encrypt_text(json.dumps(values))
    assert LinkSeal(keys=[NEW, OLD]).open(token) == original
    values["v"] = 7
    with pytest.raises(LinkRefused):
        LinkSeal(keys=[OLD]).open(SecretBox(keys=[OLD]).encrypt_text(json.dumps(values)))
