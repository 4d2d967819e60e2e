"""Salesforce failures, named by what the caller does about them.

`transient` failures (network, 5xx, timeouts, `REQUEST_LIMIT_EXCEEDED`, `ALREADY_IN_PROCESS`) are
retried with backoff; `SessionExpired` is answered by one token refresh; everything else is permanent
and ends the journey with Salesforce's own words shown to the admin. Messages never contain tokens.
"""

from __future__ import annotations

from bot.errors import QcBotError

TRANSIENT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "ALREADY_IN_PROCESS", "SERVER_UNAVAILABLE",
                             "UNABLE_TO_LOCK_ROW"})


class SalesforceError(QcBotError):
    """A call to Salesforce failed. `code` is Salesforce's code (e.g. `INSUFFICIENT_ACCESS`) when known."""

    def __init__(self, message: str, *, code: str | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.transient = transient or (code in TRANSIENT_CODES)


class SalesforceUnavailable(SalesforceError):
    """Salesforce could not be reached or kept failing after every retry within the time allowed."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, transient=True)


class SessionExpired(SalesforceError):
    """The access token is no longer valid (`INVALID_SESSION_ID`)."""

    def __init__(self, message: str = "The Salesforce session expired.") -> None:
        super().__init__(message, code="INVALID_SESSION_ID")


class OAuthError(SalesforceError):
    """The token endpoint refused (`error` / `error_description` as Salesforce sent them) the grant
    `grant_type`: `authorization_code` (an admin's authorization) or `refresh_token` (qc-bot's session)."""

    def __init__(self, *, error: str, description: str | None, grant_type: str) -> None:
        self.error = error
        self.description = description or ""
        self.grant_type = grant_type
        super().__init__(f"{error}: {self.description}" if description else error, code=error)


class TokenResponseRejected(SalesforceError):
    """A token response failed our checks (signature, hosts, identity); nothing from it is used."""


class DeployFailed(SalesforceError):
    """A Metadata API deploy ended without success; `failures` are readable lines, one per problem."""

    def __init__(self, *, failures: list[str], code: str | None = None, transient: bool = False) -> None:
        self.failures = failures
        super().__init__("; ".join(failures) or "The deploy failed.", code=code, transient=transient)
