"""The words of `/qc disconnect-org <org> [delete-app]` (SPEC §3): finding the org, the confirmation, the
outcome for the admin, and the notice to the org's channel."""

from __future__ import annotations

import json

from bot.failures import DisconnectProblem
from bot.messages.actions import ACTION_DISCONNECT_CANCEL, ACTION_DISCONNECT_CONFIRM, COMMAND
from bot.messages.blocks import SlackMessage, button, inert, listed, plain, said, said_plainly, section
from bot.messages.explanations import DISCONNECT_EXPLANATIONS

LISTED_ORGS_MAX = 20
"""Orgs named in an answer that lists them; `/qc status` shows the rest."""


def org_not_found(*, target: str, known: list[str]) -> SlackMessage:
    names = listed([f"*{inert(name)}*" for name in known], limit=LISTED_ORGS_MAX) if known else "none"
    return said_plainly(f"No connected org in this workspace is called or has the id `{inert(target)}`. Connected "
                        f"orgs: {names}. See `{COMMAND} status` for their ids.")


def org_ambiguous(*, target: str, matches: list[tuple[str, str]]) -> SlackMessage:
    names = listed([f"*{inert(name)}* (`{inert(org_id)}`)" for name, org_id in matches], limit=LISTED_ORGS_MAX)
    return said_plainly(f"More than one org is called `{inert(target)}`: {names}. Give the org id instead.")


def disconnect_confirmation(*, org_name: str, org_id: str, delete_app: bool, app_name: str) -> SlackMessage:
    what = (f"Disconnect *{inert(org_name)}* (`{inert(org_id)}`)? qc-bot revokes its own Salesforce tokens, "
            "deletes everything it stores for this org (tokens and the app's credentials) and stops its expiry "
            "warnings.")
    if delete_app:
        app = (f" It also *deletes the {inert(app_name)} app* from the org: Quality Clouds stops scanning it and "
               "the tokens issued to the app stop working.")
    else:
        app = (f" The {inert(app_name)} app stays in Salesforce, so Quality Clouds keeps scanning (add "
               "`delete-app` to remove it too).")
    value = json.dumps({"org_id": org_id, "delete_app": delete_app}, separators=(",", ":"))
    return SlackMessage(
        text=plain(what + app),
        blocks=[
            section(what + app),
            {"type": "actions", "elements": [
                button(action_id=ACTION_DISCONNECT_CONFIRM, style="danger", value=value,
                       text="Disconnect and delete the app" if delete_app else "Disconnect"),
                button(action_id=ACTION_DISCONNECT_CANCEL, value=org_id, text="Cancel"),
            ]},
        ],
    )


def disconnect_cancelled(*, org_id: str) -> SlackMessage:
    return said(f"Nothing was changed; the org `{inert(org_id)}` stays connected.")


def disconnected(*, org_name: str, org_id: str, app_deleted: bool, revoked: bool, app_name: str) -> SlackMessage:
    app_name = inert(app_name)
    lines = [f"*{inert(org_name)}* (`{inert(org_id)}`) is disconnected: qc-bot deleted its stored tokens and "
             "credentials and will send no more expiry warnings for it."]
    if revoked:
        lines.append("Its Salesforce tokens were revoked.")
    else:
        lines.append("⚠️ Salesforce could not be reached to revoke qc-bot's token; nobody holds it any more, but "
                     "you can revoke it in Setup → Connected Apps OAuth Usage → qc-bot.")
    lines.append(f"The {app_name} app was deleted from the org." if app_deleted
                 else f"The {app_name} app stays in Salesforce.")
    return said_plainly(" ".join(lines))


def disconnect_failed(*, code: DisconnectProblem, detail: str | None) -> SlackMessage:
    explanation = DISCONNECT_EXPLANATIONS[code]
    detail_line = f"\n{explanation.detail_label}: {inert(detail, 2000)}" if detail else ""
    text = f"*What happened:* {explanation.what}{detail_line}\n*What to do:* {explanation.remedy}"
    return SlackMessage(text=plain(text), blocks=[section(text)])


def org_disconnected_notice(*, org_name: str, org_id: str, user_id: str, app_deleted: bool,
                            app_name: str) -> SlackMessage:
    app_name = inert(app_name)
    app = f"and deleted the {app_name} app from it" if app_deleted else f"(the {app_name} app stays in Salesforce)"
    return said_plainly(f"<@{user_id}> disconnected Salesforce org *{inert(org_name)}* (`{inert(org_id)}`) from "
                        f"qc-bot {app}. "
                        "There will be no more expiry warnings for it here.")
