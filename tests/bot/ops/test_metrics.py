"""The instruments behind `/metrics`: label values from fixed vocabularies only, and one registry per app."""

from __future__ import annotations

from prometheus_client import generate_latest
from yarl import URL

from bot.failures import Failure
from bot.ops.metrics import SLACK_METHODS, Metrics, outcome_of, salesforce_api, slack_method


def test_slack_requests_are_labelled_by_the_methods_qc_bot_calls_and_nothing_else():
    assert slack_method(URL("https://slack.com/api/chat.postMessage")) == "chat.postMessage"
    assert slack_method(URL("http://127.0.0.1:4000/api/views.open")) == "views.open"
    assert slack_method(URL("https://hooks.slack.com/commands/T1/123/abcSECRET")) == "response_url"
    assert slack_method(URL("https://hooks.slack.com/actions/T1/123/abcSECRET")) == "response_url"
    # A method name Slack would invent tomorrow, or a crafted path, does not make a new series.
    assert slack_method(URL("https://slack.com/api/users.lookupByEmail")) == "other"
    assert slack_method(URL("https://slack.com/api/T0123%20ada@acme.example")) == "other"
    assert len(SLACK_METHODS) < 20


def test_salesforce_requests_are_labelled_by_the_api_they_speak():
    base = "https://acme.my.salesforce.com"
    assert salesforce_api(URL(f"{base}/services/oauth2/token")) == "oauth"
    assert salesforce_api(URL(f"{base}/.well-known/openid-configuration")) == "oauth"
    assert salesforce_api(URL(f"{base}/id/00D000000000001EAA/005000000000001AAA")) == "identity"
    assert salesforce_api(URL(f"{base}/services/Soap/m/63.0")) == "metadata"
    assert salesforce_api(URL(f"{base}/services/data/v63.0/query?q=SELECT+Id+FROM+User")) == "rest"
    assert salesforce_api(URL(f"{base}/services/data/v63.0/tooling/query")) == "tooling"
    assert salesforce_api(URL(f"{base}/services/data/v63.0/connect/apps/oauth/usage")) == "connect"
    assert salesforce_api(URL(f"{base}/services/data/v65.0/apps/oauth/credentials/0xA/x")) == "connect"
    assert salesforce_api(URL(f"{base}/services/data/v65.0/apps/oauth/usage/QualityClouds/users")) == "connect"
    assert salesforce_api(URL(f"{base}/anything/else")) == "other"


def test_http_statuses_map_to_a_handful_of_outcomes():
    assert [outcome_of(status) for status in (200, 201, 302, 400, 404, 429, 500, 503)] == [
        "ok", "ok", "ok", "client_error", "client_error", "rate_limited", "server_error", "server_error"]


def test_two_apps_in_one_process_count_apart():
    first, second = Metrics(), Metrics()
    first.journey_ended(outcome="provisioned")
    second.journey_ended(outcome=Failure.RUN_AS_INVALID)
    assert b'qcbot_journeys_ended_total{outcome="provisioned"} 1.0' in generate_latest(first.registry)
    assert b'outcome="provisioned"' not in generate_latest(second.registry)
    assert b'qcbot_journeys_ended_total{outcome="run_as_invalid"} 1.0' in generate_latest(second.registry)
