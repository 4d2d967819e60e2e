"""What each failure means, in the admin's terms, and what to do about it: one table per vocabulary of
`bot.failures`, each keyed by its enum and complete (a test holds every member to a text)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.failures import (
    ChannelError,
    ConfirmProblem,
    CredentialsProblem,
    DisconnectProblem,
    Failure,
    ProofProblem,
    RevealProblem,
    SecretUnreadable,
    TokenReadProblem,
)
from bot.messages.actions import COMMAND


@dataclass(frozen=True)
class Explanation:
    """What went wrong, in the admin's terms, and what to do about it."""

    what: str
    remedy: str
    detail_label: str = "Salesforce said"


_SETTINGS_REJECTED = Explanation(
    "Salesforce rejected the QualityClouds app's settings.",
    f"Fix what Salesforce reports below, then run `{COMMAND} connect-org` again: qc-bot repairs the app, it "
    "never creates a second one.",
)

EXPLANATIONS: dict[Failure, Explanation] = {
    Failure.ACCESS_DENIED: Explanation(
        "Access was declined on the Salesforce authorization page.",
        f"Nothing was changed. Run `{COMMAND} connect-org` again and choose *Allow* to continue.",
    ),
    Failure.APP_NOT_INSTALLED: Explanation(
        "Salesforce refused qc-bot's own OAuth client: it is not installed in this org, and the org blocks "
        "uninstalled connected apps.",
        "Ask a Salesforce admin who holds *Approve Uninstalled Connected Apps* to run the command, or install the "
        "app first (Setup → Connected Apps OAuth Usage → qc-bot → Install).",
    ),
    Failure.TOKEN_EXCHANGE_FAILED: Explanation(
        "Salesforce did not issue a token for this authorization.",
        f"Run `{COMMAND} connect-org` again. If it repeats, give your qc-bot operator the Salesforce message below.",
    ),
    Failure.TOKEN_RESPONSE_REJECTED: Explanation(
        "The answer from Salesforce failed a security check, so qc-bot ignored it and stored nothing.",
        f"Run `{COMMAND} connect-org` again. If it repeats, tell your qc-bot operator: something between qc-bot "
        "and Salesforce is altering responses.",
    ),
    Failure.AUTHORIZATION_NOT_COMPLETED: Explanation(
        "Your Salesforce authorization did not finish within 10 minutes of opening the link, so nothing was "
        "changed.",
        f"Run `{COMMAND} connect-org` again for a new link.",
        detail_label="Details",
    ),
    Failure.AUTHORIZATION_CANCELLED: Explanation(
        "You cancelled the authorization made with your link, so nothing was deployed and qc-bot revoked the "
        "Salesforce session it received.",
        f"Run `{COMMAND} connect-org` again and authorize in Salesforce yourself.",
    ),
    Failure.CONFIRMATION_NOT_GIVEN: Explanation(
        "Nobody confirmed in time that the Salesforce authorization made with your link was yours, so nothing "
        "was deployed and qc-bot revoked the Salesforce session it received.",
        f"Run `{COMMAND} connect-org` again and confirm within 15 minutes, or sign in to Salesforce with the "
        "e-mail address you use in Slack.",
    ),
    Failure.CONNECTED_APP_CREATION_BLOCKED: Explanation(
        "Salesforce refused to create a new Connected App. Since Spring '26, orgs block new Connected Apps "
        "unless Salesforce Support re-enables them.",
        "Let qc-bot create an External Client App instead (QC_APP_KIND=auto or external-client-app), or ask "
        "Salesforce Support to allow Connected App creation in this org.",
    ),
    Failure.MISSING_PERMISSION: Explanation(
        "Your Salesforce user is not allowed to create or change OAuth apps in this org.",
        "Ask a Salesforce admin with *Customize Application* and *Modify All Data* (or *Manage Connected Apps* / "
        f"*Manage External Client Apps* and *Modify Metadata*) to run `{COMMAND} connect-org`.",
    ),
    Failure.RUN_AS_NOT_FOUND: Explanation(
        "The run-as user does not exist in this org.",
        f"Check the username in Setup → Users and run `{COMMAND} connect-org run-as=USERNAME` again, or leave "
        "run-as out to use yourself.",
        detail_label="Run-as user",
    ),
    Failure.RUN_AS_INACTIVE: Explanation(
        "The run-as user is deactivated in this org.",
        "Activate the user (Setup → Users) or choose another one with run-as=USERNAME.",
        detail_label="Run-as user",
    ),
    Failure.RUN_AS_INVALID: Explanation(
        "Salesforce would not accept the run-as user for the client credentials flow.",
        "Use an active user of this org, ideally a dedicated API-only integration user: "
        f"`{COMMAND} connect-org run-as=USERNAME`.",
    ),
    Failure.CONSUMER_KEY_TAKEN: Explanation(
        "Salesforce reported that the generated consumer key is already taken, twice in a row.",
        f"Run `{COMMAND} connect-org` again; a new key is generated each time.",
    ),
    Failure.CREDENTIALS_NOT_SETTABLE: Explanation(
        "Salesforce would not accept a consumer key or secret for this app.",
        f"Run `{COMMAND} connect-org` again; if it repeats, tell your qc-bot operator.",
    ),
    Failure.CONSUMER_SECRET_API_ACCESS: Explanation(
        "The org keeps OAuth consumer secrets out of the Metadata API (the setting *Allow Access to OAuth Consumer "
        "Secrets via Metadata API*, `ExternalClientAppSettings.enableConsumerSecretApiAccess`, is off), so "
        "Salesforce refused the app's OAuth settings.",
        "In Salesforce Setup, search *External Client App Settings* in Quick Find and turn that setting on (you may "
        "turn it off again afterwards: qc-bot reads the secret over the REST API, not the Metadata API), then run "
        f"`{COMMAND} connect-org` again.",
    ),
    # Normally handled by deploying the header first; it reaches the admin only for an app that already has
    # a header, which makes it a rejected deploy like any other.
    Failure.PARENT_FIRST: _SETTINGS_REJECTED,
    Failure.DEPLOY_FAILED: _SETTINGS_REJECTED,
    Failure.NOT_FOUND_AFTER_DEPLOY: Explanation(
        "Salesforce reported success, but the app could not be read back afterwards.",
        f"Run `{COMMAND} connect-org` again in a few minutes; it checks and completes the app.",
    ),
    Failure.SALESFORCE_UNAVAILABLE: Explanation(
        "Salesforce did not answer, or kept failing, within the time allowed.",
        f"Run `{COMMAND} connect-org` again later (see status.salesforce.com); it continues where this stopped.",
    ),
    Failure.SESSION_EXPIRED: Explanation(
        "The Salesforce session ended and could not be renewed.",
        f"Run `{COMMAND} connect-org` again to authorize afresh.",
    ),
    Failure.SALESFORCE_ERROR: Explanation(
        "Salesforce refused a request while setting up the app.",
        f"See Salesforce's message below; fix its cause and run `{COMMAND} connect-org` again.",
    ),
    Failure.INTERNAL_ERROR: Explanation(
        "qc-bot hit an unexpected error.",
        "Your qc-bot operator will find the details in the bot's log under the connection id below.",
        detail_label="Details",
    ),
}

