"""The words of the private delivery of SPEC §1 step 6: the "Reveal credentials" offer, the modal that is
the one place a full key and secret are shown, and the answers to a click."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.failures import RevealProblem
from bot.messages.actions import ACTION_REVEAL, COMMAND
from bot.messages.blocks import (
    SlackMessage,
    button,
    call_to_action,
    context,
    escape_mrkdwn,
    inert,
    said,
    said_plainly,
    section,
)
from bot.messages.explanations import REVEAL_REFUSALS
from bot.redaction import Secret


def reveal_offer(*, reveal_id: str, org_name: str, expires_minutes: int) -> SlackMessage:
    org_name = inert(org_name)
    return call_to_action(
        text=f"The QualityClouds app in {org_name} is ready. Reveal its consumer key and secret (only you can, "
             f"once, within {expires_minutes} minutes).",
        mrkdwn=f"The QualityClouds app in *{org_name}* is ready. Only you can reveal its consumer key and secret, "
               f"once, within {expires_minutes} minutes.",
        action=button(action_id=ACTION_REVEAL, text="Reveal credentials", value=reveal_id, style="primary"),
    )


@dataclass(frozen=True, kw_only=True)
class HandOff:
    """What Quality Clouds' "New instance" form asks for (Instances → Salesforce → + New instance), but the
    credentials: where the org is and how its users log in."""

    org_name: str
    is_sandbox: bool
    org_url: str
    login: Literal["production", "sandbox", "my_domain"]
    """How the journey logged in: the form's Login URL choice (a My Domain is its custom domain)."""
    login_url: str

    @property
    def description(self) -> str:
        return f"{self.org_name} ({'Sandbox' if self.is_sandbox else 'Production'})"

    @property
    def login_choice(self) -> str:
        if self.login == "my_domain":
            return f"Custom domain: {self.login_url}"
        return "Sandbox" if self.login == "sandbox" else "Production"


def _copyable(label: str, value: str) -> dict[str, Any]:
    """One field of the form, alone in a code block, so a click selects exactly the value. Slack reads `&`, `<`
    and `>` as markup even there (escaped, it shows them as typed); a backtick would end the block."""
    return section(f"*{label}*\n```{escape_mrkdwn(value).replace('`', 'ˋ')}```")


def reveal_modal(*, handoff: HandOff, consumer_key: Secret | None, consumer_secret: Secret | None,
                 secret_note: str | None) -> dict[str, Any]:
    """The one place a full key and secret are shown: a modal only the requester sees, gone when closed. It is
    the hand-off to Quality Clouds: exactly the fields of its "New instance" form, filled in, in the form's order
    (SPEC §3)."""
    key = consumer_key.reveal() if consumer_key else "not available"
    secret = consumer_secret.reveal() if consumer_secret else "not available"
    blocks: list[dict[str, Any]] = [
        section(f"Add *{inert(handoff.org_name)}* to Quality Clouds: Instances → Salesforce → *+ New "
                "instance*, and copy each field below into the form. This is the only time qc-bot shows the "
                "consumer key and secret."),
        _copyable("Description", handoff.description),
        _copyable("Org URL", handoff.org_url),
        _copyable("Consumer Key", key),
        _copyable("Consumer Secret", secret),
        _copyable("Login URL", handoff.login_choice),
        _copyable("Environment", "Sandbox" if handoff.is_sandbox else "Production"),
    ]
    if secret_note:
        blocks.append(context(secret_note))
    blocks.append(context("Then sign in from Quality Clouds to give it its token. If this org restricts login IP "
                          "ranges (on profiles or in Network Access), allow-list Quality Clouds' IP addresses "
                          "first, or its sign-in and scans are refused."))
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Add to Quality Clouds"},
        "close": {"type": "plain_text", "text": "Done"},
        "blocks": blocks,
    }


def reveal_refused(problem: RevealProblem) -> SlackMessage:
    return said(REVEAL_REFUSALS[problem])


def reveal_retry() -> SlackMessage:
    return said_plainly("Slack could not open the window with your credentials. Click *Reveal credentials* again.")


def revealed(*, org_name: str) -> SlackMessage:
    return said(f"You revealed the QualityClouds credentials for {inert(org_name)}. For safety they cannot be shown "
                f"again; run `{COMMAND} connect-org` again if you lose them.")
