from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.config import InvalidConfiguration, load_settings, read_dotenv
from bot.timings import Timings, fast_process_timings, with_lease_ttl

KEY = Fernet.generate_key().decode()


def valid_environment(**overrides: str) -> dict[str, str]:
    environment = {
        "SLACK_SIGNING_SECRET": "signing-secret",
        "SLACK_BOT_TOKEN": "xoxb-1-2-3",
        "QC_PUBLIC_URL": "https://qc-bot.example.com/",
        "SALESFORCE_CLIENT_ID": "client-id",
        "SALESFORCE_CLIENT_SECRET": "client-secret-value",
        "QC_ENCRYPTION_KEYS": KEY,
    }
    environment.update(overrides)
    return {key: value for key, value in environment.items() if value != "<unset>"}


def problems(**overrides: str) -> dict[str, str]:
    with pytest.raises(InvalidConfiguration) as raised:
        load_settings(environ=valid_environment(**overrides), dotenv=None)
    return {problem.variable: str(problem) for problem in raised.value.problems}


def test_defaults_follow_the_spec():
    settings = load_settings(environ=valid_environment(), dotenv=None)
    assert settings.public_url == "https://qc-bot.example.com"
    assert settings.oauth_callback_url == "https://qc-bot.example.com/salesforce/oauth/callback"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.salesforce_login_url == "https://login.salesforce.com"
    assert settings.salesforce_sandbox_login_url == "https://test.salesforce.com"
    assert settings.db_path == Path("qc-bot.db")
    assert settings.app_kind == "auto"
    assert settings.desired_app.refresh_token_policy.connected_app_value() == "specific_lifetime:90:DAYS"
    assert settings.expiry_warn_days == (30, 7, 1)
    assert settings.port == 3000


def test_the_commands_run_production_timings_unless_told_to_run_the_tests_ones():
    production = load_settings(environ=valid_environment(), dotenv=None).timings
    assert production == Timings()
    fast = load_settings(environ=valid_environment(QC_TIMINGS="fast", QC_LEASE_SECONDS="3"), dotenv=None).timings
    assert fast == with_lease_ttl(fast_process_timings(), timedelta(seconds=3))
    assert fast.deploy_poll.initial < production.deploy_poll.initial


def test_secrets_are_not_in_the_settings_repr():
    settings = load_settings(environ=valid_environment(), dotenv=None)
    shown = repr(settings)
    assert "client-secret-value" not in shown and "signing-secret" not in shown and KEY not in shown


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("QC_PUBLIC_URL", "<unset>", "missing"),
        ("QC_PUBLIC_URL", "http://qc-bot.example.com", "https"),
        ("QC_ENCRYPTION_KEYS", "not-a-key", "not a Fernet key"),
        ("QC_ENCRYPTION_KEYS", "<unset>", "qc-bot keygen"),
        ("SALESFORCE_CLIENT_ID", "<unset>", "missing"),
        ("SLACK_BOT_TOKEN", "xoxp-user-token", "xoxb-"),
        ("SLACK_SIGNING_SECRET", "<unset>", "HTTP mode"),
        ("QC_APP_KIND", "both", "auto, external-client-app or connected-app"),
        ("QC_REFRESH_TOKEN_POLICY", "90 days", "idle:Nd"),
        ("QC_EXPIRY_WARN_DAYS", "30,soon", "positive day counts"),
        ("PORT", "70000", "TCP port"),
        ("QC_ADMIN_USERS", "alice", "Slack user ids"),
        ("SALESFORCE_LOGIN_URL", "https://login.evil.example", "not a Salesforce domain"),
        ("SALESFORCE_ALLOWED_HOSTS", "bad host!", "host[:port]"),
        ("QC_TIMINGS", "quick", "production (the default) or fast"),
    ],
)
def test_each_bad_variable_gets_one_line_naming_it(variable, value, fragment):
    found = problems(**{variable: value})
    assert variable in found
    assert fragment in found[variable]
    assert "\n" not in found[variable]
    assert found[variable].startswith(f"{variable}: ")


