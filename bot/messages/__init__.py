"""Every word qc-bot says in Slack, and the Block Kit it says it with, one module per surface:

- `actions` — the slash command and every button's action id;
- `blocks` — `SlackMessage`, the shared Block Kit primitives and the plain-text fallback of mrkdwn;
- `explanations` — what each failure of `bot.failures` means and what to do about it;
- `check` (`/qc check`'s private report), `commands` (usage, refusals), `connect` (the link and the journey's
  status message), `reveal` (the private delivery of the credentials), `watch` (expiry warnings, lost access,
  the app's sign-in failing and resolved), `dashboard` (`/qc status` and the App Home), `disconnect`
  (`/qc disconnect-org`), `rotation` (`/qc rotate-secret`, `/qc revoke-tokens`), `delivery` (a channel that
  refuses a message), `drift` (the app changed in Setup, and its repair);
- `pages` — the browser pages, outside Slack.

Nothing here ever receives a full secret except `reveal.reveal_modal`, the one private delivery of SPEC §1
step 6. The builders are re-exported here, so callers write `messages.org_connected(...)`.
"""

from bot.messages.actions import (
    ACTION_AUTHORIZATION_CANCEL,
    ACTION_AUTHORIZATION_CONFIRM,
    ACTION_DISCONNECT_CANCEL,
    ACTION_DISCONNECT_CONFIRM,
    ACTION_DRIFT_RECREATE,
    ACTION_DRIFT_REPAIR,
    ACTION_OPEN_LINK,
    ACTION_REAUTHORIZE,
    ACTION_RETIRE_OLD_CREDENTIALS,
    ACTION_REVEAL,
    ACTION_REVOKE_TOKENS_CANCEL,
    ACTION_REVOKE_TOKENS_CONFIRM,
    COMMAND,
)
from bot.messages.blocks import SlackMessage, answer_modal
from bot.messages.check import CheckedOrg, TokenLine, check_report, check_started
from bot.messages.commands import not_allowed, org_gone, slow_down, usage
from bot.messages.connect import (
    ConnectedOrg,
    SignInProof,
    WhoAuthorized,
    authorization_cancelled,
    authorization_confirmed,
    authorization_expired,
    authorization_to_confirm,
    confirmation_refused,
    connect_link,
    connection_failed,
    link_used,
    org_card_setting_up,
    org_connected,
    secret_unavailable_note,
)
from bot.messages.dashboard import NearestExpiry, OrgOverview, home_view, status
from bot.messages.disconnect import (
    disconnect_cancelled,
    disconnect_confirmation,
    disconnect_failed,
    disconnected,
    org_ambiguous,
    org_disconnected_notice,
    org_not_found,
)
from bot.messages.reveal import HandOff, reveal_modal, reveal_offer, reveal_refused, reveal_retry, revealed
from bot.messages.rotation import (
    connected_app_rotation_steps,
    credentials_failed,
    old_credentials_retired,
    retire_answer,
    revoke_cancelled,
    revoke_confirmation,
    rotation_done,
    rotation_reveal_offer,
    rotation_started,
    tokens_revoked,
)
from bot.messages.watch import (
    ExpiryNotice,
    app_tokens_unreadable,
    connection_broken,
    expiry_warning,
    sign_in_failing,
    sign_in_resolved,
)

__all__ = [
    "ACTION_AUTHORIZATION_CANCEL",
    "ACTION_AUTHORIZATION_CONFIRM",
    "ACTION_DISCONNECT_CANCEL",
    "ACTION_DISCONNECT_CONFIRM",
    "ACTION_DRIFT_RECREATE",
    "ACTION_DRIFT_REPAIR",
    "ACTION_OPEN_LINK",
    "ACTION_REAUTHORIZE",
    "ACTION_RETIRE_OLD_CREDENTIALS",
    "ACTION_REVEAL",
    "ACTION_REVOKE_TOKENS_CANCEL",
    "ACTION_REVOKE_TOKENS_CONFIRM",
    "COMMAND",
    "CheckedOrg",
    "ConnectedOrg",
    "ExpiryNotice",
    "HandOff",
    "NearestExpiry",
    "OrgOverview",
    "SignInProof",
    "SlackMessage",
    "TokenLine",
    "WhoAuthorized",
    "answer_modal",
    "app_tokens_unreadable",
    "authorization_cancelled",
    "authorization_confirmed",
    "authorization_expired",
    "authorization_to_confirm",
    "check_report",
    "check_started",
    "confirmation_refused",
    "connect_link",
    "connected_app_rotation_steps",
    "connection_broken",
    "connection_failed",
    "credentials_failed",
    "disconnect_cancelled",
    "disconnect_confirmation",
    "disconnect_failed",
    "disconnected",
    "expiry_warning",
    "home_view",
    "link_used",
    "not_allowed",
    "old_credentials_retired",
    "org_ambiguous",
    "org_card_setting_up",
    "org_connected",
    "org_disconnected_notice",
    "org_gone",
    "org_not_found",
    "retire_answer",
    "reveal_modal",
    "reveal_offer",
    "reveal_refused",
    "reveal_retry",
    "revealed",
    "revoke_cancelled",
    "revoke_confirmation",
    "rotation_done",
    "rotation_reveal_offer",
    "rotation_started",
    "secret_unavailable_note",
    "sign_in_failing",
    "sign_in_resolved",
    "slow_down",
    "status",
    "tokens_revoked",
    "usage",
]
