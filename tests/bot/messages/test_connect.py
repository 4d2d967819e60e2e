from datetime import UTC, datetime

from bot.failures import Failure, SecretUnreadable
from bot.messages import commands, connect
from bot.messages.explanations import EXPLANATIONS
from bot.provisioning.checklist import ChecklistItem, Mark
from bot.redaction import MASK, Secret, mask
from standins.slack import validate_blocks

KEY = Secret("K" * 68 + "KEY4")
SECRET = Secret("S" * 60 + "SEC4")


def connected(**overrides):
    values = dict(org_name="Acme", org_id="00D000000000001AAA", is_sandbox=True,
                  instance_url="https://acme--uat.sandbox.my.salesforce.com", app_kind_label="External Client App",
                  app_name="QualityClouds", created=True, consumer_key_mask=mask(KEY.reveal()),
                  consumer_secret_mask=mask(SECRET.reveal()),
                  secret_unavailable=None, requester="U1",
                  checklist=[ChecklistItem("App name", Mark.OK, "QualityClouds"),
                             ChecklistItem("PKCE required", Mark.FAIL, "expected no, found required")])
    values.update(overrides)
    return connect.ConnectedOrg(**values)


def test_status_message_masks_credentials_and_is_valid_block_kit():
    message = connect.org_connected(connected())
    everything = message.text + str(message.blocks)
    assert KEY.reveal() not in everything and SECRET.reveal() not in everything
    assert MASK + "KEY4" in message.text and MASK + "SEC4" in message.text
    assert "❌" in message.blocks[0]["text"]["text"] and "Sandbox" in message.text
    assert validate_blocks(message.blocks) == []


def test_a_secret_qc_bot_could_not_read_is_explained_where_to_find_it():
    message = connect.org_connected(connected(consumer_secret_mask=None,
                                              secret_unavailable=SecretUnreadable.CONNECTED_APP))
    assert "Setup → App Manager → QualityClouds → View → Manage Consumer Details" in message.text
    assert "consumer secret not available" in message.text


def test_every_failure_reads_as_a_valid_status_message():
    for failure in Failure:
        message = connect.connection_failed(code=failure, detail="detail", org_label="Acme", requester="U1",
                                            connection_id="c1")
        assert EXPLANATIONS[failure].what in message.text
        assert validate_blocks(message.blocks) == [], message.text


def test_every_message_has_a_text_fallback_and_valid_blocks():
    samples = [
        commands.usage("oops"), commands.not_allowed(), commands.org_gone(), connect.authorization_expired(),
        connect.connect_link(link_url="https://bot.example.com/salesforce/oauth/start?link=x",
                             login_host="https://login.salesforce.com", run_as=None,
                             expires_at=datetime(2026, 1, 1, tzinfo=UTC)),
    ]
    for message in samples:
        assert message.text.strip()
        assert validate_blocks(message.blocks) == [], message.text


def test_the_link_message_carries_the_link_in_its_fallback_too():
    message = connect.connect_link(link_url="https://bot.example.com/salesforce/oauth/start?link=x",
                                   login_host="https://login.salesforce.com", run_as="int@acme.example",
                                   expires_at=datetime(2026, 1, 1, 9, 30, tzinfo=UTC))
    assert "https://bot.example.com/salesforce/oauth/start?link=x" in message.text
    assert "expires at 09:30 UTC" in message.text and "run as *int@acme.example*" in message.text
