"""Every word qc-bot says in Slack, and the Block Kit it says it with.

Each builder returns a `SlackMessage` whose `text` is a complete plain-text fallback (mobile
notifications and screen readers read only that). Nothing here ever receives a full secret except
`reveal_modal`, the one private delivery of SPEC §1 step 6.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.provisioning.checklist import ChecklistItem, Mark
from bot.redaction import Secret, mask

COMMAND = "/qc"
MARK_EMOJI = {Mark.OK: "✅", Mark.WARN: "⚠️", Mark.FAIL: "❌"}

ACTION_OPEN_LINK = "authorize_in_salesforce"
ACTION_REVEAL = "reveal_credentials"


@dataclass(frozen=True)
class SlackMessage:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


@dataclass(frozen=True)
class Explanation:
    """What went wrong, in the admin's terms, and what to do about it."""

    what: str
    remedy: str
    detail_label: str = "Salesforce said"


def _section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


# -- commands -------------------------------------------------------------------------------------------------

def usage(problem: str | None = None) -> SlackMessage:
    lines = [
        f"`{COMMAND} connect-org` — connect a production org (you authorize in Salesforce, I set up the "
        "QualityClouds app)",
        f"`{COMMAND} connect-org sandbox` — connect a sandbox",
        f"`{COMMAND} connect-org https://yourdomain.my.salesforce.com` — log in through your My Domain",
        f"`{COMMAND} connect-org run-as=integration.user@example.com` — the user the client credentials "
        "flow runs as (default: you)",
        f"`{COMMAND} status` — the orgs connected in this workspace, their app and the nearest token expiry",
        f"`{COMMAND} disconnect-org <org id or name> [delete-app]` — revoke qc-bot's tokens and forget the org "
        "(`delete-app` also removes the QualityClouds app from it)",
        f"`{COMMAND} help` — this message",
    ]
    intro = f"{problem}\n\n" if problem else ""
    text = intro + "Usage:\n" + "\n".join(lines)
    return SlackMessage(text=text, blocks=[_section(text)])


def not_allowed() -> SlackMessage:
    text = ("Sorry, only Slack workspace admins and owners (or people your qc-bot operator listed in "
            "QC_ADMIN_USERS) can connect or disconnect Salesforce orgs. Ask one of them to run the command.")
    return SlackMessage(text=text, blocks=[_section(text)])


def connect_link(*, link_url: str, login_host: str, run_as: str | None, expires_at: datetime) -> SlackMessage:
    run_as_text = f" The client credentials flow will run as *{run_as}*." if run_as else ""
    text = (
        f"Authorize qc-bot in Salesforce ({login_host}) to set up the QualityClouds app: {link_url}\n"
        f"The link is yours alone, works once and expires at {expires_at:%H:%M} UTC (10 minutes).{run_as_text}"
    )
    return SlackMessage(
        text=text,
        blocks=[
            _section(
                f"Authorize qc-bot in Salesforce (*{login_host}*) and I will set up the QualityClouds app "
                f"in that org.{run_as_text}",
                accessory={
                    "type": "button",
                    "action_id": ACTION_OPEN_LINK,
                    "text": {"type": "plain_text", "text": "Authorize in Salesforce"},
                    "url": link_url,
                    "style": "primary",
                },
            ),
            _context(f"Only you can see this. The link works once and expires at {expires_at:%H:%M} UTC "
                     "(10 minutes); run the command again for a new one."),
        ],
    )


# -- failures ---------------------------------------------------------------------------------------------------

