from datetime import UTC, datetime

from bot import messages
from bot.provisioning.checklist import ChecklistItem, Mark
from bot.redaction import MASK, Secret
from bot.standins.slack import validate_blocks, validate_view

KEY = Secret("K" * 68 + "KEY4")
SECRET = Secret("S" * 60 + "SEC4")


def connected(**overrides):
    values = dict(org_name="Acme", org_id="00D000000000001AAA", is_sandbox=True,
                  instance_url="https://acme--uat.sandbox.my.salesforce.com", app_kind_label="External Client App",
                  app_name="QualityClouds", created=True, consumer_key=KEY, consumer_secret=SECRET,
                  secret_unavailable=None, requester="U1",
                  checklist=[ChecklistItem("App name", Mark.OK, "QualityClouds"),
                             ChecklistItem("PKCE required", Mark.FAIL, "expected no, found required")])
    values.update(overrides)
    return messages.ConnectedOrg(**values)


def test_status_message_masks_credentials_and_is_valid_block_kit():
    message = messages.org_connected(connected())
    everything = message.text + str(message.blocks)
    assert KEY.reveal() not in everything and SECRET.reveal() not in everything
    assert MASK + "KEY4" in message.text and MASK + "SEC4" in message.text
    assert "❌" in message.blocks[0]["text"]["text"] and "Sandbox" in message.text
    assert validate_blocks(message.blocks) == []


def test_every_message_has_a_text_fallback_and_valid_blocks():
    samples = [
        messages.usage("oops"), messages.not_allowed(), messages.authorization_expired(), messages.reveal_retry(),
        messages.revealed(org_name="Acme"), messages.reveal_refused("used"),
        messages.reveal_offer(reveal_id="r1", org_name="Acme", expires_minutes=15),
        messages.connect_link(link_url="https://bot.example.com/salesforce/oauth/start?link=x",
                              login_host="https://login.salesforce.com", run_as=None,
                              expires_at=datetime(2026, 1, 1, tzinfo=UTC)),
        *(messages.connection_failed(code=code, detail="detail", org_label="Acme", requester="U1",
                                     connection_id="c1") for code in messages.EXPLANATIONS),
    ]
    for message in samples:
        assert message.text.strip()
        assert validate_blocks(message.blocks) == [], message.text


def test_unknown_failure_codes_fall_back_to_the_internal_error_explanation():
    assert messages.explain("no-such-code") == messages.EXPLANATIONS["internal_error"]


def test_the_reveal_modal_is_a_valid_view_holding_the_full_values():
    view = messages.reveal_modal(org_name="Acme", consumer_key=KEY, consumer_secret=SECRET, secret_note=None)
    assert validate_view(view, expected_type="modal") == []
    assert KEY.reveal() in str(view) and SECRET.reveal() in str(view)