DISCONNECT_EXPLANATIONS: dict[DisconnectProblem, Explanation] = {
    DisconnectProblem.NO_ACCESS: Explanation(
        "qc-bot's own access to the org no longer works, so it cannot delete the QualityClouds app.",
        f"Nothing was disconnected. Run `{COMMAND} connect-org` to authorize again and then disconnect with "
        "`delete-app`, or disconnect without `delete-app` and delete the app in Setup.",
    ),
    DisconnectProblem.DELETE_APP_FAILED: Explanation(
        "Salesforce refused to delete the QualityClouds app.",
        "Nothing was disconnected. Fix what Salesforce reports below (or delete the app in Setup), then run the "
        "command again.",
    ),
    DisconnectProblem.SALESFORCE_UNAVAILABLE: Explanation(
        "Salesforce did not answer, or kept failing, while qc-bot deleted the app.",
        "Nothing was disconnected. Run the command again later (see status.salesforce.com).",
    ),
}

CREDENTIALS_EXPLANATIONS: dict[CredentialsProblem, Explanation] = {
    CredentialsProblem.NO_ACCESS: Explanation(
        "qc-bot's own access to the org no longer works.",
        f"Nothing was changed. Run `{COMMAND} connect-org` to authorize again, then run the command again.",
    ),
    CredentialsProblem.NO_APP: Explanation(
        "qc-bot knows no QualityClouds app in this org, or Salesforce does not list it.",
        f"Run `{COMMAND} connect-org` to set the app up (or repair it), then run the command again.",
    ),
    CredentialsProblem.OWN_CLIENT: Explanation(
        "The app's consumer key is the one qc-bot itself signs in with; rotating it would cut qc-bot off.",
        "Nothing was changed. Rotate qc-bot's own credentials in Setup and update its configuration instead.",
    ),
    CredentialsProblem.UNDER_WAY: Explanation(
        "A rotation of this org's credentials is already under way.",
        "Wait for its message in the channel; run the command again after it if you still need to.",
    ),
    CredentialsProblem.ACCESS_NOT_GRANTABLE: Explanation(
        "Salesforce refused the credentials resources, and qc-bot could not turn on the setting or grant you the "
        "permissions they need.",
        "Nothing was rotated. Have an admin turn on *Allow access to External Client App consumer secrets via REST "
        "API* (Setup → External Client App Settings) and give you *View Client Secret* and the External Client App "
        "permissions in a permission set, or rotate in Setup → External Client App Manager.",
    ),
    CredentialsProblem.SALESFORCE_REFUSED: Explanation(
        "Salesforce refused the request.",
        "Fix what Salesforce reports below, then run the command again; nothing was half done.",
    ),
    CredentialsProblem.SALESFORCE_UNAVAILABLE: Explanation(
        "Salesforce did not answer, or kept failing, within the time allowed.",
        "Run the command again later (see status.salesforce.com).",
    ),
    CredentialsProblem.USER_NOT_FOUND: Explanation(
        "No user of that name holds a refresh token of the QualityClouds app in this org.",
        "Check the Salesforce username (it looks like an e-mail address); nothing was revoked.",
    ),
    CredentialsProblem.INTERRUPTED: Explanation(
        "qc-bot was restarted too many times during this rotation.",
        "Check the app's credentials in Setup → External Client App Manager, then run the command again.",
    ),
}

