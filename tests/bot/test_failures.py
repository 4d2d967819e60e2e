import logging

import pytest

from bot.failures import (
    ChannelError,
    DisconnectProblem,
    Failure,
    ProvisioningFailed,
    TokenReadProblem,
    failure_of,
    failure_of_authorize_error,
)
from bot.salesforce.errors import (
    DeployFailed,
    OAuthError,
    SalesforceError,
    SalesforceUnavailable,
    SessionExpired,
    TokenResponseRejected,
)

NOT_INSTALLED = "OAUTH_APP_BLOCKED: this app must be installed into your org"


@pytest.mark.parametrize(("exc", "failure"), [
    (ProvisioningFailed(code=Failure.RUN_AS_INACTIVE, detail="int@acme.example"), Failure.RUN_AS_INACTIVE),
    (TokenResponseRejected("signature does not match"), Failure.TOKEN_RESPONSE_REJECTED),
    (OAuthError(error="invalid_grant", description="authentication failure", grant_type="authorization_code"),
     Failure.TOKEN_EXCHANGE_FAILED),
    (OAuthError(error="invalid_client", description=NOT_INSTALLED, grant_type="authorization_code"),
     Failure.APP_NOT_INSTALLED),
    # Refreshing is how qc-bot keeps its session: refused, whatever Salesforce's words, the session is over.
    (OAuthError(error="invalid_grant", description="expired access/refresh token", grant_type="refresh_token"),
     Failure.SESSION_EXPIRED),
    (OAuthError(error="invalid_client", description=NOT_INSTALLED, grant_type="refresh_token"),
     Failure.SESSION_EXPIRED),
    (SessionExpired(), Failure.SESSION_EXPIRED),
    (SalesforceUnavailable("Salesforce kept failing the token request: HTTP 503."), Failure.SALESFORCE_UNAVAILABLE),
    (SalesforceError("busy", code="REQUEST_LIMIT_EXCEEDED"), Failure.SALESFORCE_UNAVAILABLE),
    (SalesforceError("no", code="INSUFFICIENT_ACCESS"), Failure.MISSING_PERMISSION),
    (DeployFailed(failures=["ConnectedApp QualityClouds: bad callback"]), Failure.SALESFORCE_ERROR),
    (SalesforceError("The query failed: MALFORMED_QUERY", code="MALFORMED_QUERY"), Failure.SALESFORCE_ERROR),
])
def test_an_exception_names_its_failure_and_keeps_salesforces_words(exc, failure):
    assert failure_of(exc) == (failure, getattr(exc, "detail", None) or exc.message)


def test_a_bug_is_an_internal_error_whose_text_is_not_shown():
    assert failure_of(KeyError("consumer_secret=abc")) == (Failure.INTERNAL_ERROR, None)


@pytest.mark.parametrize(("error", "description", "failure"), [
    ("access_denied", "end-user denied authorization", Failure.ACCESS_DENIED),
    ("access-denied", None, Failure.ACCESS_DENIED),
    ("OAUTH_APP_BLOCKED", "this app must be installed into your org", Failure.APP_NOT_INSTALLED),
    ("server_error", None, Failure.TOKEN_EXCHANGE_FAILED),
])
def test_the_error_on_the_redirect_back_names_its_failure(error, description, failure):
    assert failure_of_authorize_error(error, description) is failure


def test_a_failed_app_deletion_is_a_disconnect_problem():
    assert DisconnectProblem.deleting_app(Failure.SESSION_EXPIRED) is DisconnectProblem.NO_ACCESS
    assert DisconnectProblem.deleting_app(Failure.SALESFORCE_UNAVAILABLE) is DisconnectProblem.SALESFORCE_UNAVAILABLE
    assert DisconnectProblem.deleting_app(Failure.MISSING_PERMISSION) is DisconnectProblem.DELETE_APP_FAILED


def test_stored_codes_read_back_as_themselves_and_an_unknown_one_as_an_internal_error(caplog):
    assert [Failure.stored(member.value) for member in Failure] == list(Failure)
    assert Failure.stored(None) is None
    with caplog.at_level(logging.WARNING, logger="bot.failures"):
        assert Failure.stored("a_code_from_a_newer_version") is Failure.INTERNAL_ERROR
    assert "a_code_from_a_newer_version" in caplog.text


def test_the_codes_are_the_strings_the_database_and_audit_log_hold():
    assert f"failed:{Failure.SESSION_EXPIRED}" == "failed:session_expired"
    assert DisconnectProblem.NO_ACCESS == "no_access" and ChannelError.of("is_archived") is ChannelError.IS_ARCHIVED
    assert ChannelError.of("ratelimited") is None


@pytest.mark.parametrize(("exc", "problem"), [
    (SalesforceError("You don't have permission to view external client apps.", code="INSUFFICIENT_ACCESS"),
     TokenReadProblem.MISSING_PERMISSION),
    (SalesforceError("This feature is not currently enabled for this user.", code="FUNCTIONALITY_NOT_ENABLED"),
     TokenReadProblem.NOT_ENABLED),
    (SalesforceError("TotalRequests Limit exceeded.", code="REQUEST_LIMIT_EXCEEDED"), None),
    (SalesforceUnavailable("no answer"), None),
])
def test_a_refused_token_read_names_what_to_grant_and_anything_else_is_tried_again(exc, problem):
    assert TokenReadProblem.of(exc) is problem
