from datetime import UTC, datetime, timedelta

from bot import messages
from bot.provisioning.checklist import ChecklistItem, Mark
from bot.redaction import MASK, Secret
from standins.slack import validate_blocks, validate_view

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


NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def overview(**overrides):
    values = dict(org_name="Acme", org_id="00D000000000001AAA", is_sandbox=False, broken=False,
                  app_kind_label="External Client App", app_name="QualityClouds", setup="provisioned",
                  failure_code=None, checklist_failures=0, checklist_warnings=1, tokens_tracked=2,
                  nearest=messages.NearestExpiry(token_kind="app", app_name="QualityClouds", owner="ada@acme.example",
                                                 expires_at=NOW + timedelta(days=7)))
    values.update(overrides)
    return messages.OrgOverview(**values)


def test_token_lifecycle_messages_have_a_fallback_and_valid_blocks():
    notices = [messages.expiry_warning(messages.ExpiryNotice(
        org_name="Acme", org_id="00D000000000001AAA", token_kind=kind, app_name="QualityClouds",
        owner="ada@acme.example", expires_at=NOW + timedelta(days=days), days_left=days, policy="expire after 90 days",
        as_of=NOW)) for kind in ("app", "bot") for days in (30, 1, 0)]
    samples = [
        *notices,
        messages.connection_broken(org_name="Acme", org_id="00D000000000001AAA", detail="invalid_grant: expired"),
        messages.status([], now=NOW),
        messages.status([overview(), overview(broken=True, setup="failed", failure_code="deploy_failed", nearest=None),
                         overview(setup="in_progress", tokens_tracked=0, nearest=None)], now=NOW),
        messages.org_gone(), messages.org_not_found(target="Nope", known=["Acme"]),
        messages.org_ambiguous(target="Acme", matches=[("Acme", "00D1"), ("Acme", "00D2")]),
        messages.disconnect_confirmation(org_name="Acme", org_id="00D1", delete_app=True, app_name="QualityClouds"),
        messages.disconnect_cancelled(org_id="00D1"),
        messages.disconnected(org_name="Acme", org_id="00D1", app_deleted=False, revoked=False,
                              app_name="QualityClouds"),
        *(messages.disconnect_failed(code=code, detail="why") for code in messages.DISCONNECT_EXPLANATIONS),
        messages.org_disconnected_notice(org_name="Acme", org_id="00D1", user_id="U1", app_deleted=True,
                                         app_name="QualityClouds"),
    ]
    for message in samples:
        assert message.text.strip() and "*" not in message.text
        assert validate_blocks(message.blocks) == [], message.text
    assert "expires in 30 days" in notices[0].text and "has expired" in notices[2].text
    assert "qc-bot's access to Acme expires in 1 day" in notices[4].text


def test_the_dashboard_fits_slack_limits_however_many_orgs():
    many = [overview(org_name=f"Org {number}", org_id=f"00D{number:015d}") for number in range(120)]
    message = messages.status(many, now=NOW)
    assert validate_blocks(message.blocks) == [] and "100 more orgs not shown" in str(message.blocks)
    home = messages.home_view(many, now=NOW)
    assert validate_view(home, expected_type="home") == [] and "75 more orgs not shown" in str(home["blocks"])
    modal = messages.answer_modal(title="Re-authorize", message=messages.not_allowed())
    assert validate_view(modal, expected_type="modal") == []