EXPLANATIONS: dict[str, Explanation] = {
    "access_denied": Explanation(
        "Access was declined on the Salesforce authorization page.",
        f"Nothing was changed. Run `{COMMAND} connect-org` again and choose *Allow* to continue.",
    ),
    "app_not_installed": Explanation(
        "Salesforce refused qc-bot's own OAuth client: it is not installed in this org, and the org blocks "
        "uninstalled connected apps.",
        "Ask a Salesforce admin who holds *Approve Uninstalled Connected Apps* to run the command, or install the "
        "app first (Setup → Connected Apps OAuth Usage → qc-bot → Install).",
    ),
    "token_exchange_failed": Explanation(
        "Salesforce did not issue a token for this authorization.",
        f"Run `{COMMAND} connect-org` again. If it repeats, give your qc-bot operator the Salesforce message below.",
    ),
    "token_response_rejected": Explanation(
        "The answer from Salesforce failed a security check, so qc-bot ignored it and stored nothing.",
        f"Run `{COMMAND} connect-org` again. If it repeats, tell your qc-bot operator: something between qc-bot "
        "and Salesforce is altering responses.",
    ),
    "connected_app_creation_blocked": Explanation(
        "Salesforce refused to create a new Connected App. Since Spring '26, orgs block new Connected Apps "
        "unless Salesforce Support re-enables them.",
        "Let qc-bot create an External Client App instead (QC_APP_KIND=auto or external-client-app), or ask "
        "Salesforce Support to allow Connected App creation in this org.",
    ),
    "missing_permission": Explanation(
        "Your Salesforce user is not allowed to create or change OAuth apps in this org.",
        "Ask a Salesforce admin with *Customize Application* and *Modify All Data* (or *Manage Connected Apps* / "
        f"*Manage External Client Apps* and *Modify Metadata*) to run `{COMMAND} connect-org`.",
    ),
    "run_as_not_found": Explanation(
        "The run-as user does not exist in this org.",
        f"Check the username in Setup → Users and run `{COMMAND} connect-org run-as=<username>` again, or leave "
        "run-as out to use yourself.",
        detail_label="Run-as user",
    ),
    "run_as_inactive": Explanation(
        "The run-as user is deactivated in this org.",
        "Activate the user (Setup → Users) or choose another one with run-as=<username>.",
        detail_label="Run-as user",
    ),
    "run_as_invalid": Explanation(
        "Salesforce would not accept the run-as user for the client credentials flow.",
        "Use an active user of this org, ideally a dedicated API-only integration user: "
        f"`{COMMAND} connect-org run-as=<username>`.",
    ),
    "consumer_key_taken": Explanation(
        "Salesforce reported that the generated consumer key is already taken, twice in a row.",
        f"Run `{COMMAND} connect-org` again; a new key is generated each time.",
    ),
    "credentials_not_settable": Explanation(
        "Salesforce would not accept a consumer key or secret for this app.",
        f"Run `{COMMAND} connect-org` again; if it repeats, tell your qc-bot operator.",
    ),
    "deploy_failed": Explanation(
        "Salesforce rejected the QualityClouds app's settings.",
        f"Fix what Salesforce reports below, then run `{COMMAND} connect-org` again: qc-bot repairs the app, it "
        "never creates a second one.",
    ),
    "not_found_after_deploy": Explanation(
        "Salesforce reported success, but the app could not be read back afterwards.",
        f"Run `{COMMAND} connect-org` again in a few minutes; it checks and completes the app.",
    ),
    "salesforce_unavailable": Explanation(
        "Salesforce did not answer, or kept failing, within the time allowed.",
        f"Run `{COMMAND} connect-org` again later (see status.salesforce.com); it continues where this stopped.",
    ),
    "session_expired": Explanation(
        "The Salesforce session ended and could not be renewed.",
        f"Run `{COMMAND} connect-org` again to authorize afresh.",
    ),
    "salesforce_error": Explanation(
        "Salesforce refused a request while setting up the app.",
        f"See Salesforce's message below; fix its cause and run `{COMMAND} connect-org` again.",
    ),
    "internal_error": Explanation(
        "qc-bot hit an unexpected error.",
        "Your qc-bot operator will find the details in the bot's log under the connection id below.",
        detail_label="Details",
    ),
}


def explain(code: str) -> Explanation:
    return EXPLANATIONS.get(code, EXPLANATIONS["internal_error"])


def connection_failed(
    *, code: str, detail: str | None, org_label: str | None, requester: str, connection_id: str
) -> SlackMessage:
    explanation = explain(code)
    where = f" to *{org_label}*" if org_label else ""
    heading = f"❌ Connecting Salesforce{where} failed"
    detail_line = f"\n{explanation.detail_label}: {detail}" if detail else ""
    body = f"*What happened:* {explanation.what}{detail_line}\n*What to do:* {explanation.remedy}"
    footer = f"Requested by <@{requester}> · connection {connection_id}"
    return SlackMessage(
        text=f"{heading.replace('*', '')}. {explanation.what}{detail_line} What to do: {explanation.remedy} "
             f"(requested by <@{requester}>)",
        blocks=[_section(heading), _section(body[:3000]), _context(footer)],
    )


