"""The one vocabulary of what went wrong, and the one place an exception becomes a failure.

Every code qc-bot turns into words is a member of an enum here; the words themselves are in
`bot.messages` (one table per enum, each complete). The enums are `StrEnum`s, so the text columns and
audit details that store them keep the same strings; a code read back from the database is converted
once, by `Failure.stored`, where an unknown string becomes `Failure.INTERNAL_ERROR` on purpose.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from bot.errors import QcBotError
from bot.salesforce.errors import OAuthError, SalesforceError, SessionExpired, TokenResponseRejected

logger = logging.getLogger(__name__)

PERMISSION_CODES = frozenset({"INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY"})
"""Salesforce's codes for "this user may not do that"."""


class Failure(StrEnum):
    """Why a connect-org journey ended in `failed` (stored in `connections.failure_code`)."""

    # The authorization in the browser.
    ACCESS_DENIED = "access_denied"
    APP_NOT_INSTALLED = "app_not_installed"
    TOKEN_EXCHANGE_FAILED = "token_exchange_failed"
    TOKEN_RESPONSE_REJECTED = "token_response_rejected"
    AUTHORIZATION_NOT_COMPLETED = "authorization_not_completed"
    AUTHORIZATION_CANCELLED = "authorization_cancelled"
    CONFIRMATION_NOT_GIVEN = "confirmation_not_given"
    # Provisioning the QualityClouds app.
    CONNECTED_APP_CREATION_BLOCKED = "connected_app_creation_blocked"
    MISSING_PERMISSION = "missing_permission"
    RUN_AS_NOT_FOUND = "run_as_not_found"
    RUN_AS_INACTIVE = "run_as_inactive"
    RUN_AS_INVALID = "run_as_invalid"
    CONSUMER_KEY_TAKEN = "consumer_key_taken"
    CREDENTIALS_NOT_SETTABLE = "credentials_not_settable"
    CONSUMER_SECRET_API_ACCESS = "consumer_secret_api_access"
    """The org keeps OAuth consumer secrets out of the Metadata API (`enableConsumerSecretApiAccess` off)."""
    PARENT_FIRST = "parent_first"
    """The org wants an External Client App's header deployed before its settings."""
    DEPLOY_FAILED = "deploy_failed"
    NOT_FOUND_AFTER_DEPLOY = "not_found_after_deploy"
    # Either.
    SALESFORCE_UNAVAILABLE = "salesforce_unavailable"
    SESSION_EXPIRED = "session_expired"
    SALESFORCE_ERROR = "salesforce_error"
    INTERNAL_ERROR = "internal_error"

    @classmethod
    def stored(cls, text: str | None) -> Failure | None:
        """A failure code as read from the database; one this version does not know is an internal error."""
        if text is None:
            return None
        try:
            return cls(text)
        except ValueError:
            logger.warning("Unknown failure code %r in the database; shown as an internal error", text)
            return cls.INTERNAL_ERROR


