"""Answers that several `/qc` commands and buttons share: the usage, a refusal, an org that is gone, a flood
slowed down."""

from __future__ import annotations

from bot.messages.actions import COMMAND
from bot.messages.blocks import SlackMessage, said


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
        f"`{COMMAND} rotate-secret <org id or name> [incident]` — new consumer key and secret for the "
        "QualityClouds External Client App, revealed to you; `incident` stops the old ones at once",
        f"`{COMMAND} revoke-tokens <org id or name> [username]` — revoke the QualityClouds app's refresh tokens "
        "(everyone's, or one user's)",
        f"`{COMMAND} help` — this message",
    ]
    intro = f"{problem}\n\n" if problem else ""
    return said(intro + "Usage:\n" + "\n".join(lines))


def not_allowed() -> SlackMessage:
    return said("Sorry, only Slack workspace admins and owners (or people your qc-bot operator listed in "
                "QC_ADMIN_USERS) can connect, disconnect or change the credentials of Salesforce orgs. Ask one of "
                "them to run the command.")


def org_gone() -> SlackMessage:
    return said(f"That org is not connected in this workspace any more. See `{COMMAND} status` for the connected "
                "ones.")


def slow_down() -> SlackMessage:
    return said(f"You're sending `{COMMAND}` commands faster than I take them, so I skipped this one. Wait a "
                "minute, then try again.")
