import pytest

from bot.failures import RevealProblem
from bot.messages import reveal
from bot.messages.explanations import REVEAL_REFUSALS
from bot.redaction import Secret
from standins.slack import validate_blocks, validate_view

KEY = Secret("K" * 68 + "KEY4")
SECRET = Secret("S" * 60 + "SEC4")


HANDOFF = reveal.HandOff(org_name="Acme", is_sandbox=False, org_url="https://acme.my.salesforce.com",
                         login="production", login_url="https://login.salesforce.com")


def copyable_fields(view):
    """The modal's ready-to-copy fields: label → the value alone in its code block."""
    found = {}
    for block in view["blocks"]:
        text = block.get("text", {}).get("text", "")
        if "```" in text:
            label, value = text.split("\n", 1)
            found[label.strip("*")] = value.strip("`")
    return found


def test_the_reveal_modal_is_a_valid_view_holding_the_full_values():
    view = reveal.reveal_modal(handoff=HANDOFF, consumer_key=KEY, consumer_secret=SECRET, secret_note=None)
    assert validate_view(view, expected_type="modal") == []
    assert KEY.reveal() in str(view) and SECRET.reveal() in str(view)


@pytest.mark.parametrize(("login", "is_sandbox", "login_choice", "environment"), [
    ("production", False, "Production", "Production"),
    ("sandbox", True, "Sandbox", "Sandbox"),
    ("my_domain", True, "Custom domain: https://acme--uat.sandbox.my.salesforce.com", "Sandbox"),
])
def test_the_reveal_modal_is_quality_clouds_new_instance_form_filled_in(login, is_sandbox, login_choice, environment):
    handoff = reveal.HandOff(org_name="Acme & <Sons>", is_sandbox=is_sandbox, org_url="https://acme.example",
                             login=login, login_url="https://acme--uat.sandbox.my.salesforce.com")
    view = reveal.reveal_modal(handoff=handoff, consumer_key=KEY, consumer_secret=SECRET, secret_note=None)
    assert copyable_fields(view) == {
        "Description": f"Acme &amp; &lt;Sons&gt; ({environment})", "Org URL": "https://acme.example",
        "Consumer Key": KEY.reveal(), "Consumer Secret": SECRET.reveal(), "Login URL": login_choice,
        "Environment": environment,
    }, "exactly the form's fields, in a code block each"
    assert "allow-list Quality Clouds' IP addresses" in str(view)
    assert len(view["title"]["text"]) <= 24 and len(view["blocks"]) <= 100
    assert validate_view(view, expected_type="modal") == []


def test_the_offer_and_every_answer_to_a_click_have_a_fallback_and_valid_blocks():
    offer = reveal.reveal_offer(reveal_id="r1", org_name="Acme", expires_minutes=15)
    assert offer.blocks[0]["accessory"]["value"] == "r1" and "within 15 minutes" in offer.text
    samples = [offer, reveal.reveal_retry(), reveal.revealed(org_name="Acme"),
               *(reveal.reveal_refused(problem) for problem in RevealProblem)]
    for message in samples:
        assert message.text.strip() and "*" not in message.text
        assert validate_blocks(message.blocks) == [], message.text
    assert reveal.reveal_refused(RevealProblem.UNAVAILABLE).text == REVEAL_REFUSALS[RevealProblem.UNAVAILABLE]