class ProvisioningFailed(QcBotError):
    """Provisioning cannot finish. `code` selects the explanation and remedy shown in Slack;
    `detail` is Salesforce's own text, shown as-is."""

    def __init__(self, *, code: Failure, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def failure_of(exc: BaseException) -> tuple[Failure, str | None]:
    """The failure an exception stands for, and the detail to show with it (Salesforce's own words).

    An exception that is not a Salesforce failure is a bug: it becomes `INTERNAL_ERROR` without detail,
    because its text was never written for the admin."""
    if isinstance(exc, ProvisioningFailed):
        return exc.code, exc.detail
    if isinstance(exc, TokenResponseRejected):
        return Failure.TOKEN_RESPONSE_REJECTED, exc.message
    if isinstance(exc, OAuthError):
        if exc.grant_type == "refresh_token":
            # Refreshing is how qc-bot renews its session; refused, the session is over.
            return Failure.SESSION_EXPIRED, exc.message
        if is_app_not_installed(exc.error, exc.description):
            return Failure.APP_NOT_INSTALLED, exc.message
        return Failure.TOKEN_EXCHANGE_FAILED, exc.message
    if isinstance(exc, SessionExpired):
        return Failure.SESSION_EXPIRED, exc.message
    if isinstance(exc, SalesforceError):
        if exc.transient:
            return Failure.SALESFORCE_UNAVAILABLE, exc.message
        if exc.code in PERMISSION_CODES:
            return Failure.MISSING_PERMISSION, exc.message
        return Failure.SALESFORCE_ERROR, exc.message
    return Failure.INTERNAL_ERROR, None


def failure_of_authorize_error(error: str, description: str | None) -> Failure:
    """Salesforce's `error` on the redirect back from its authorization page, as a failure."""
    if is_app_not_installed(error, description):
        return Failure.APP_NOT_INSTALLED
    # One Salesforce page spells it with a hyphen.
    return Failure.ACCESS_DENIED if error in ("access_denied", "access-denied") else Failure.TOKEN_EXCHANGE_FAILED


def is_app_not_installed(error: str | None, description: str | None) -> bool:
    text = f"{error or ''} {description or ''}".lower()
    return "must be installed" in text or "uninstalled" in text


class ProofProblem(StrEnum):
    """Why the live sign-in with the app's own credentials (SPEC §2 "Live proof") failed or was not tried
    (stored in `connections.proof_problem`)."""

    NOT_PROPAGATED = "not_propagated"
    """Salesforce still answered `invalid_client_id` when the propagation window closed."""
    WRONG_SECRET = "wrong_secret"
    RUN_AS_INACTIVE = "run_as_inactive"
    CLIENT_CREDENTIALS_OFF = "client_credentials_off"
    PKCE_REQUIRED = "pkce_required"
    WRONG_DOMAIN = "wrong_domain"
    REJECTED = "rejected"
    SALESFORCE_UNAVAILABLE = "salesforce_unavailable"
    REFUSED = "refused"
    SECRET_UNKNOWN = "secret_unknown"
    """Not tried: qc-bot does not hold the app's consumer secret (Salesforce would not let it read it)."""


def still_propagating(exc: BaseException) -> bool:
    """Salesforce does not know the consumer key (yet): a new or changed app for a few minutes."""
    return isinstance(exc, OAuthError) and exc.error == "invalid_client_id"


def proof_problem_of(exc: BaseException) -> ProofProblem | None:
    """What a failed sign-in with an app's credentials means; None for an exception that is a bug."""
    if isinstance(exc, TokenResponseRejected):
        return ProofProblem.REJECTED
    if isinstance(exc, OAuthError):
        description = (exc.description or "").lower()
        if exc.error == "invalid_client_id":
            return ProofProblem.NOT_PROPAGATED
        if exc.error == "invalid_client" and not is_app_not_installed(exc.error, exc.description):
            return ProofProblem.WRONG_SECRET
        if "pkce" in description:
            return ProofProblem.PKCE_REQUIRED
        if exc.error == "inactive_user" or "inactive" in description:
            return ProofProblem.RUN_AS_INACTIVE
        if "client credentials user" in description or "api enabled" in description:
            return ProofProblem.CLIENT_CREDENTIALS_OFF
        if "not supported on this domain" in description:
            return ProofProblem.WRONG_DOMAIN
        return ProofProblem.REFUSED
    if isinstance(exc, SalesforceError):
        return ProofProblem.SALESFORCE_UNAVAILABLE if exc.transient else ProofProblem.REFUSED
    return None


class DisconnectProblem(StrEnum):
    """Why `/qc disconnect-org ... delete-app` left the org connected (audited as `failed:<code>`)."""

    NO_ACCESS = "no_access"
    DELETE_APP_FAILED = "delete_app_failed"
    SALESFORCE_UNAVAILABLE = "salesforce_unavailable"

    @classmethod
    def deleting_app(cls, failure: Failure) -> DisconnectProblem:
        """What a failure while deleting the app means for a disconnect: nothing else happens either way."""
        if failure is Failure.SESSION_EXPIRED:
            return cls.NO_ACCESS
        if failure is Failure.SALESFORCE_UNAVAILABLE:
            return cls.SALESFORCE_UNAVAILABLE
        return cls.DELETE_APP_FAILED


class CredentialsProblem(StrEnum):
    """Why `/qc rotate-secret` or `/qc revoke-tokens` stopped short (audited as `failed:<code>`)."""

    NO_ACCESS = "no_access"
    """qc-bot's own access to the org no longer works."""
    NO_APP = "no_app"
    """The org has no QualityClouds app qc-bot knows of (or Salesforce does not list it)."""
    OWN_CLIENT = "own_client"
    """The app's consumer key is the one qc-bot itself signs in with."""
    UNDER_WAY = "under_way"
    ACCESS_NOT_GRANTABLE = "access_not_grantable"
    """Connect REST refused, and the admin may not turn on the setting or grant the permissions it needs."""
    SALESFORCE_REFUSED = "salesforce_refused"
    SALESFORCE_UNAVAILABLE = "salesforce_unavailable"
    USER_NOT_FOUND = "user_not_found"
    """`revoke-tokens <username>`: that Salesforce user holds no token of the app."""
    INTERRUPTED = "interrupted"
    """A rotation interrupted more than `MAX_RESUMES` times."""

    @classmethod
    def of(cls, failure: Failure) -> CredentialsProblem:
        """What a Salesforce failure means for a rotation or a revocation."""
        if failure is Failure.SESSION_EXPIRED:
            return cls.NO_ACCESS
        if failure is Failure.SALESFORCE_UNAVAILABLE:
            return cls.SALESFORCE_UNAVAILABLE
        return cls.SALESFORCE_REFUSED


class LinkProblem(StrEnum):
    """Why the one-time authorization link from Slack did not lead to Salesforce."""

    MISSING = "missing"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    HOST_NOT_ALLOWED = "host_not_allowed"


class ConfirmProblem(StrEnum):
    """Why a Continue/Cancel click on an authorization awaiting its requester was refused."""

    NOT_REQUESTER = "not_requester"
    DECIDED = "decided"
    LAPSED = "lapsed"


class CallbackProblem(StrEnum):
    """Why Salesforce's redirect back (the OAuth `state`) was refused."""

    MISSING = "missing"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


class RevealProblem(StrEnum):
    """Why a "Reveal credentials" click was refused (audited as `refused:<code>`)."""

    UNKNOWN = "unknown"
    WRONG_USER = "wrong_user"
    USED = "used"
    EXPIRED = "expired"
    UNAVAILABLE = "unavailable"


class SecretUnreadable(StrEnum):
    """Why qc-bot has the app's consumer key but not its secret."""

    CONNECTED_APP = "connected_app_secret_unreadable"
    EXTERNAL_CLIENT_APP = "external_client_app_secret_unreadable"
    REST_SETTING_NOT_CHANGEABLE = "eca_rest_setting_not_changeable"
    """Connect REST needs "Allow access to External Client App consumer secrets via REST API", and the admin
    may not turn it on."""
    REST_PERMISSION_NOT_GRANTABLE = "eca_rest_permission_not_grantable"
    """Connect REST needs the External Client App permissions, and the admin may not grant them to themselves."""


class ChannelError(StrEnum):
    """Slack's errors for a channel that refuses the bot's messages for good (the outbox then tells the
    person concerned directly)."""

    NOT_IN_CHANNEL = "not_in_channel"
    CHANNEL_NOT_FOUND = "channel_not_found"
    IS_ARCHIVED = "is_archived"
    USER_NOT_IN_CHANNEL = "user_not_in_channel"

    @classmethod
    def of(cls, error: str) -> ChannelError | None:
        """Slack's error as a member, or None for an error a channel fallback cannot help with."""
        try:
            return cls(error)
        except ValueError:
            return None


class TokenReadProblem(StrEnum):
    """Why qc-bot could not read who holds the QualityClouds app's refresh tokens. Not the connection's fault:
    the org stays connected and the tokens already known stay watched."""

    MISSING_PERMISSION = "app_tokens_missing_permission"
    NOT_ENABLED = "app_tokens_not_enabled"

    @classmethod
    def of(cls, exc: SalesforceError) -> TokenReadProblem | None:
        """The problem a refused read stands for; None for one worth simply trying again (Salesforce down)."""
        if exc.code in PERMISSION_CODES:
            return cls.MISSING_PERMISSION
        if exc.code == "FUNCTIONALITY_NOT_ENABLED":
            return cls.NOT_ENABLED
        return None
