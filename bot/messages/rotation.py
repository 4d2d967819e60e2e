"""The words of `/qc rotate-secret` and `/qc revoke-tokens` (SPEC §4b): what the admin is told privately, what
the org's channel is told (masked), the private reveal of the new credentials, and the Setup steps for a
Connected App, whose credentials qc-bot cannot rotate."""

from __future__ import annotations

import json
from datetime import datetime

from bot.failures import CredentialsProblem, ProofProblem
from bot.messages.actions import (
    ACTION_RETIRE_OLD_CREDENTIALS,
    ACTION_REVEAL,
    ACTION_REVOKE_TOKENS_CANCEL,
    ACTION_REVOKE_TOKENS_CONFIRM,
    COMMAND,
)
from bot.messages.blocks import (
    SlackMessage,
    button,
    call_to_action,
    escape_mrkdwn,
    inert,
    plain,
    said,
    said_plainly,
    section,
)
from bot.messages.explanations import CREDENTIALS_EXPLANATIONS, PROOF_EXPLANATIONS

_STOPS = ("Quality Clouds stops working for this org until the new consumer key and secret are entered in its "
          "portal (Instances → Salesforce → the instance → edit).")


def rotation_started(*, org_name: str, incident: bool) -> SlackMessage:
    how = ("The old credentials stop working as soon as the new ones are in place. " + _STOPS) if incident else (
        "The old credentials keep working until someone presses *Retire old credentials* (or Salesforce's 30-day "
        "overlap ends), so Quality Clouds keeps scanning while you update it.")
    return said_plainly(f"Rotating the consumer key and secret of the QualityClouds app in *{escape_mrkdwn(org_name)}*."
                        f" You'll get a private *Reveal credentials* button for the new ones. {how}")


def rotation_reveal_offer(*, reveal_id: str, org_name: str, expires_minutes: int) -> SlackMessage:
    name = escape_mrkdwn(org_name)
    return call_to_action(
        text=f"New QualityClouds credentials for {name} are ready. Reveal them (only you can, once, within "
             f"{expires_minutes} minutes) and enter them in Quality Clouds.",
        mrkdwn=f"New QualityClouds credentials for *{name}* are ready. Only you can reveal them, once, within "
               f"{expires_minutes} minutes; enter them in Quality Clouds.",
        action=button(action_id=ACTION_REVEAL, text="Reveal credentials", value=reveal_id, style="primary"),
    )


def rotation_done(*, rotation_id: str, org_name: str, org_id: str, user_id: str, new_key_mask: str,
                  new_secret_mask: str, old_key_mask: str | None, old_valid_until: datetime | None,
                  retired: bool, incident: bool, proof_problem: ProofProblem | None,
                  proof_detail: str | None, retired_by: str | None = None) -> SlackMessage:
    """The channel's account of a rotation: masked values only, and what still signs in. `retired_by`: the admin
    who pressed Retire later (the account is edited then, and loses its button)."""
    name = escape_mrkdwn(org_name)
    old = f" (`{old_key_mask}`)" if old_key_mask else ""
    lines = [f"🔑 <@{user_id}> rotated the consumer key and secret of the QualityClouds app in *{name}* (`{org_id}`)"
             f"{' after a security incident' if incident else ''}.",
             f"New consumer key: `{new_key_mask}` · new consumer secret: `{new_secret_mask}` (revealed to <@{user_id}> "
             "only)."]
    if proof_problem is None:
        lines.append("✅ Sign-in: the new credentials sign in to the org.")
    else:
        explanation = PROOF_EXPLANATIONS[proof_problem]
        said_by = f" Salesforce said: {escape_mrkdwn(proof_detail)}" if proof_detail else ""
        lines.append(f"❌ Sign-in: {explanation.what}{said_by}")
    if retired and retired_by is not None:
        lines.append(f"⛔ <@{retired_by}> retired the old credentials{old}: they no longer work.")
    elif retired:
        lines.append(f"⛔ The old credentials{old} no longer work. {_STOPS}")
    else:
        until = f" until {old_valid_until:%Y-%m-%d %H:%M} UTC" if old_valid_until else ""
        lines.append(f"⏳ The old credentials{old} still work{until}, so Quality Clouds keeps scanning. Enter the new "
                     "ones in Quality Clouds, then press *Retire old credentials*.")
    text = "\n".join(lines)
    blocks = [section(text)]
    if not retired:
        blocks.append({"type": "actions", "elements": [
            button(action_id=ACTION_RETIRE_OLD_CREDENTIALS, text="Retire old credentials", value=rotation_id,
                   style="danger")]})
    return SlackMessage(text=plain(text), blocks=blocks)


