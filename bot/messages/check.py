"""The words of `/qc check [org]` (SPEC §4a): a private report of each org's settings, sign-in, and tracked tokens
with their next expiry, as one check found them just now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.failures import ProofProblem
from bot.messages.actions import COMMAND
from bot.messages.blocks import (
    SECTION_TEXT_MAX,
    SlackMessage,
    context,
    count,
    escape_mrkdwn,
    fit,
    header,
    inert,
    plain,
    section,
    time_left,
    when,
)
from bot.messages.explanations import PROOF_EXPLANATIONS

MAX_ORGS = 20
MAX_TOKENS = 10
_MARKS = {"ok": "✅", "warning": "⚠️", "error": "❌"}


@dataclass(frozen=True, kw_only=True)
class TokenLine:
    token_kind: str
    """`bot` (qc-bot's own refresh token) or `app` (a token of the QualityClouds app)."""
    app_name: str
    owner: str | None
    expires_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class CheckedOrg:
    org_name: str
    org_id: str
    ran: bool
    """False: not checked now (another check of it was running, or it is still being set up)."""
    connection: Literal["works", "broken", "unknown"]
    settings: tuple[tuple[Literal["ok", "warning", "error"], str], ...] | None
    """(mark, mrkdwn) per setting; None: the settings were not checked."""
    sign_in: Literal["ok", "failing", "unknown", "not_tried", "proving"]
    sign_in_problem: ProofProblem | None
    sign_in_detail: str | None
    run_as: str | None
    tokens: tuple[TokenLine, ...]


def setting_state_line(*, setting: str, desired: str, actual: str, ok: bool) -> str:
    """One setting of the app as the report shows it: its value, and what SPEC §2 wants where it differs."""
    if ok:
        return f"{inert(setting)}: {inert(actual)}"
    return f"{inert(setting)}: {inert(actual)} (expected {inert(desired)})"


def _settings_text(org: CheckedOrg) -> str:
    if org.settings is None:
        return "❔ *Settings:* not checked"
    if not org.settings:
        return "✅ *Settings:* nothing to report"
    return "*Settings:*\n" + "\n".join(f"{_MARKS[mark]} {text}" for mark, text in org.settings)


def _sign_in_text(org: CheckedOrg) -> str:
    who = f" (runs as {escape_mrkdwn(org.run_as)})" if org.run_as else ""
    if org.sign_in == "ok":
        return f"✅ *Sign-in:* Quality Clouds' credentials sign in{who}."
    if org.sign_in == "proving":
        return "⏳ *Sign-in:* the first proof after setting up the app is still running."
    if org.sign_in == "unknown" and org.sign_in_problem is None:
        return "❔ *Sign-in:* not checked yet."
    assert org.sign_in_problem is not None
    explanation = PROOF_EXPLANATIONS[org.sign_in_problem]
    mark = {"failing": "❌", "unknown": "❔", "not_tried": "⚠️"}[org.sign_in]
    said_line = f"\n{explanation.detail_label}: {escape_mrkdwn(org.sign_in_detail)}" if org.sign_in_detail else ""
    return f"{mark} *Sign-in:* {explanation.what}{said_line}\n*What to do:* {explanation.remedy}"


def _token_text(token: TokenLine, now: datetime) -> str:
    owner = escape_mrkdwn(token.owner or "an unknown user")
    what = (f"qc-bot's own token (authorized by {owner})" if token.token_kind == "bot"
            else f"{escape_mrkdwn(token.app_name)} token of {owner}")
    if token.expires_at is None:
        return f"• {what}: no expiry (valid until revoked)"
    if token.expires_at <= now:
        return f"• ⛔ {what}: expired {when(token.expires_at)}"
    return f"• {what}: expires {when(token.expires_at)} (in {time_left(token.expires_at - now)})"


def _tokens_text(org: CheckedOrg, now: datetime) -> str:
    if not org.tokens:
        return "*Tokens:* none tracked yet"
    expiring = [token.expires_at for token in org.tokens if token.expires_at is not None]
    nearest = f"; next expiry {when(min(expiring))}" if expiring else "; none expires"
    lines = [_token_text(token, now) for token in sorted(
        org.tokens, key=lambda token: (token.expires_at is None, token.expires_at or now))[:MAX_TOKENS]]
    hidden = len(org.tokens) - MAX_TOKENS
    if hidden > 0:
        lines.append(f"…and {count(hidden, 'more token')}")
    return f"*Tokens:* {count(len(org.tokens), 'tracked token')}{nearest}\n" + "\n".join(lines)


def _org_text(org: CheckedOrg, now: datetime) -> str:
    connection = {"works": "✅ qc-bot's access works", "broken": "⚠️ qc-bot's access is broken",
                  "unknown": "❔ qc-bot's access was not checked"}[org.connection]
    note = ("" if org.ran else "\n_Not checked just now: another check of this org was running (or it is still "
            "being set up). These are the latest results._")
    text = (f"*{escape_mrkdwn(org.org_name)}* `{org.org_id}` · {connection}{note}\n{_settings_text(org)}\n"
            f"{_sign_in_text(org)}\n{_tokens_text(org, now)}")
    return fit(text, SECTION_TEXT_MAX)


def check_report(orgs: list[CheckedOrg], *, now: datetime) -> SlackMessage:
    """The private answer to `/qc check`: one section per org, as checked at `now`."""
    if not orgs:
        message = (f"No Salesforce org is connected in this workspace yet. A workspace admin runs "
                   f"`{COMMAND} connect-org` in the channel that should hear about it.")
        return SlackMessage(text=message, blocks=[section(message)])
    blocks: list[dict[str, Any]] = [header("Check of the Salesforce orgs connected to Quality Clouds")]
    texts = [_org_text(org, now) for org in orgs[:MAX_ORGS]]
    blocks.extend(section(text) for text in texts)
    hidden = len(orgs) - MAX_ORGS
    more = (f"…and {count(hidden, 'more org')} not shown: `{COMMAND} check &lt;org&gt;` checks one. "
            if hidden > 0 else "")
    blocks.append(context(f"{more}Checked {when(now)}."))
    return SlackMessage(text="Check: " + " ".join(plain(text) for text in texts), blocks=blocks)


def check_started() -> SlackMessage:
    text = "Checking now: qc-bot's access, the app's sign-in and the tokens. The report follows here shortly."
    return SlackMessage(text=text, blocks=[section(text)])
