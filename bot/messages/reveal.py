"""The words of the private delivery of SPEC §1 step 6: the "Reveal credentials" offer, the modal that is
the one place a full key and secret are shown, and the answers to a click."""

from __future__ import annotations

from typing import Any

from bot.failures import RevealProblem
from bot.messages.actions import ACTION_REVEAL, COMMAND
from bot.messages.blocks import (
    SlackMessage,
    button,
    call_to_action,
    context,
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


def reveal_modal(*, org_name: str, consumer_key: Secret | None, consumer_secret: Secret | None,
                 secret_note: str | None) -> dict[str, Any]:
    """The one place a full key and secret are shown: a modal only the requester sees, gone when closed."""
    org_name = inert(org_name)
    key = consumer_key.reveal() if consumer_key else "not available"
    secret = consumer_secret.reveal() if consumer_secret else "not available"
    blocks: list[dict[str, Any]] = [
        section(f"QualityClouds credentials for *{org_name}*. Copy them into Quality Clouds now; this is the "
                "only time qc-bot shows them."),
        section(f"*Consumer key*\n```{key}```"),
        section(f"*Consumer secret*\n```{secret}```"),
    ]
    if secret_note:
        blocks.append(context(secret_note))
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "QualityClouds keys"},
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
