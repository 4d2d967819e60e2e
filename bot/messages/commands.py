"""Answers that several `/qc` commands and buttons share: the usage, a refusal, an org that is gone, a flood
slowed down."""

from __future__ import annotations

from bot.messages.actions import COMMAND
from bot.messages.blocks import SlackMessage, escape_mrkdwn, fit, said, said_plainly

ADMIN_ONLY = "*(admins)*"
PROBLEM_MAX = 600
"""A problem quotes what was typed; past this it is cut (the whole usage must fit one section)."""


def usage(problem: str | None = None) -> SlackMessage:
    """The usage, after `problem` if any. A problem quotes the user's words, so all of it is made inert."""
    lines = [
        f"`{COMMAND} connect-org` {ADMIN_ONLY} — connect a production org (you authorize in Salesforce, I set up "
        "the QualityClouds app)",
        f"`{COMMAND} connect-org sandbox` {ADMIN_ONLY} — connect a sandbox",
        f"`{COMMAND} connect-org https://yourdomain.my.salesforce.com` {ADMIN_ONLY} — log in through your My "
        "Domain",
        f"`{COMMAND} connect-org run-as=integration.user@example.com` {ADMIN_ONLY} — the user the client "
        "credentials flow runs as (default: you)",
        f"`{COMMAND} status` — the orgs connected in this workspace, their app and the nearest token expiry",
        f"`{COMMAND} check [org id or name]` — check every org (or one) now: settings, the app's sign-in, tokens",
        f"`{COMMAND} disconnect-org &lt;org id or name&gt; [delete-app]` {ADMIN_ONLY} — revoke qc-bot's tokens "
        "and forget the org (`delete-app` also removes the QualityClouds app from it)",
        f"`{COMMAND} rotate-secret &lt;org id or name&gt; [incident]` {ADMIN_ONLY} — new consumer key and secret "
        "for the QualityClouds External Client App, revealed to you; `incident` stops the old ones at once",
        f"`{COMMAND} revoke-tokens &lt;org id or name&gt; [username]` {ADMIN_ONLY} — revoke the QualityClouds "
        "app's refresh tokens (everyone's, or one user's)",
        f"`{COMMAND} help` — this message",
        "*(admins)*: Slack workspace admins and owners, and the people your qc-bot operator lists in "
        "QC_ADMIN_USERS.",
    ]
    intro = f"{fit(escape_mrkdwn(problem), PROBLEM_MAX)}\n\n" if problem else ""
    return said_plainly(intro + "Usage:\n" + "\n".join(lines))


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
