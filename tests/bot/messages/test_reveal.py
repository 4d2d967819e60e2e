from bot.failures import RevealProblem
from bot.messages import reveal
from bot.messages.explanations import REVEAL_REFUSALS
from bot.redaction import Secret
from standins.slack import validate_blocks, validate_view

KEY = Secret("K" * 68 + "KEY4")
SECRET = Secret("S" * 60 + "SEC4")


def test_the_reveal_modal_is_a_valid_view_holding_the_full_values():
    view = reveal.reveal_modal(org_name="Acme", consumer_key=KEY, consumer_secret=SECRET, secret_note=None)
    assert validate_view(view, expected_type="modal") == []
    assert KEY.reveal() in str(view) and SECRET.reveal() in str(view)


def test_the_offer_and_every_answer_to_a_click_have_a_fallback_and_valid_blocks():
    offer = reveal.reveal_offer(reveal_id="r1", org_name="Acme", expires_minutes=15)
    assert offer.blocks[0]["accessory"]["value"] == "r1" and "within 15 minutes" in offer.text
    samples = [offer, reveal.reveal_retry(), reveal.revealed(org_name="Acme"),
               *(reveal.reveal_refused(problem) for problem in RevealProblem)]
    for message in samples:
        assert message.text.strip() and "*" not in message.text
        assert validate_blocks(message.blocks) == [], message.text
    assert reveal.reveal_refused(RevealProblem.UNAVAILABLE).text == REVEAL_REFUSALS[RevealProblem.UNAVAILABLE]