# -- success ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class ConnectedOrg:
    org_name: str
    org_id: str
    is_sandbox: bool
    instance_url: str
    app_kind_label: str
    app_name: str
    created: bool
    consumer_key: Secret | None
    consumer_secret: Secret | None
    secret_unavailable: str | None
    checklist: list[ChecklistItem]
    requester: str


def org_connected(org: ConnectedOrg) -> SlackMessage:
    failures = sum(item.mark is Mark.FAIL for item in org.checklist)
    warnings = sum(item.mark is Mark.WARN for item in org.checklist)
    environment = "Sandbox" if org.is_sandbox else "Production"
    action = "created" if org.created else "checked and repaired"
    key_text = mask(org.consumer_key.reveal()) if org.consumer_key else "not available"
    secret_text = mask(org.consumer_secret.reveal()) if org.consumer_secret else "not available"
    checklist_lines = [f"{MARK_EMOJI[item.mark]} *{item.setting}:* {item.detail}" for item in org.checklist]
    secret_note = ""
    if org.secret_unavailable:
        secret_note = "\n" + secret_unavailable_note(org.secret_unavailable, app_name=org.app_name)
    next_step = (
        "*Next step:* define this org in Quality Clouds (add a Salesforce instance) with the consumer key and "
        f"secret; <@{org.requester}> can reveal them privately."
    )
    if failures:
        heading = f"❌ Salesforce org {org.org_name} is connected, but {_count(failures, 'setting')} still wrong"
    else:
        suffix = f" ({_count(warnings, 'warning')})" if warnings else ""
        heading = f"✅ Salesforce org {org.org_name} is connected to Quality Clouds{suffix}"
    fields = [
        {"type": "mrkdwn", "text": f"*Org*\n{org.org_name}\n`{org.org_id}`"},
        {"type": "mrkdwn", "text": f"*Environment*\n{environment}"},
        {"type": "mrkdwn", "text": f"*Instance*\n{org.instance_url}"},
        {"type": "mrkdwn", "text": f"*App*\n{org.app_kind_label} `{org.app_name}` ({action})"},
        {"type": "mrkdwn", "text": f"*Consumer key*\n`{key_text}`"},
        {"type": "mrkdwn", "text": f"*Consumer secret*\n`{secret_text}`"},
        {"type": "mrkdwn", "text": f"*Requested by*\n<@{org.requester}>"},
    ]
    text = (
        f"{heading}. Org {org.org_name} ({org.org_id}), {environment}, {org.instance_url}. "
        f"{org.app_kind_label} {org.app_name} {action}. Consumer key {key_text}, consumer secret {secret_text}. "
        + " ".join(line.replace("*", "") for line in checklist_lines)
        + secret_note.replace("\n", " ")
        + f" Next step: define this org in Quality Clouds; <@{org.requester}> can reveal the credentials."
    )
    return SlackMessage(
        text=text,
        blocks=[
            _header(heading),
            {"type": "section", "fields": fields},
            _section("*Settings checklist*\n" + "\n".join(checklist_lines) + secret_note),
            _section(next_step),
        ],
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def secret_unavailable_note(reason: str, *, app_name: str) -> str:
    if reason == "connected_app_secret_unreadable":
        return (f"⚠️ Salesforce never returns a Connected App's secret and this app was not created by qc-bot: "
                f"copy it from Setup → App Manager → {app_name} → View → Manage Consumer Details.")
    return (f"⚠️ The org would not let qc-bot read the consumer secret: copy it from Setup → External Client App "
            f"Manager → {app_name} → Settings → OAuth Settings → Consumer Key and Secret, or allow access via "
            "Setup → External Client App Settings.")


def reveal_offer(*, reveal_id: str, org_name: str, expires_minutes: int) -> SlackMessage:
    text = (f"The QualityClouds app in {org_name} is ready. Reveal its consumer key and secret (only you can, "
            f"once, within {expires_minutes} minutes).")
    return SlackMessage(
        text=text,
        blocks=[
            _section(
                f"The QualityClouds app in *{org_name}* is ready. Only you can reveal its consumer key and secret, "
                f"once, within {expires_minutes} minutes.",
                accessory={
                    "type": "button",
                    "action_id": ACTION_REVEAL,
                    "text": {"type": "plain_text", "text": "Reveal credentials"},
                    "value": reveal_id,
                    "style": "primary",
                },
            )
        ],
    )


def reveal_modal(*, org_name: str, consumer_key: Secret | None, consumer_secret: Secret | None,
                 secret_note: str | None) -> dict[str, Any]:
    """The one place a full key and secret are shown: a modal only the requester sees, gone when closed."""
    key = consumer_key.reveal() if consumer_key else "not available"
    secret = consumer_secret.reveal() if consumer_secret else "not available"
    blocks: list[dict[str, Any]] = [
        _section(f"QualityClouds credentials for *{org_name}*. Copy them into Quality Clouds now; this is the "
                 "only time qc-bot shows them."),
        _section(f"*Consumer key*\n```{key}```"),
        _section(f"*Consumer secret*\n```{secret}```"),
    ]
    if secret_note:
        blocks.append(_context(secret_note))
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "QualityClouds keys"},
        "close": {"type": "plain_text", "text": "Done"},
        "blocks": blocks,
    }