def old_credentials_retired(*, org_name: str, org_id: str, user_id: str, old_key_mask: str | None) -> SlackMessage:
    old = f" (`{old_key_mask}`)" if old_key_mask else ""
    return said_plainly(f"<@{user_id}> retired the old QualityClouds credentials{old} of *{escape_mrkdwn(org_name)}* "
                        f"(`{org_id}`): only the new consumer key and secret sign in now.")


def retire_answer(*, retired: bool, org_name: str) -> SlackMessage:
    if retired:
        return said(f"The old QualityClouds credentials of {inert(org_name)} are retired.")
    return said(f"The old QualityClouds credentials of {inert(org_name)} were retired already, or their rotation is "
                "not finished yet.")


def credentials_failed(*, code: CredentialsProblem, detail: str | None, org_name: str) -> SlackMessage:
    explanation = CREDENTIALS_EXPLANATIONS[code]
    detail_line = f"\n{explanation.detail_label}: {escape_mrkdwn(detail)}" if detail else ""
    text = (f"*{escape_mrkdwn(org_name)}* — *What happened:* {explanation.what}{detail_line}\n"
            f"*What to do:* {explanation.remedy}")
    return SlackMessage(text=plain(text), blocks=[section(text)])


def connected_app_rotation_steps(*, org_name: str, instance_url: str, app_name: str) -> SlackMessage:
    """Salesforce documents no API for a Connected App's staged consumer details: the steps in Setup."""
    link = f"{instance_url}/lightning/setup/ConnectedApplication/home"
    text = (f"The {inert(app_name)} app in *{inert(org_name)}* is a Connected App: Salesforce offers no API to "
            "rotate its credentials, so qc-bot cannot do it for you. In Setup:\n"
            f"1. Open Setup → App Manager → {inert(app_name)} ({inert(link, 1000)}) → *Manage Consumer Details*.\n"
            "2. *Generate* staged consumer details (a new key and secret), copy them and enter them in Quality "
            "Clouds.\n"
            "3. *Apply* the staged consumer details: the old ones stop working.\n"
            f"Then run `{COMMAND} connect-org` again so qc-bot checks the app (it cannot read the new secret).")
    return SlackMessage(text=plain(text), blocks=[section(text)])


def revoke_confirmation(*, org_name: str, org_id: str, username: str | None, app_name: str) -> SlackMessage:
    whose = f"*{escape_mrkdwn(username)}*'s refresh tokens" if username else "*every* refresh token"
    text = (f"Revoke {whose} of the {inert(app_name)} app in *{escape_mrkdwn(org_name)}* (`{org_id}`)? Quality Clouds "
            "cannot scan with them any more; whoever uses them must authorize again.")
    value = json.dumps({"org_id": org_id, "username": username}, separators=(",", ":"))
    return SlackMessage(text=plain(text), blocks=[
        section(text),
        {"type": "actions", "elements": [
            button(action_id=ACTION_REVOKE_TOKENS_CONFIRM, style="danger", value=value, text="Revoke"),
            button(action_id=ACTION_REVOKE_TOKENS_CANCEL, value=org_id, text="Cancel"),
        ]},
    ])


def revoke_cancelled(*, org_id: str) -> SlackMessage:
    return said(f"Nothing was revoked in the org `{org_id}`.")


def tokens_revoked(*, org_name: str, org_id: str, user_id: str | None, count: int, usernames: list[str],
                   app_name: str) -> SlackMessage:
    """The channel's notice (`user_id` set) or the admin's answer."""
    whose = ", ".join(escape_mrkdwn(name) for name in usernames) or "nobody"
    tokens = f"{count} refresh token{'' if count == 1 else 's'}"
    who = f"<@{user_id}> revoked" if user_id else "Revoked"
    return said_plainly(f"{who} {tokens} of the {inert(app_name)} app in *{escape_mrkdwn(org_name)}* (`{org_id}`), "
                        f"held by: {whose}. Those users must authorize the app again before Quality Clouds can use it.")
