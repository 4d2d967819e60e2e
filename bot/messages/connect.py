"""The words of `/qc connect-org` (SPEC §1): the private link, and the status message that ends each journey,
connected (with its settings checklist) or failed (with what happened and what to do)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from bot.failures import ConfirmProblem, Failure, ProofProblem, SecretUnreadable
from bot.messages.actions import ACTION_AUTHORIZATION_CANCEL, ACTION_AUTHORIZATION_CONFIRM, ACTION_OPEN_LINK
from bot.messages.blocks import (
    SlackMessage,
    button,
    call_to_action,
    clock_time_local,
    context,
    count,
    escape_mrkdwn,
    fields_section,
    fit,
    inert,
    named_header,
    plain,
    said,
    section,
    sections,
    when_local,
)
from bot.messages.explanations import CONFIRM_REFUSALS, EXPLANATIONS, PROOF_EXPLANATIONS, SECRET_NOTES
from bot.provisioning.checklist import ChecklistItem, Mark

MARK_EMOJI = {Mark.OK: "✅", Mark.WARN: "⚠️", Mark.FAIL: "❌"}


def connect_link(*, link_url: str, login_host: str, run_as: str | None, expires_at: datetime) -> SlackMessage:
    login_host = escape_mrkdwn(login_host)
    run_as_text = f" The client credentials flow will run as *{escape_mrkdwn(run_as)}*." if run_as else ""
    return call_to_action(
        # The fallback carries the link itself: the blocks hold it in the button.
        text=f"Authorize qc-bot in Salesforce ({login_host}) to set up the QualityClouds app: {link_url}\n"
             f"The link is yours alone, works once and expires at {expires_at:%H:%M} UTC (10 minutes).{run_as_text}",
        mrkdwn=f"Authorize qc-bot in Salesforce (*{login_host}*) and I will set up the QualityClouds app in that "
               f"org.{run_as_text}",
        action=button(action_id=ACTION_OPEN_LINK, text="Authorize in Salesforce", url=link_url, style="primary"),
        note=f"Only you can see this. The link works once and expires at {clock_time_local(expires_at)} (10 "
             "minutes); run the command again for a new one.",
    )


def link_used() -> SlackMessage:
    """Replaces the private "Authorize in Salesforce" answer once its link was opened: it cannot work again."""
    return said("You opened this authorization link; it works only once. Finish in your browser: the result "
                "appears in this channel.")


def org_card_setting_up(*, org_name: str, org_id: str, is_sandbox: bool, instance_url: str,
                        requester: str) -> SlackMessage:
    """The org's living card as the authorization succeeded; later stages edit it in place."""
    before, after = "⏳ Setting up QualityClouds in ", "…"
    environment = "Sandbox" if is_sandbox else "Production"
    note = (f"Requested by <@{requester}>. This message is updated as the set-up goes on; later news about this "
            "org (expiry warnings, a broken connection) is posted in its thread.")
    return SlackMessage(
        text=f"{before}{inert(org_name)}{after} Org {inert(org_name)} ({org_id}), {environment}, "
             f"{inert(instance_url)}. {note}",
        blocks=[
            named_header(before=before, name=org_name, after=after),
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*Org*\n{inert(org_name)}\n`{org_id}`"},
                {"type": "mrkdwn", "text": f"*Environment*\n{environment}"},
                {"type": "mrkdwn", "text": f"*Instance*\n{inert(instance_url)}"},
            ]},
            context(note),
        ],
    )


def connection_failed(
    *, code: Failure, detail: str | None, org_label: str | None, requester: str, connection_id: str
) -> SlackMessage:
    explanation = EXPLANATIONS[code]
    where = f" to *{inert(org_label)}*" if org_label else ""
    heading = f"❌ Connecting Salesforce{where} failed"
    # The detail is foreign text (Salesforce's words, an authorization server's error_description): inert.
    detail_line = f"\n{explanation.detail_label}: {inert(detail, 2000)}" if detail else ""
    body = f"*What happened:* {explanation.what}{detail_line}\n*What to do:* {explanation.remedy}"
    footer = f"Requested by <@{requester}> · connection {connection_id}"
    return SlackMessage(
        text=f"{plain(heading)}. {explanation.what}{detail_line} What to do: {explanation.remedy} "
             f"(requested by <@{requester}>)",
        blocks=[section(heading), section(body), context(footer)],
    )