REVEAL_REFUSALS = {
    "unknown": "This reveal button is not known to qc-bot.",
    "wrong_user": "Only the admin who connected the org can reveal its credentials.",
    "used": "These credentials were already revealed once; for safety they are not shown again. "
            "Run `/qc connect-org` again if you need them (the app is repaired, not duplicated).",
    "expired": "This reveal button has expired (15 minutes). Run `/qc connect-org` again to get a new one.",
    "unavailable": "The credentials are no longer stored (the org was disconnected).",
}


def reveal_refused(problem: str) -> SlackMessage:
    text = REVEAL_REFUSALS.get(problem, REVEAL_REFUSALS["unknown"])
    return SlackMessage(text=text, blocks=[_section(text)])


def reveal_retry() -> SlackMessage:
    text = "Slack could not open the window with your credentials. Click *Reveal credentials* again."
    return SlackMessage(text=text.replace("*", ""), blocks=[_section(text)])


def revealed(*, org_name: str) -> SlackMessage:
    text = (f"You revealed the QualityClouds credentials for {org_name}. For safety they cannot be shown again; "
            "run `/qc connect-org` again if you lose them.")
    return SlackMessage(text=text, blocks=[_section(text)])


def authorization_expired() -> SlackMessage:
    text = (f"Your Salesforce authorization did not finish within 10 minutes of opening the link, so nothing was "
            f"changed. Run `{COMMAND} connect-org` again for a new link.")
    return SlackMessage(text=text, blocks=[_section(text)])


# -- token lifecycle (SPEC §4) ------------------------------------------------------------------------------

ACTION_REAUTHORIZE = "reauthorize_org"
ACTION_DISCONNECT_CONFIRM = "disconnect_org_confirm"
ACTION_DISCONNECT_CANCEL = "disconnect_org_cancel"
MESSAGE_MAX_ORGS = 20
HOME_MAX_ORGS = 45


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _time_left(remaining: timedelta) -> str:
    """`30 days`, `5 hours` or `less than an hour`: whole days, rounded, once the nearest is at least one."""
    days = round(remaining / timedelta(days=1))
    if days >= 1:
        return _count(days, "day")
    if remaining >= timedelta(hours=1):
        return _count(int(remaining / timedelta(hours=1)), "hour")
    return "less than an hour"