_AGAIN = f"then run `{COMMAND} connect-org` again: qc-bot repairs the app and proves the sign-in again"

PROOF_EXPLANATIONS: dict[ProofProblem, Explanation] = {
    ProofProblem.NOT_PROPAGATED: Explanation(
        "Salesforce still did not recognise the app's consumer key when the wait for a new app (10 minutes) "
        "ran out.",
        f"Check in Setup that the QualityClouds app exists and is enabled, wait a few minutes, {_AGAIN}.",
    ),
    ProofProblem.WRONG_SECRET: Explanation(
        "Salesforce refused the consumer secret qc-bot holds for this app: it is not the app's current secret.",
        "Do not use the revealed secret. Copy the consumer key and secret from Setup (the app → Consumer Key and "
        f"Secret) into Quality Clouds, or {_AGAIN}.",
    ),
    ProofProblem.RUN_AS_INACTIVE: Explanation(
        "The app's run-as user is deactivated, or not allowed to use the API.",
        "Activate the user in Setup → Users and give it *API Enabled* (ideally an API-only integration user), or "
        f"name another user with `{COMMAND} connect-org run-as=USERNAME`.",
    ),
    ProofProblem.CLIENT_CREDENTIALS_OFF: Explanation(
        "The app's client credentials flow is off, has no run-as user, or the run-as user is not API-only where "
        "the org requires it.",
        f"Turn on *Enable Client Credentials Flow* with an API-enabled run-as user in the app's policies, {_AGAIN}.",
    ),
    ProofProblem.PKCE_REQUIRED: Explanation(
        "The app requires PKCE, which Quality Clouds does not use.",
        "Turn off *Require Proof Key for Code Exchange (PKCE)* on the app (and under Setup → OAuth and OpenID "
        f"Connect Settings if the org requires it everywhere), {_AGAIN}.",
    ),
    ProofProblem.WRONG_DOMAIN: Explanation(
        "Salesforce refused the sign-in on this address: the client credentials flow works only on the org's "
        "My Domain.",
        f"Make sure the org has a My Domain (Setup → My Domain), {_AGAIN}.",
    ),
    ProofProblem.REJECTED: Explanation(
        "Salesforce's answer to the sign-in failed a security check (not a signed Bearer token for this app).",
        "Try again later; if it repeats, tell your qc-bot operator: something between qc-bot and Salesforce is "
        "altering responses.",
    ),
    ProofProblem.SALESFORCE_UNAVAILABLE: Explanation(
        "Salesforce did not answer the sign-in in time.",
        f"Check status.salesforce.com, {_AGAIN}.",
    ),
    ProofProblem.REFUSED: Explanation(
        "Salesforce refused the sign-in with the app's credentials.",
        f"Fix what Salesforce reports below, {_AGAIN}.",
    ),
    ProofProblem.SECRET_UNKNOWN: Explanation(
        "qc-bot could not try the sign-in: it does not hold the app's consumer secret.",
        "Copy the secret from Setup as described above; Quality Clouds' first sign-in will prove it.",
        detail_label="Details",
    ),
}
"""What a failed (or untried) live sign-in means and what to do, by `ProofProblem`."""

