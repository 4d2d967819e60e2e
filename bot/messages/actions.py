"""What people type and click: the slash command, and the action id of every button qc-bot sends.

Handlers listen for these ids; the builders put them on buttons. Renaming one strands the buttons of
messages already in Slack, so they only ever gain members.
"""

from __future__ import annotations

COMMAND = "/qc"

ACTION_OPEN_LINK = "authorize_in_salesforce"
ACTION_REVEAL = "reveal_credentials"
ACTION_REAUTHORIZE = "reauthorize_org"
ACTION_DISCONNECT_CONFIRM = "disconnect_org_confirm"
ACTION_DISCONNECT_CANCEL = "disconnect_org_cancel"
ACTION_AUTHORIZATION_CONFIRM = "authorization_confirm"
ACTION_AUTHORIZATION_CANCEL = "authorization_cancel"
ACTION_DRIFT_REPAIR = "drift_repair"
ACTION_DRIFT_RECREATE = "drift_recreate"
ACTION_RETIRE_OLD_CREDENTIALS = "retire_old_credentials"
ACTION_REVOKE_TOKENS_CONFIRM = "revoke_tokens_confirm"
ACTION_REVOKE_TOKENS_CANCEL = "revoke_tokens_cancel"