def _reauthorize_button(org_id: str) -> dict[str, Any]:
    return {"type": "button", "action_id": ACTION_REAUTHORIZE, "value": org_id,
            "text": {"type": "plain_text", "text": "Re-authorize"}}


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
    owner = notice.owner or "an unknown user"
    org = f"*{notice.org_name}* (`{notice.org_id}`)"
    expired = notice.days_left == 0
    if notice.token_kind == "bot":
        whose = f"qc-bot's access to {notice.org_name}"
        token = f"qc-bot's own refresh token, authorized by {owner}"
        consequence = (f"qc-bot can no longer read {notice.org_name}: it stops checking the app Quality Clouds "
                       "connects through and that app's tokens, so it cannot warn about them either.")
        remedy = ("A workspace admin clicks *Re-authorize* and approves qc-bot in Salesforce again; that issues a "
                  "new token and changes nothing else.")
    else:
        whose = f"Quality Clouds' access to {notice.org_name}"
        token = f"the {notice.app_name} app's refresh token for {owner}"
        consequence = (f"Quality Clouds can no longer renew its session in {notice.org_name}, so its scans of "
                       "this org stop.")
        remedy = (f"{owner} reconnects this org in Quality Clouds (signing in to Salesforce again gives it a new "
                  f"token). *Re-authorize* (workspace admins) checks and repairs the {notice.app_name} app, "
                  "including its refresh token policy.")
    if expired:
        heading = f"⛔ {whose} has expired"
        when_line = f"*Expired:* {_when(notice.expires_at)} (policy: {notice.policy})"
        effect_line = f"*What this means:* {consequence}"
    else:
        heading = f"⏳ {whose} expires in {_time_left(notice.expires_at - notice.as_of)}"
        when_line = f"*Expires:* {_when(notice.expires_at)} (policy: {notice.policy})"
        effect_line = f"*What happens then:* {consequence}"
    body = f"*Org:* {org}\n*Token:* {token}\n{when_line}\n{effect_line}\n*What to do:* {remedy}"
    return SlackMessage(
        text=f"{heading}. " + body.replace("*", "").replace("`", "").replace("\n", " "),
        blocks=[_header(heading), _section(body[:3000], accessory=_reauthorize_button(notice.org_id))],
    )


def connection_broken(*, org_name: str, org_id: str, detail: str) -> SlackMessage:
    heading = f"⚠️ qc-bot lost its access to {org_name}"
    body = (
        f"*Org:* *{org_name}* (`{org_id}`)\n"
        f"*What happened:* Salesforce refused qc-bot's refresh token ({detail}). It was revoked, expired under "
        "the policy of qc-bot's OAuth client, or the user who authorized it lost access.\n"
        "*What this means:* qc-bot cannot check the QualityClouds app or read the tokens Quality Clouds uses; "
        "expiry warnings for this org now rely on what it read last. Quality Clouds' own access is not affected.\n"
        "*What to do:* a workspace admin clicks *Re-authorize* (or runs "
        f"`{COMMAND} connect-org`) and approves qc-bot in Salesforce again."
    )
    return SlackMessage(
        text=f"{heading}. " + body.replace("*", "").replace("`", "").replace("\n", " "),
        blocks=[_header(heading), _section(body, accessory=_reauthorize_button(org_id))],
    )


