from bot.failures import DisconnectProblem
from bot.messages import commands, disconnect
from bot.messages.explanations import DISCONNECT_EXPLANATIONS
from standins.slack import validate_blocks


def test_disconnect_messages_have_a_fallback_and_valid_blocks():
    samples = [
        commands.org_gone(), disconnect.org_not_found(target="Nope", known=["Acme"]),
        disconnect.org_ambiguous(target="Acme", matches=[("Acme", "00D1"), ("Acme", "00D2")]),
        disconnect.disconnect_confirmation(org_name="Acme", org_id="00D1", delete_app=True, app_name="QualityClouds"),
        disconnect.disconnect_cancelled(org_id="00D1"),
        disconnect.disconnected(org_name="Acme", org_id="00D1", app_deleted=False, revoked=False,
                                app_name="QualityClouds"),
        *(disconnect.disconnect_failed(code=problem, detail="why") for problem in DisconnectProblem),
        disconnect.org_disconnected_notice(org_name="Acme", org_id="00D1", user_id="U1", app_deleted=True,
                                           app_name="QualityClouds"),
    ]
    for message in samples:
        assert message.text.strip() and "*" not in message.text
        assert validate_blocks(message.blocks) == [], message.text


def test_a_failed_disconnect_says_what_happened_and_what_to_do():
    message = disconnect.disconnect_failed(code=DisconnectProblem.NO_ACCESS, detail=None)
    explanation = DISCONNECT_EXPLANATIONS[DisconnectProblem.NO_ACCESS]
    assert message.text.startswith("What happened: " + explanation.what) and "What to do: Nothing was" in message.text


def test_the_confirmation_carries_the_choice_to_the_button():
    message = disconnect.disconnect_confirmation(org_name="Acme", org_id="00D1", delete_app=True,
                                                 app_name="QualityClouds")
    confirm, cancel = message.blocks[1]["elements"]
    assert confirm["value"] == '{"org_id":"00D1","delete_app":true}' and confirm["style"] == "danger"
    assert cancel["value"] == "00D1" and "deletes the QualityClouds app" in message.text
