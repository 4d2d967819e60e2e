"""Block Kit primitives every Slack surface shares, the one way a message's plain-text fallback is derived
from its mrkdwn, and the small formatters of counts, moments and durations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.messages.actions import ACTION_REAUTHORIZE


@dataclass(frozen=True)
class SlackMessage:
    """What qc-bot posts: `text` is a complete plain-text fallback (mobile notifications and screen readers
    read only that), `blocks` what Slack shows."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def escape_mrkdwn(text: str) -> str:
    """Text from outside (Salesforce, a user, an error page) made inert in mrkdwn: Slack reads `<...>` as a link,
    a mention or `<!channel>`, and `&` starts an entity, so these three are escaped as Slack documents."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(mrkdwn: str) -> str:
    """mrkdwn as plain text: no bold or code marks, one line."""
    return mrkdwn.replace("*", "").replace("`", "").replace("\n", " ")


def said(text: str) -> SlackMessage:
    """A message of one section; `text` has no emphasis, so it is its own fallback."""
    return SlackMessage(text=text, blocks=[section(text)])


def said_plainly(mrkdwn: str) -> SlackMessage:
    """A message of one section whose fallback is its mrkdwn made plain."""
    return SlackMessage(text=plain(mrkdwn), blocks=[section(mrkdwn)])


def call_to_action(*, text: str, mrkdwn: str, action: dict[str, Any], note: str | None = None) -> SlackMessage:
    """A message asking for one click: `mrkdwn` beside the `action` button, an optional `note` below; `text`
    is its fallback, which says the same in plain words (and carries what the button holds, if it matters)."""
    blocks = [section(mrkdwn, accessory=action)]
    if note is not None:
        blocks.append(context(note))
    return SlackMessage(text=text, blocks=blocks)


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def button(*, action_id: str, text: str, value: str | None = None, url: str | None = None,
           style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}}
    if value is not None:
        element["value"] = value
    if url is not None:
        element["url"] = url
    if style is not None:
        element["style"] = style
    return element


def reauthorize_button(org_id: str) -> dict[str, Any]:
    return button(action_id=ACTION_REAUTHORIZE, text="Re-authorize", value=org_id)


def answer_modal(*, title: str, message: SlackMessage) -> dict[str, Any]:
    """A private answer to a click in the App Home, where there is no channel to answer in."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": message.blocks,
    }


def count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def time_left(remaining: timedelta) -> str:
    """`30 days`, `5 hours` or `less than an hour`: whole days, rounded, once the nearest is at least one."""
    days = round(remaining / timedelta(days=1))
    if days >= 1:
        return count(days, "day")
    if remaining >= timedelta(hours=1):
        return count(int(remaining / timedelta(hours=1)), "hour")
    return "less than an hour"
