"""The words of `/qc status` and the App Home (SPEC §3): each org of the workspace, its app, how its setup
went and its nearest token expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.failures import Failure
from bot.messages.actions import COMMAND
from bot.messages.blocks import (
    SlackMessage,
    context,
    count,
    escape_mrkdwn,
    header,
    inert,
    plain,
    reauthorize_button,
    section,
    time_left,
    when_local,
)
from bot.messages.explanations import EXPLANATIONS

MESSAGE_MAX_ORGS = 20
HOME_MAX_ORGS = 45


@dataclass(frozen=True, kw_only=True)
class NearestExpiry:
    token_kind: str
    app_name: str
    owner: str | None
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class OrgOverview:
    org_name: str
    org_id: str
    is_sandbox: bool
    broken: bool
    app_kind_label: str | None
    app_name: str
    setup: str
    """`provisioned`, `failed`, `in_progress` or `unknown` (the org's latest connect-org journey)."""
    failure_code: Failure | None
    checklist_failures: int
    checklist_warnings: int
    tokens_tracked: int
    nearest: NearestExpiry | None


def _setup_line(org: OrgOverview) -> str:
    app_name = escape_mrkdwn(org.app_name)
    app = f"{escape_mrkdwn(org.app_kind_label)} `{app_name}`" if org.app_kind_label else f"`{app_name}`"
    if org.setup == "provisioned":
        if org.checklist_failures:
            return f"❌ {app}: {count(org.checklist_failures, 'setting')} still wrong"
        suffix = f" ({count(org.checklist_warnings, 'warning')})" if org.checklist_warnings else ""
        return f"✅ {app} set up{suffix}"
    if org.setup == "failed":
        return f"❌ setting up the app failed: {EXPLANATIONS[org.failure_code or Failure.INTERNAL_ERROR].what}"
    if org.setup == "in_progress":
        return f"⏳ {app} is being set up"
    return "❔ no app set up by qc-bot yet"


def _expiry_line(org: OrgOverview, now: datetime) -> str:
    nearest = org.nearest
    if nearest is None:
        if org.tokens_tracked:
            return "no token expires (valid until revoked)"
        return "not checked yet"
    owner = inert(nearest.owner) if nearest.owner else "an unknown user"
    token = ("qc-bot's own token" if nearest.token_kind == "bot"
             else f"{escape_mrkdwn(nearest.app_name)} token of {owner}")
    if nearest.expires_at <= now:
        return f"⛔ {token} expired {when_local(nearest.expires_at)}"
    return f"{token}, {when_local(nearest.expires_at)} (in {time_left(nearest.expires_at - now)})"


def _name(org: OrgOverview) -> str:
    return inert(org.org_name)


def _org_blocks(org: OrgOverview, now: datetime) -> list[dict[str, Any]]:
    environment = "Sandbox" if org.is_sandbox else "Production"
    connection = "⚠️ qc-bot's access is broken" if org.broken else "connected"
    text = (f"*{_name(org)}* `{escape_mrkdwn(org.org_id)}` · {environment} · {connection}\n"
            f"*App:* {_setup_line(org)}\n*Nearest expiry:* {_expiry_line(org, now)}")
    return [section(text, accessory=reauthorize_button(org.org_id))]


def _org_plain(org: OrgOverview, now: datetime) -> str:
    environment = "Sandbox" if org.is_sandbox else "Production"
    connection = "qc-bot's access is broken" if org.broken else "connected"
    return plain(f"{_name(org)} ({escape_mrkdwn(org.org_id)}), {environment}, {connection}. App: {_setup_line(org)}. "
                 f"Nearest expiry: {_expiry_line(org, now)}.")


def _dashboard_blocks(orgs: list[OrgOverview], *, now: datetime, limit: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [header("Salesforce orgs connected to Quality Clouds")]
    if not orgs:
        blocks.append(section(
            "No Salesforce org is connected in this workspace yet.\n*To connect one:* in the channel that should "
            f"hear about it, a workspace admin types `{COMMAND} connect-org` (or `{COMMAND} connect-org sandbox`) "
            f"and authorizes in Salesforce through the private link qc-bot answers with. `{COMMAND} help` lists "
            "the rest."))
        return blocks
    for org in orgs[:limit]:
        blocks.extend(_org_blocks(org, now))
    hidden = len(orgs) - limit
    more = f"…and {count(hidden, 'more org')} not shown. " if hidden > 0 else ""
    blocks.append(context(f"{more}As of {when_local(now)}. *Re-authorize* (workspace admins) sends you a fresh "
                          "connect-org link for that org."))
    return blocks


def status(orgs: list[OrgOverview], *, now: datetime) -> SlackMessage:
    """The answer to `/qc status`: the workspace's orgs, app kind, setup state and nearest expiry."""
    if orgs:
        text = "Salesforce orgs connected to Quality Clouds: " + " ".join(_org_plain(org, now) for org in orgs)
    else:
        text = f"No Salesforce org is connected in this workspace yet. Run `{COMMAND} connect-org`."
    return SlackMessage(text=text, blocks=_dashboard_blocks(orgs, now=now, limit=MESSAGE_MAX_ORGS))


def home_view(orgs: list[OrgOverview], *, now: datetime) -> dict[str, Any]:
    """The App Home tab: the same dashboard, for whoever opens it."""
    return {"type": "home", "blocks": _dashboard_blocks(orgs, now=now, limit=HOME_MAX_ORGS)}
