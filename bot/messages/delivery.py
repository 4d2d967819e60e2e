"""The words of delivery trouble: a channel message Slack refused for good, sent to the person it concerns."""

from __future__ import annotations

from typing import Any

from bot.failures import ChannelError
from bot.messages.blocks import SlackMessage, context
from bot.messages.explanations import CHANNEL_ERRORS


def channel_fallback(*, original: dict[str, Any], channel_id: str, error: ChannelError) -> SlackMessage:
    """A channel message Slack refused for good, sent to the requester directly instead."""
    note = (f"I couldn't post this in <#{channel_id}>: {CHANNEL_ERRORS[error]}. Invite me there with "
            "`/invite @qc-bot` so the team sees future updates.")
    return SlackMessage(text=f"{note}\n{original.get('text', '')}",
                        blocks=[context(note), *(original.get("blocks") or [])][:50])