def answer_modal(*, title: str, message: SlackMessage) -> dict[str, Any]:
    """A private answer to a click in the App Home, where there is no channel to answer in."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": message.blocks,
    }


def org_gone() -> SlackMessage:
    text = f"That org is not connected in this workspace any more. See `{COMMAND} status` for the connected ones."
    return SlackMessage(text=text, blocks=[_section(text)])


# -- /qc status and the App Home ------------------------------------------------------------------------------

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
    failure_code: str | None
    checklist_failures: int
    checklist_warnings: int
    tokens_tracked: int
    nearest: NearestExpiry | None


def _setup_line(org: OrgOverview) -> str:
    app = f"{org.app_kind_label} `{org.app_name}`" if org.app_kind_label else f"`{org.app_name}`"
    if org.setup == "provisioned":
        if org.checklist_failures:
            return f"❌ {app}: {_count(org.checklist_failures, 'setting')} still wrong"
        suffix = f" ({_count(org.checklist_warnings, 'warning')})" if org.checklist_warnings else ""
        return f"✅ {app} set up{suffix}"
    if org.setup == "failed":
        return f"❌ setting up the app failed: {explain(org.failure_code or 'internal_error').what}"
    if org.setup == "in_progress":
        return f"⏳ {app} is being set up"
    return "❔ no app set up by qc-bot yet"


def _expiry_line(org: OrgOverview, now: datetime) -> str:
    nearest = org.nearest
    if nearest is None:
        if org.tokens_tracked:
            return "no token expires (valid until revoked)"
        return "not checked yet"
    token = ("qc-bot's own token" if nearest.token_kind == "bot"
             else f"{nearest.app_name} token of {nearest.owner or 'an unknown user'}")
    if nearest.expires_at <= now:
        return f"⛔ {token} expired {_when(nearest.expires_at)}"
    return f"{token}, {_when(nearest.expires_at)} (in {_time_left(nearest.expires_at - now)})"


def _org_blocks(org: OrgOverview, now: datetime) -> list[dict[str, Any]]:
    environment = "Sandbox" if org.is_sandbox else "Production"
    connection = "⚠️ qc-bot's access is broken" if org.broken else "connected"
    text = (f"*{org.org_name}* `{org.org_id}` · {environment} · {connection}\n"
            f"*App:* {_setup_line(org)}\n*Nearest expiry:* {_expiry_line(org, now)}")
    return [_section(text, accessory=_reauthorize_button(org.org_id))]


def _org_plain(org: OrgOverview, now: datetime) -> str:
    environment = "Sandbox" if org.is_sandbox else "Production"
    connection = "qc-bot's access is broken" if org.broken else "connected"
    return (f"{org.org_name} ({org.org_id}), {environment}, {connection}. App: {_setup_line(org)}. "
            f"Nearest expiry: {_expiry_line(org, now)}.").replace("`", "")


def _dashboard_blocks(orgs: list[OrgOverview], *, now: datetime, limit: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [_header("Salesforce orgs connected to Quality Clouds")]
    if not orgs:
        blocks.append(_section(f"No Salesforce org is connected in this workspace yet. A workspace admin runs "
                               f"`{COMMAND} connect-org` in the channel that should hear about it."))
        return blocks
    for org in orgs[:limit]:
        blocks.extend(_org_blocks(org, now))
    hidden = len(orgs) - limit
    more = f"…and {_count(hidden, 'more org')} not shown. " if hidden > 0 else ""
    blocks.append(_context(f"{more}As of {_when(now)}. *Re-authorize* (workspace admins) sends you a fresh "
                           "connect-org link for that org."))
    return blocks


def status(orgs: list[OrgOverview], *, now: datetime) -> SlackMessage:
    """The answer to `/qc status`: the workspace's orgs, app kind, setup state and nearest expiry."""
    if orgs:
        text = "Salesforce orgs connected to Quality Clouds: " + " ".join(_org_plain(org, now) for org in orgs)
    else:
        text = f"No Salesforce org is connected in this workspace yet. Run `{COMMAND} connect-org`."
    return SlackMessage(text=text[:3900], blocks=_dashboard_blocks(orgs, now=now, limit=MESSAGE_MAX_ORGS))


def home_view(orgs: list[OrgOverview], *, now: datetime) -> dict[str, Any]:
    """The App Home tab: the same dashboard, for whoever opens it."""
    return {"type": "home", "blocks": _dashboard_blocks(orgs, now=now, limit=HOME_MAX_ORGS)}


# -- /qc disconnect-org ---------------------------------------------------------------------------------------

DISCONNECT_EXPLANATIONS: dict[str, Explanation] = {
    "no_access": Explanation(
        "qc-bot's own access to the org no longer works, so it cannot delete the QualityClouds app.",
        f"Nothing was disconnected. Run `{COMMAND} connect-org` to authorize again and then disconnect with "
        "`delete-app`, or disconnect without `delete-app` and delete the app in Setup.",
    ),
    "delete_app_failed": Explanation(
        "Salesforce refused to delete the QualityClouds app.",
        "Nothing was disconnected. Fix what Salesforce reports below (or delete the app in Setup), then run the "
        "command again.",
    ),
    "salesforce_unavailable": Explanation(
        "Salesforce did not answer, or kept failing, while qc-bot deleted the app.",
        "Nothing was disconnected. Run the command again later (see status.salesforce.com).",
    ),
}


def org_not_found(*, target: str, known: list[str]) -> SlackMessage:
    names = ", ".join(f"*{name}*" for name in known) if known else "none"
    text = (f"No connected org in this workspace is called or has the id `{target}`. Connected orgs: {names}. "
            f"See `{COMMAND} status` for their ids.")
    return SlackMessage(text=text.replace("*", ""), blocks=[_section(text)])


def org_ambiguous(*, target: str, matches: list[tuple[str, str]]) -> SlackMessage:
    listed = ", ".join(f"*{name}* (`{org_id}`)" for name, org_id in matches)
    text = f"More than one org is called `{target}`: {listed}. Give the org id instead."
    return SlackMessage(text=text.replace("*", ""), blocks=[_section(text)])


