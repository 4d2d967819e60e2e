from datetime import UTC, datetime, timedelta

from bot.messages import watch
from standins.slack import validate_blocks

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_token_lifecycle_messages_have_a_fallback_and_valid_blocks():
    notices = [watch.expiry_warning(watch.ExpiryNotice(
        org_name="Acme", org_id="00D000000000001AAA", token_kind=kind, app_name="QualityClouds",
        owner="ada@acme.example", expires_at=NOW + timedelta(days=days), days_left=days, policy="expire after 90 days",
        as_of=NOW)) for kind in ("app", "bot") for days in (30, 1, 0)]
    broken = watch.connection_broken(org_name="Acme", org_id="00D000000000001AAA", detail="invalid_grant: expired")
    for message in [*notices, broken]:
        assert message.text.strip() and "*" not in message.text and "`" not in message.text
        assert validate_blocks(message.blocks) == [], message.text
        assert message.blocks[-1]["accessory"]["value"] == "00D000000000001AAA"
    assert "expires in 30 days" in notices[0].text and "has expired" in notices[2].text
    assert "qc-bot's access to Acme expires in 1 day" in notices[4].text
    assert "refused qc-bot's refresh token (invalid_grant: expired)" in broken.text
