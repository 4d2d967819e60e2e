from datetime import UTC, datetime, timedelta

from bot.failures import Failure
from bot.messages import blocks, commands, dashboard
from bot.messages.explanations import EXPLANATIONS
from standins.slack import validate_blocks, validate_view

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def overview(**overrides):
    values = dict(org_name="Acme", org_id="00D000000000001AAA", is_sandbox=False, broken=False,
                  app_kind_label="External Client App", app_name="QualityClouds", setup="provisioned",
                  failure_code=None, checklist_failures=0, checklist_warnings=1, tokens_tracked=2,
                  nearest=dashboard.NearestExpiry(token_kind="app", app_name="QualityClouds", owner="ada@acme.example",
                                               expires_at=NOW + timedelta(days=7)))
    values.update(overrides)
    return dashboard.OrgOverview(**values)


def test_the_dashboard_has_a_fallback_and_valid_blocks():
    samples = [
        dashboard.status([], now=NOW),
        dashboard.status([overview(),
                       overview(broken=True, setup="failed", failure_code=Failure.DEPLOY_FAILED, nearest=None),
                       overview(setup="in_progress", tokens_tracked=0, nearest=None)], now=NOW),
    ]
    for message in samples:
        assert message.text.strip() and "*" not in message.text
        assert validate_blocks(message.blocks) == [], message.text
    assert EXPLANATIONS[Failure.DEPLOY_FAILED].what in samples[1].text
    assert "in 7 days" in samples[1].text and "is being set up" in samples[1].text


def test_the_dashboard_fits_slack_limits_however_many_orgs():
    many = [overview(org_name=f"Org {number}", org_id=f"00D{number:015d}") for number in range(120)]
    message = dashboard.status(many, now=NOW)
    assert validate_blocks(message.blocks) == [] and "100 more orgs not shown" in str(message.blocks)
    home = dashboard.home_view(many, now=NOW)
    assert validate_view(home, expected_type="home") == [] and "75 more orgs not shown" in str(home["blocks"])
    modal = blocks.answer_modal(title="Re-authorize", message=commands.not_allowed())
    assert validate_view(modal, expected_type="modal") == []
