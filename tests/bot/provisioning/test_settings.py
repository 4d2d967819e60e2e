from datetime import UTC, datetime

import pytest

from bot.provisioning.settings import RefreshTokenPolicy, fold_scopes

START = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "connected_app", "eca"),
    [
        ("never", "infinite", {"refreshTokenPolicyType": "Infinite"}),
        ("90d", "specific_lifetime:90:DAYS",
         {"refreshTokenPolicyType": "SpecificLifetime", "refreshTokenValidityPeriod": "90",
          "refreshTokenValidityUnit": "Days"}),
        ("12h", "specific_lifetime:12:HOURS",
         {"refreshTokenPolicyType": "SpecificLifetime", "refreshTokenValidityPeriod": "12",
          "refreshTokenValidityUnit": "Hours"}),
        ("3m", "specific_lifetime:3:MONTHS",
         {"refreshTokenPolicyType": "SpecificLifetime", "refreshTokenValidityPeriod": "3",
          "refreshTokenValidityUnit": "Months"}),
        ("idle:30d", "specific_inactivity:30:DAYS",
         {"refreshTokenPolicyType": "SpecificInactivity", "refreshTokenValidityPeriod": "30",
          "refreshTokenValidityUnit": "Days"}),
    ],
)
def test_policy_maps_onto_both_app_kinds_and_back(text, connected_app, eca):
    policy = RefreshTokenPolicy.parse(text)
    assert policy.connected_app_value() == connected_app
    assert policy.external_client_app_fields() == eca
    assert RefreshTokenPolicy.from_connected_app(connected_app) == policy
    assert RefreshTokenPolicy.from_external_client_app(
        policy_type=eca["refreshTokenPolicyType"], period=eca.get("refreshTokenValidityPeriod"),
        unit=eca.get("refreshTokenValidityUnit")) == policy


@pytest.mark.parametrize("text", ["", "0d", "90", "90 days", "idle:", "idle:0d", "-1d", "5y"])
def test_bad_policies_are_refused(text):
    with pytest.raises(ValueError):
        RefreshTokenPolicy.parse(text)


def test_expiry_is_computed_from_the_policy():
    last_used = datetime(2026, 2, 10, tzinfo=UTC)
    assert RefreshTokenPolicy.parse("never").expires_at(issued_at=START, last_used_at=last_used) is None
    assert RefreshTokenPolicy.parse("90d").expires_at(issued_at=START, last_used_at=last_used) == datetime(
        2026, 5, 1, 12, 0, tzinfo=UTC)
    assert RefreshTokenPolicy.parse("idle:30d").expires_at(issued_at=START, last_used_at=last_used) == datetime(
        2026, 3, 12, tzinfo=UTC)
    # Months are calendar months; the 31st becomes the last day of a shorter month.
    assert RefreshTokenPolicy.parse("1m").expires_at(issued_at=START, last_used_at=None) == datetime(
        2026, 2, 28, 12, 0, tzinfo=UTC)


def test_policy_descriptions_read_naturally():
    assert RefreshTokenPolicy.parse("90d").describe() == "expire after 90 days"
    assert RefreshTokenPolicy.parse("idle:1d").describe() == "expire if not used for 1 day"
    assert RefreshTokenPolicy.parse("never").describe() == "valid until revoked"


def test_scope_aliases_fold_to_what_salesforce_reads_back():
    assert fold_scopes(["Api", "OfflineAccess"]) == frozenset({"Api", "RefreshToken"})
    assert fold_scopes([" Api", "RefreshToken ", ""]) == frozenset({"Api", "RefreshToken"})