def test_all_problems_are_reported_together():
    found = problems(QC_PUBLIC_URL="<unset>", QC_ENCRYPTION_KEYS="nope", PORT="x")
    assert {"QC_PUBLIC_URL", "QC_ENCRYPTION_KEYS", "PORT"} <= set(found)


def test_multi_workspace_needs_both_client_variables():
    assert "SLACK_CLIENT_SECRET" in problems(SLACK_BOT_TOKEN="<unset>", SLACK_CLIENT_ID="123.456")


def test_allowed_loopback_host_may_use_http():
    settings = load_settings(
        environ=valid_environment(SALESFORCE_LOGIN_URL="http://127.0.0.1:8123",
                                  SALESFORCE_ALLOWED_HOSTS="127.0.0.1:8123"),
        dotenv=None,
    )
    assert settings.salesforce_login_url == "http://127.0.0.1:8123"


def test_dotenv_is_read_and_the_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\nexport QC_PUBLIC_URL='https://from-dotenv.example.com'\nPORT=4000 # inline comment\n"
        'QC_APP_KIND="connected-app"\n',
        encoding="utf-8",
    )
    assert read_dotenv(dotenv)["PORT"] == "4000"
    environment = valid_environment(QC_PUBLIC_URL="<unset>")
    environment["PORT"] = "5000"
    settings = load_settings(environ=environment, dotenv=dotenv)
    assert settings.public_url == "https://from-dotenv.example.com"
    assert settings.port == 5000
    assert settings.app_kind == "connected-app"


def test_token_lifecycle_settings():
    defaults = load_settings(environ=valid_environment(), dotenv=None)
    assert defaults.bot_refresh_token_policy.kind == "infinite"
    assert (defaults.expiry_scan_interval.total_seconds(), defaults.token_sync_interval.total_seconds()) == (900, 3600)
    chosen = load_settings(environ=valid_environment(SALESFORCE_REFRESH_TOKEN_POLICY="idle:30d",
                                                     QC_EXPIRY_SCAN_MINUTES="5", QC_TOKEN_SYNC_MINUTES="720"),
                           dotenv=None)
    assert chosen.bot_refresh_token_policy.connected_app_value() == "specific_inactivity:30:DAYS"
    assert (chosen.expiry_scan_interval.total_seconds(), chosen.token_sync_interval.total_seconds()) == (300, 43200)
    wrong = problems(SALESFORCE_REFRESH_TOKEN_POLICY="forever", QC_EXPIRY_SCAN_MINUTES="0",
                     QC_TOKEN_SYNC_MINUTES="hourly")
    assert "expected never, Nh, Nd, Nm" in wrong["SALESFORCE_REFRESH_TOKEN_POLICY"]
    assert "whole number of minutes" in wrong["QC_EXPIRY_SCAN_MINUTES"]
    assert "whole number of minutes" in wrong["QC_TOKEN_SYNC_MINUTES"]


def test_retention_days():
    assert load_settings(environ=valid_environment(), dotenv=None).retention.days == 30
    assert load_settings(environ=valid_environment(QC_RETENTION_DAYS="7"), dotenv=None).retention.days == 7
    for wrong in ("0", "-3", "a month", "1.5"):
        assert "whole number of days, at least 1" in problems(QC_RETENTION_DAYS=wrong)["QC_RETENTION_DAYS"]


@pytest.mark.parametrize("url", ["postgresql://qc:pw-s3cret@db.example.com:notaport/qc",
                                 "mysql://qc:pw-s3cret@db.example.com/qc", "not a url pw-s3cret",
                                 "sqlite:///pw-s3cret.db"])
def test_a_database_url_qc_bot_cannot_use_is_refused_without_showing_it(url):
    found = problems(DATABASE_URL=url)
    assert list(found) == ["DATABASE_URL"] and "PostgreSQL URL" in found["DATABASE_URL"]
    assert "pw-s3cret" not in found["DATABASE_URL"]


def test_a_heroku_database_url_is_taken_as_it_is():
    url = "postgres://qc:pw@db.example.com:5432/qc"
    assert load_settings(environ=valid_environment(DATABASE_URL=url), dotenv=None).database_url == url