@dataclass(frozen=True, kw_only=True)
class WhoAuthorized:
    """Who signed in to Salesforce with a requester's link, and which org they authorized."""

    org_name: str
    org_id: str
    is_sandbox: bool
    username: str
    email: str | None
    email_verified: bool
    requester_email: str | None


def authorization_to_confirm(*, who: WhoAuthorized, connection_id: str, confirm_by: datetime) -> SlackMessage:
    """The requester's private Confirm/Cancel when the Salesforce user is not provably them (SPEC §6)."""
    environment = "sandbox" if who.is_sandbox else "production"
    email = escape_mrkdwn(who.email) if who.email else "no e-mail address"
    if who.requester_email is None:
        why = "Slack did not tell qc-bot your e-mail address, so it cannot tell whether this was you."
    elif who.email and not who.email_verified:
        why = "That Salesforce user has not verified their e-mail address, so it proves nothing."
    else:
        why = f"That is not your Slack e-mail address ({inert(who.requester_email)})."
    what = (f"*{inert(who.username)}* ({fit(email, 300)}) authorized the {environment} org "
            f"*{inert(who.org_name)}* (`{escape_mrkdwn(who.org_id)}`) with your link. {why}\n"
            "If that was you or someone you asked, continue and qc-bot sets up the QualityClouds app there; if "
            "not, cancel: nothing has been deployed.")
    note = f"Only you can see this. It can be answered once, until {when_local(confirm_by)}; then nothing happens."
    return SlackMessage(
        text=plain(f"Confirm: {what} {note}"),
        blocks=[
            section(what),
            {"type": "actions", "elements": [
                button(action_id=ACTION_AUTHORIZATION_CONFIRM, style="primary", value=connection_id,
                       text="Continue: set up the app"),
                button(action_id=ACTION_AUTHORIZATION_CANCEL, value=connection_id, text="Cancel"),
            ]},
            context(note),
        ],
    )


def authorization_confirmed(*, org_name: str) -> SlackMessage:
    return said(f"Confirmed. qc-bot is setting up the QualityClouds app in {inert(org_name)}; the result "
                "appears in the channel.")


def authorization_cancelled() -> SlackMessage:
    return said("Cancelled. Nothing was deployed, and the Salesforce authorization was revoked.")


def confirmation_refused(problem: ConfirmProblem) -> SlackMessage:
    return said(CONFIRM_REFUSALS[problem])


def authorization_expired() -> SlackMessage:
    explanation = EXPLANATIONS[Failure.AUTHORIZATION_NOT_COMPLETED]
    return said(f"{explanation.what} {explanation.remedy}")