REVEAL_REFUSALS: dict[RevealProblem, str] = {
    RevealProblem.UNKNOWN: "This reveal button is not known to qc-bot.",
    RevealProblem.WRONG_USER: "Only the admin who connected the org can reveal its credentials.",
    RevealProblem.USED: "These credentials were already revealed once; for safety they are not shown again. "
                        f"Run `{COMMAND} connect-org` again if you need them (the app is repaired, not duplicated).",
    RevealProblem.EXPIRED: f"This reveal button has expired (15 minutes). Run `{COMMAND} connect-org` again to get "
                           "a new one.",
    RevealProblem.UNAVAILABLE: "The credentials are no longer stored (the org was disconnected).",
}

CONFIRM_REFUSALS: dict[ConfirmProblem, str] = {
    ConfirmProblem.NOT_REQUESTER: "Only the admin who asked for the link can answer this.",
    ConfirmProblem.DECIDED: "This authorization was already answered (or it ended); nothing changed.",
    ConfirmProblem.LAPSED: f"This question expired, so nothing was deployed. Run `{COMMAND} connect-org` again.",
}

SECRET_NOTES: dict[SecretUnreadable, str] = {
    SecretUnreadable.CONNECTED_APP: "⚠️ Salesforce never returns a Connected App's secret and this app was not "
                                    "created by qc-bot: copy it from Setup → App Manager → {app_name} → View → "
                                    "Manage Consumer Details.",
    SecretUnreadable.EXTERNAL_CLIENT_APP: "⚠️ The org would not let qc-bot read the consumer secret: copy it from "
                                          "Setup → External Client App Manager → {app_name} → Settings → OAuth "
                                          "Settings → Consumer Key and Secret, or allow access via Setup → External "
                                          "Client App Settings.",
    SecretUnreadable.REST_SETTING_NOT_CHANGEABLE: (
        "⚠️ qc-bot reads the consumer secret over the REST API, which needs the org setting *Allow access to "
        "External Client App consumer secrets via REST API*, and your Salesforce user may not turn it on "
        "(*Customize Application* is needed). Copy the secret from Setup → External Client App Manager → "
        "{app_name} → Settings → OAuth Settings → Consumer Key and Secret, or have an admin turn the setting on "
        "(Setup → Quick Find → External Client App Settings) and run the command again."),
    SecretUnreadable.REST_PERMISSION_NOT_GRANTABLE: (
        "⚠️ Reading the consumer secret needs the user permissions *View Client Secret* (ViewClientSecret) and "
        "*External Client App Admin/Developer/Viewer* (ExternalClientAppAdmin, ExternalClientAppDeveloper, "
        "ExternalClientAppViewer), which qc-bot grants itself for the read with a temporary permission set, and "
        "your Salesforce user may not create or assign permission sets. Copy the secret from Setup → External "
        "Client App Manager → {app_name} → Settings → OAuth Settings → Consumer Key and Secret, or have an admin "
        "assign you a permission set with those permissions (Setup → Permission Sets → New → System Permissions, "
        "then Manage Assignments) and run the command again."),
}
"""Where to find a secret qc-bot could not read; `{app_name}` is the app's API name."""

CHANNEL_ERRORS: dict[ChannelError, str] = {
    ChannelError.NOT_IN_CHANNEL: "I'm not a member of that channel",
    ChannelError.CHANNEL_NOT_FOUND: "that channel is private and I'm not in it, or it no longer exists",
    ChannelError.IS_ARCHIVED: "that channel is archived",
    ChannelError.USER_NOT_IN_CHANNEL: "you are not in that channel any more",
}
"""Why a channel refused a message, said to the person who gets it directly instead."""

TOKEN_READ_EXPLANATIONS: dict[TokenReadProblem, Explanation] = {
    TokenReadProblem.MISSING_PERMISSION: Explanation(
        "Salesforce does not let {username} see who holds the {app_name} app's refresh tokens (an External Client "
        "App shows them only through its OAuth Usage).",
        "Give {username} *Customize Application*, or the External Client App permission *View all External Client "
        "Apps, view their settings, and edit their policies*, in a permission set (Setup → Permission Sets), or "
        "re-authorize qc-bot as an admin who has it. The next check picks the tokens up; nothing else is needed.",
    ),
    TokenReadProblem.NOT_ENABLED: Explanation(
        "Salesforce says reading the {app_name} app's OAuth Usage is not enabled for {username}.",
        "Turn on Setup → External Client App Settings → *Allow access to External Client App consumer secrets via "
        "REST API*, or re-authorize qc-bot as an admin for whom it is enabled. The next check picks the tokens up.",
    ),
}
"""Why the app's tokens could not be read; `{username}` is who authorized qc-bot, `{app_name}` the app."""
