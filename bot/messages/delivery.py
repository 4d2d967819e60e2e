"""The words of delivery trouble: a channel message Slack refused for good, sent to the person it concerns, and
a message Slack refused as invalid, sent again as plain text."""

from __future__ import annotations

from typing import Any

from bot.failures import ChannelError
from bot.messages.actions import COMMAND
from bot.messages.blocks import SlackMessage, context, escape_mrkdwn, fit, said
from bot.messages.explanations import CHANNEL_ERRORS


def channel_fallback(*, original: dict[str, Any], channel_id: str, error: ChannelError) -> SlackMessage:
    """A channel message Slack refused for good, sent to the requester directly instead."""
    note = (f"I couldn't post this in <#{channel_id}>: {CHANNEL_ERRORS[error]}. Invite me there with "
            "`/invite @qc-bot` so the team sees future updates.")
    return SlackMessage(text=f"{note}\n{original.get('text', '')}",
                        blocks=[context(note), *(original.get("blocks") or [])])


COMPACT_TEXT_MAX = 3000
"""A compact fallback is read whole: the essentials, never as long as a message Slack found too long."""


def compact(original: dict[str, Any]) -> dict[str, Any]:
    """A message Slack refused as invalid (`invalid_blocks`, `msg_too_long`) as plain text alone: its fallback
    `text`, which every builder writes as the complete message, shortened. `blocks: []` removes the blocks an
    edited message had (an edit without `blocks` keeps them)."""
    return {"text": fit(str(original.get("text") or "qc-bot could not show this message."), COMPACT_TEXT_MAX),
            "blocks": []}


def message_refused(*, channel_id: str, error: str) -> SlackMessage:
    """The private note to the person a channel message concerned, when Slack refused it as invalid."""
    return said(f"Slack refused a message qc-bot tried to post in <#{channel_id}> ({escape_mrkdwn(error)}), so a "
                f"short plain-text version went there instead. `{COMMAND} status` shows the details; please tell "
                "your qc-bot operator, this is a bug.")