@dataclass(frozen=True, kw_only=True)
class ConnectedOrg:
    """The facts of a provisioned org's status message. The consumer key and secret are here only masked
    (`bot.redaction.mask`), so the facts can be kept to draw the message again when the sign-in is proved."""

    org_name: str
    org_id: str
    is_sandbox: bool
    instance_url: str
    app_kind_label: str
    app_name: str
    created: bool
    consumer_key_mask: str | None
    consumer_secret_mask: str | None
    secret_unavailable: SecretUnreadable | None
    checklist: list[ChecklistItem]
    requester: str

    def to_dict(self) -> dict[str, Any]:
        return {**{field.name: getattr(self, field.name) for field in fields(self)},
                "secret_unavailable": self.secret_unavailable and self.secret_unavailable.value,
                "checklist": [item.to_dict() for item in self.checklist]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConnectedOrg:
        return cls(**{**data, "secret_unavailable": data["secret_unavailable"] and SecretUnreadable(
                          data["secret_unavailable"]),
                      "checklist": [ChecklistItem(item["setting"], Mark(item["mark"]), item["detail"])
                                    for item in data["checklist"]]})


@dataclass(frozen=True, kw_only=True)
class SignInProof:
    """Where the live sign-in with the app's own credentials stands, for the status message."""

    status: Literal["proving", "proved", "failed", "not_run"]
    run_as: str
    problem: ProofProblem | None = None
    detail: str | None = None
    """Salesforce's own words, when it refused."""


CHECKLIST_DETAIL_MAX = 600
"""Room for one checklist line's detail (what the org had, Salesforce's words); the lines are spread over as
many sections as they need."""


def org_connected(org: ConnectedOrg, *, proof: SignInProof | None = None) -> SlackMessage:
    failures = sum(item.mark is Mark.FAIL for item in org.checklist)
    warnings = sum(item.mark is Mark.WARN for item in org.checklist)
    environment = "Sandbox" if org.is_sandbox else "Production"
    action = "created" if org.created else "checked and repaired"
    name, app_name = escape_mrkdwn(org.org_name), escape_mrkdwn(org.app_name)
    short_name = fit(name, 300)
    org_id, instance_url = escape_mrkdwn(org.org_id), escape_mrkdwn(org.instance_url)
    key_text = escape_mrkdwn(org.consumer_key_mask or "not available")
    secret_text = escape_mrkdwn(org.consumer_secret_mask or "not available")
    # A detail is ours with the org's values in it (`<username>` of ours included): all of it made inert.
    checklist_lines = [f"{MARK_EMOJI[item.mark]} *{item.setting}:* {inert(item.detail, CHECKLIST_DETAIL_MAX)}"
                       for item in org.checklist]
    secret_note = ""
    if org.secret_unavailable:
        secret_note = "\n" + secret_unavailable_note(org.secret_unavailable, app_name=org.app_name)
    next_step = (
        "*Next step:* define this org in Quality Clouds (add a Salesforce instance) with the consumer key and "
        f"secret; <@{org.requester}> can reveal them privately."
    )
    # The header shows the name as it is (plain text) and shortens only the name; the fallback the escaped one.
    if failures:
        before, after = "❌ Salesforce org ", f" is connected, but {count(failures, 'setting')} still wrong"
    elif proof is not None and proof.status == "failed":
        before, after = "❌ Salesforce org ", " is connected, but Quality Clouds' credentials do not sign in"
    else:
        suffix = f" ({count(warnings, 'warning')})" if warnings else ""
        before, after = "✅ Salesforce org ", f" is connected to Quality Clouds{suffix}"
    heading = before + short_name + after
    fields_ = [
        f"*Org*\n{name}\n`{org_id}`",
        f"*Environment*\n{environment}",
        f"*Instance*\n{instance_url}",
        f"*App*\n{escape_mrkdwn(org.app_kind_label)} `{app_name}` ({action})",
        f"*Consumer key*\n`{key_text}`",
        f"*Consumer secret*\n`{secret_text}`",
        f"*Requested by*\n<@{org.requester}>",
    ]
    proof_text = sign_in_line(proof, org_name=short_name) if proof is not None else None
    # The fields do not read as sentences, so the fallback says the same in its own order.
    text = (
        f"{heading}. Org {short_name} ({org_id}), {environment}, {instance_url}. "
        f"{escape_mrkdwn(org.app_kind_label)} {app_name} {action}. Consumer key {key_text}, consumer secret "
        f"{secret_text}. "
        + " ".join(line.replace("*", "") for line in checklist_lines)
        + secret_note.replace("\n", " ")
        + (f" {plain(proof_text)}" if proof_text else "")
        + f" Next step: define this org in Quality Clouds; <@{org.requester}> can reveal the credentials."
    )
    blocks = [
        named_header(before=before, name=org.org_name, after=after),
        fields_section(fields_),
        *sections(["*Settings checklist*", *checklist_lines, *([secret_note.strip()] if secret_note else [])]),
    ]
    if proof_text:
        blocks.append(section(proof_text))
    blocks.append(section(next_step))
    return SlackMessage(text=text, blocks=blocks)


def sign_in_line(proof: SignInProof, *, org_name: str) -> str:
    """The status message's line about the live sign-in (SPEC §2 "Live proof"); `org_name` is already escaped."""
    who = f"{org_name} (runs as {inert(proof.run_as)})"
    if proof.status == "proving":
        return (f"⏳ *Sign-in:* proving that Quality Clouds' credentials sign in to {who}… Salesforce can take a "
                "few minutes to accept a new app; this message is updated when it does.")
    if proof.status == "proved":
        return f"✅ *Sign-in:* Quality Clouds' credentials sign in to {who}."
    assert proof.problem is not None
    explanation = PROOF_EXPLANATIONS[proof.problem]
    mark = "⚠️" if proof.status == "not_run" else "❌"
    said_line = f"\n{explanation.detail_label}: {inert(proof.detail, 1500)}" if proof.detail else ""
    return f"{mark} *Sign-in:* {explanation.what}{said_line}\n*What to do:* {explanation.remedy}"


def secret_unavailable_note(reason: SecretUnreadable, *, app_name: str) -> str:
    return SECRET_NOTES[reason].format(app_name=escape_mrkdwn(app_name))
