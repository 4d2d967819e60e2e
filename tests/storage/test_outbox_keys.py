"""The outbox's dedupe keys (storage.outbox_keys). They are stored, so each format is pinned here as a
literal: a database written by an earlier version holds exactly these strings, and a key built differently
would send again what was already sent."""

import re
from datetime import UTC, datetime

import pytest

from storage import outbox_keys
from storage.tracked_tokens import TrackedToken, token_key

TEAM, ORG = "T0123ABCD", "00D5g000004AbCdEAB"
EXPIRES = datetime(2026, 3, 1, tzinfo=UTC)  # 1772323200


def tracked(*, kind="bot", user=None, expires_at=EXPIRES):
    return TrackedToken(
        key=token_key(team_id=TEAM, org_id=ORG, kind=kind, salesforce_user_id=user), team_id=TEAM, org_id=ORG,
        kind=kind, app_name="QualityClouds", salesforce_user_id=user, salesforce_username=None,
        policy="infinite", issued_at=EXPIRES, last_used_at=None, expires_at=expires_at, warned_days=None,
        next_warning_at=None, synced_at=EXPIRES)


def test_every_key_format_is_the_one_stored_databases_hold():
    assert outbox_keys.connection_status("9f86d081884c7d65") == "status:9f86d081884c7d65"
    assert outbox_keys.reveal_offer("9f86d081884c7d65") == "reveal:9f86d081884c7d65"
    assert outbox_keys.journey_outcome("9f86d081884c7d65") == "outcome:9f86d081884c7d65"
    assert outbox_keys.proof_result("9f86d081884c7d65") == "proof:9f86d081884c7d65"
    assert outbox_keys.authorization_question("9f86d081884c7d65") == "confirm:9f86d081884c7d65"
    assert outbox_keys.connection_broken(team_id=TEAM, org_id=ORG, issued_at=EXPIRES) == (
        "broken:T0123ABCD:00D5g000004AbCdEAB:1772323200")
    assert outbox_keys.expiry_warning(tracked(), threshold=7) == "expiry:T0123ABCD:00D5g000004AbCdEAB:bot:1772323200:7"
    assert outbox_keys.expiry_warning(tracked(kind="app", user="005A"), threshold=0) == (
        "expiry:T0123ABCD:00D5g000004AbCdEAB:app:005A:1772323200:0")
    assert outbox_keys.app_tokens_unreadable(team_id=TEAM, org_id=ORG, issued_at=EXPIRES, problem="why") == (
        "unreadable:T0123ABCD:00D5g000004AbCdEAB:1772323200:why")
    assert outbox_keys.sign_in_changed(team_id=TEAM, org_id=ORG, episode=2, phase="failing") == (
        "signin:T0123ABCD:00D5g000004AbCdEAB:2:failing")
    assert outbox_keys.sign_in_changed(team_id=TEAM, org_id=ORG, episode=2, phase="resolved") == (
        "signin:T0123ABCD:00D5g000004AbCdEAB:2:resolved")
    assert outbox_keys.drift_alert(team_id=TEAM, org_id=ORG, alert_id=42) == "drift:T0123ABCD:00D5g000004AbCdEAB:42"
    assert outbox_keys.drift_resolved(team_id=TEAM, org_id=ORG, alert_id=42) == (
        "drift-end:T0123ABCD:00D5g000004AbCdEAB:42")
    assert outbox_keys.drift_alert_edit(team_id=TEAM, org_id=ORG, alert_id=42, step="ended") == (
        "drift-edit:T0123ABCD:00D5g000004AbCdEAB:42:ended")
    assert outbox_keys.rotation_message("9f86d081884c7d65", event="reveal") == "rotation:9f86d081884c7d65:reveal"
    assert re.fullmatch(r"revoked:T0123ABCD:00D5g000004AbCdEAB:[0-9a-f]{32}",
                        outbox_keys.tokens_revoked(team_id=TEAM, org_id=ORG))
    assert outbox_keys.direct("status:9f86d081884c7d65") == "status:9f86d081884c7d65:direct"
    assert outbox_keys.refused("status:9f86d081884c7d65") == "status:9f86d081884c7d65:refused"
    first, second = (outbox_keys.org_disconnected(team_id=TEAM, org_id=ORG) for _ in range(2))
    assert re.fullmatch(r"disconnected:T0123ABCD:00D5g000004AbCdEAB:[0-9a-f]{32}", first)
    assert first != second, "every disconnection is its own message"


def test_an_orgs_warnings_are_found_by_the_org_and_nothing_else_is():
    prefixes = outbox_keys.org_warnings(team_id=TEAM, org_id=ORG)
    expiry = outbox_keys.expiry_warning(tracked(), threshold=7)
    ours = [expiry, outbox_keys.direct(expiry),
            outbox_keys.connection_broken(team_id=TEAM, org_id=ORG, issued_at=EXPIRES),
            outbox_keys.app_tokens_unreadable(team_id=TEAM, org_id=ORG, issued_at=EXPIRES, problem="why")]
    theirs = [outbox_keys.expiry_warning(tracked(), threshold=7).replace(ORG, "00D5g000004AbCdEAC"),
              outbox_keys.connection_broken(team_id="T999", org_id=ORG, issued_at=EXPIRES),
              outbox_keys.org_disconnected(team_id=TEAM, org_id=ORG), outbox_keys.connection_status(ORG)]
    assert all(key.startswith(prefixes) for key in ours)
    assert not any(key.startswith(prefixes) for key in theirs)


def test_a_token_without_expiry_or_with_a_foreign_key_has_no_warning_key():
    with pytest.raises(ValueError, match="no expiry"):
        outbox_keys.expiry_warning(tracked(expires_at=None), threshold=7)
    foreign = TrackedToken(**{**tracked().__dict__, "key": "T999:00D5g000004AbCdEAB:bot"})
    with pytest.raises(ValueError, match="does not begin with its team and org"):
        outbox_keys.expiry_warning(foreign, threshold=7)