def disconnect_confirmation(*, org_name: str, org_id: str, delete_app: bool, app_name: str) -> SlackMessage:
    what = (f"Disconnect *{org_name}* (`{org_id}`)? qc-bot revokes its own Salesforce tokens, deletes everything "
            "it stores for this org (tokens and the app's credentials) and stops its expiry warnings.")
    if delete_app:
        app = (f" It also *deletes the {app_name} app* from the org: Quality Clouds stops scanning it and the "
               "tokens issued to the app stop working.")
    else:
        app = (f" The {app_name} app stays in Salesforce, so Quality Clouds keeps scanning (add `delete-app` to "
               "remove it too).")
    value = json.dumps({"org_id": org_id, "delete_app": delete_app}, separators=(",", ":"))
    return SlackMessage(
        text=(what + app).replace("*", "").replace("`", ""),
        blocks=[
            _section(what + app),
            {"type": "actions", "elements": [
                {"type": "button", "action_id": ACTION_DISCONNECT_CONFIRM, "style": "danger", "value": value,
                 "text": {"type": "plain_text", "text": "Disconnect and delete the app" if delete_app
                          else "Disconnect"}},
                {"type": "button", "action_id": ACTION_DISCONNECT_CANCEL, "value": org_id,
                 "text": {"type": "plain_text", "text": "Cancel"}},
            ]},
        ],
    )


def disconnect_cancelled(*, org_id: str) -> SlackMessage:
    text = f"Nothing was changed; the org `{org_id}` stays connected."
    return SlackMessage(text=text, blocks=[_section(text)])


def disconnected(*, org_name: str, org_id: str, app_deleted: bool, revoked: bool, app_name: str) -> SlackMessage:
    lines = [f"*{org_name}* (`{org_id}`) is disconnected: qc-bot deleted its stored tokens and credentials and "
             "will send no more expiry warnings for it."]
    if revoked:
        lines.append("Its Salesforce tokens were revoked.")
    else:
        lines.append("⚠️ Salesforce could not be reached to revoke qc-bot's token; nobody holds it any more, but "
                     "you can revoke it in Setup → Connected Apps OAuth Usage → qc-bot.")
    lines.append(f"The {app_name} app was deleted from the org." if app_deleted
                 else f"The {app_name} app stays in Salesforce.")
    text = " ".join(lines)
    return SlackMessage(text=text.replace("*", "").replace("`", ""), blocks=[_section(text)])


def disconnect_failed(*, code: str, detail: str | None) -> SlackMessage:
    explanation = DISCONNECT_EXPLANATIONS.get(code, EXPLANATIONS["internal_error"])
    detail_line = f"\n{explanation.detail_label}: {detail}" if detail else ""
    text = f"*What happened:* {explanation.what}{detail_line}\n*What to do:* {explanation.remedy}"
    return SlackMessage(text=text.replace("*", "").replace("\n", " "), blocks=[_section(text[:3000])])


def org_disconnected_notice(*, org_name: str, org_id: str, user_id: str, app_deleted: bool,
                            app_name: str) -> SlackMessage:
    app = f"and deleted the {app_name} app from it" if app_deleted else f"(the {app_name} app stays in Salesforce)"
    text = (f"<@{user_id}> disconnected Salesforce org *{org_name}* (`{org_id}`) from qc-bot {app}. There will be "
            "no more expiry warnings for it here.")
    return SlackMessage(text=text.replace("*", "").replace("`", ""), blocks=[_section(text)])
CHANNEL_ERRORS = {
    "not_in_channel": "I'm not a member of that channel",
    "channel_not_found": "that channel is private and I'm not in it, or it no longer exists",
    "is_archived": "that channel is archived",
    "user_not_in_channel": "you are not in that channel any more",
}


def channel_fallback(*, original: dict[str, Any], channel_id: str, error: str) -> SlackMessage:
    """A channel message Slack refused for good, sent to the requester directly instead."""
    reason = CHANNEL_ERRORS.get(error, f"Slack refused it ({error})")
    note = (f"I couldn't post this in <#{channel_id}>: {reason}. Invite me there with `/invite @qc-bot` so the "
            "team sees future updates.")
    return SlackMessage(text=f"{note}\n{original.get('text', '')}",
                        blocks=[_context(note), *(original.get("blocks") or [])][:50])
