"""The words of keeping watch (SPEC §4, §4a): a token about to expire or expired, and qc-bot's own access lost
(both with a *Re-authorize* button); the app's sign-in failing, and working again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.failures import ProofProblem, TokenReadProblem
from bot.messages.actions import COMMAND
from bot.messages.blocks import (
    SlackMessage,
    escape_mrkdwn,
    inert,
    named_header,
    plain,
    reauthorize_button,
    section,
    time_left,
    when_local,
)
from bot.messages.explanations import PROOF_EXPLANATIONS, TOKEN_READ_EXPLANATIONS


@dataclass(frozen=True, kw_only=True)
class ExpiryNotice:
    org_name: str
    org_id: str
    token_kind: str
    """`bot` (qc-bot's own refresh token) or `app` (a token of the QualityClouds app)."""
    app_name: str
    owner: str | None
    """The Salesforce username the token belongs to, when known."""
    expires_at: datetime
    days_left: int
    """The threshold crossed; 0 means the token has expired."""
    policy: str
    as_of: datetime


def expiry_warning(notice: ExpiryNotice) -> SlackMessage:
    """A warning for the org's channel: which org, which token, when, what happens, and a way to act."""
    owner = inert(notice.owner) if notice.owner else "an unknown user"
    name, app_name = inert(notice.org_name), escape_mrkdwn(notice.app_name)
    org = f"*{name}* (`{escape_mrkdwn(notice.org_id)}`)"
    expired = notice.days_left == 0
    if notice.token_kind == "bot":
        before = "qc-bot's access to "
        token = f"qc-bot's own refresh token, authorized by {owner}"
        consequence = (f"qc-bot can no longer read {name}: it stops checking the app Quality Clouds "
                       "connects through and that app's tokens, so it cannot warn about them either.")
        remedy = ("A workspace admin clicks *Re-authorize* and approves qc-bot in Salesforce again; that issues a "
                  "new token and changes nothing else.")
    else:
        before = "Quality Clouds' access to "
        token = f"the {app_name} app's refresh token for {owner}"
        consequence = (f"Quality Clouds can no longer renew its session in {name}, so its scans of "
                       "this org stop.")
        remedy = (f"{owner} reconnects this org in Quality Clouds (signing in to Salesforce again gives it a new "
                  f"token). *Re-authorize* (workspace admins) checks and repairs the {app_name} app, "
                  "including its refresh token policy.")
    policy = escape_mrkdwn(notice.policy)
    if expired:
        before, after = f"⛔ {before}", " has expired"
        when_line = f"*Expired:* {when_local(notice.expires_at)} (policy: {policy})"
        effect_line = f"*What this means:* {consequence}"
    else:
        before, after = f"⏳ {before}", f" expires in {time_left(notice.expires_at - notice.as_of)}"
        when_line = f"*Expires:* {when_local(notice.expires_at)} (policy: {policy})"
        effect_line = f"*What happens then:* {consequence}"
    body = f"*Org:* {org}\n*Token:* {token}\n{when_line}\n{effect_line}\n*What to do:* {remedy}"
    return SlackMessage(
        text=f"{before}{name}{after}. {plain(body)}",
        blocks=[named_header(before=before, name=notice.org_name, after=after),
                section(body, accessory=reauthorize_button(notice.org_id))],
    )


def connection_broken(*, org_name: str, org_id: str, detail: str) -> SlackMessage:
    before = "⚠️ qc-bot lost its access to "
    name = inert(org_name)
    body = (
        f"*Org:* *{name}* (`{escape_mrkdwn(org_id)}`)\n"
        f"*What happened:* Salesforce refused qc-bot's refresh token ({inert(detail, 1000)}). It was revoked, expired "
        "under the policy of qc-bot's OAuth client, or the user who authorized it lost access.\n"
        "*What this means:* qc-bot cannot check the QualityClouds app or read the tokens Quality Clouds uses; "
        "expiry warnings for this org now rely on what it read last. Quality Clouds' own access is not affected.\n"
        "*What to do:* a workspace admin clicks *Re-authorize* (or runs "
        f"`{COMMAND} connect-org`) and approves qc-bot in Salesforce again."
    )
    return SlackMessage(
        text=f"{before}{name}. {plain(body)}",
        blocks=[named_header(before=before, name=org_name, after=""),
                section(body, accessory=reauthorize_button(org_id))],
    )


def app_tokens_unreadable(
    *, org_name: str, org_id: str, app_name: str, username: str, problem: TokenReadProblem, detail: str
) -> SlackMessage:
    """The org refused to show the app's refresh tokens: warnings go on from what qc-bot read last."""
    explanation = TOKEN_READ_EXPLANATIONS[problem]
    values = {"username": inert(username), "app_name": escape_mrkdwn(app_name)}
    what = explanation.what.format(**values)
    remedy = explanation.remedy.format(**values)
    before = f"⚠️ qc-bot cannot see the {app_name} app's tokens in "
    name = inert(org_name)
    body = (
        f"*Org:* *{name}* (`{escape_mrkdwn(org_id)}`)\n"
        f"*What happened:* {what}\n{explanation.detail_label}: {inert(detail, 1000)}\n"
        f"*What this means:* expiry warnings for Quality Clouds' tokens in this org rely on what qc-bot read last; "
        "a token issued since is not watched. The connection itself is fine.\n"
        f"*What to do:* {remedy}"
    )
    return SlackMessage(text=f"{escape_mrkdwn(before)}{name}. {plain(body)}",
                        blocks=[named_header(before=before, name=org_name, after=""), section(body)])


def sign_in_failing(
    *, org_name: str, org_id: str, run_as: str, problem: ProofProblem, detail: str | None
) -> SlackMessage:
    """The app's credentials, which signed in before, no longer do: Quality Clouds' scans fail until fixed."""
    explanation = PROOF_EXPLANATIONS[problem]
    before = "❌ Quality Clouds' credentials no longer sign in to "
    name = inert(org_name)
    said_line = f"\n{explanation.detail_label}: {inert(detail, 1000)}" if detail else ""
    body = (
        f"*Org:* *{name}* (`{escape_mrkdwn(org_id)}`), runs as {inert(run_as)}\n"
        f"*What happened:* {explanation.what}{said_line}\n"
        "*What this means:* Quality Clouds cannot sign in to this org, so its scans fail.\n"
        f"*What to do:* {explanation.remedy} This channel hears once more when the sign-in works again."
    )
    return SlackMessage(text=f"{escape_mrkdwn(before)}{name}. {plain(body)}",
                        blocks=[named_header(before=before, name=org_name, after=""), section(body)])


def sign_in_resolved(*, org_name: str, org_id: str, run_as: str) -> SlackMessage:
    text = (f"✅ Resolved: Quality Clouds' credentials sign in to *{inert(org_name)}* (`{escape_mrkdwn(org_id)}`) "
            f"again (runs as {inert(run_as)}).")
    return SlackMessage(text=plain(text), blocks=[section(text)])
