"""Block Kit primitives every Slack surface shares, the one way a message's plain-text fallback is derived
from its mrkdwn, and the small formatters of counts, moments and durations.

Slack's size limits live here and nowhere else: every primitive fits its text to its limit (`fit`), and a
`SlackMessage` never holds more blocks or fallback text than Slack takes, so a builder cannot make a message
Slack refuses however long the names, lists and errors it is given. Builders keep lists short on purpose
("…and 12 more"); the limits here are the net beneath them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.messages.actions import ACTION_REAUTHORIZE

# Slack's limits (api.slack.com/reference/block-kit), in characters.
SECTION_TEXT_MAX = 3000
CONTEXT_TEXT_MAX = 3000
HEADER_MAX = 150
FIELD_MAX = 2000
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
MODAL_TITLE_MAX = 24
MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
FALLBACK_TEXT_MAX = 4000
"""Slack takes 40,000 characters of `text`, but it is what a notification or a screen reader reads: past a few
thousand nobody reads on, and Slack itself truncates messages longer than 4,000 characters."""

ELLIPSIS = "…"

# An entity (`&amp;`), a link, mention or date (`<...>`) that a cut at the end of a text would leave open.
_OPEN_ENTITY = re.compile(r"&[#a-zA-Z0-9]{0,8}$")
_OPEN_ANGLE = re.compile(r"<[^>]*$")
_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")


def fit(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in `…` when cut. The cut never leaves half an escape
    (`&am`) or half of a link, mention or date (`<@U1`): Slack would show the remains as garbage, or read what
    follows as part of it."""
    if len(text) <= limit:
        return text
    kept = text[:limit - len(ELLIPSIS)]
    kept = _OPEN_ENTITY.sub("", kept)
    kept = _OPEN_ANGLE.sub("", kept)
    return kept + ELLIPSIS


@dataclass(frozen=True)
class SlackMessage:
    """What qc-bot posts: `text` is a complete plain-text fallback (mobile notifications and screen readers
    read only that), `blocks` what Slack shows. Both are held to Slack's limits here, whoever built them."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", fit(self.text, FALLBACK_TEXT_MAX))
        object.__setattr__(self, "blocks", self.blocks[:MESSAGE_MAX_BLOCKS])

    def as_payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def escape_mrkdwn(text: str) -> str:
    """Text from outside (Salesforce, a user, an error page) made inert in mrkdwn: Slack reads `<...>` as a link,
    a mention or `<!channel>`, and `&` starts an entity, so these three are escaped as Slack documents.

    Builders escape every such value once, where it enters (the `inert` of a dataclass of facts, or the first
    line of a builder), and then use only the escaped value, in the blocks and in the fallback `text` alike:
    Slack reads mentions in `text` too."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


NAME_MAX = 300
"""Room for one name (an org, a user, a host) quoted in a sentence: Salesforce's own limits are lower (org
names 80, usernames 80), but a name from a stranger is not bound by them."""


def inert(text: str, limit: int = NAME_MAX) -> str:
    """A value from outside (Salesforce, a user) ready for mrkdwn: escaped (`escape_mrkdwn`) and cut to `limit`
    characters after escaping, so the cut never splits an escape."""
    return fit(escape_mrkdwn(text), limit)


def plain(mrkdwn: str) -> str:
    """mrkdwn as plain text: no bold or code marks, one line, dates in their UTC fallback."""
    return _DATE.sub(r"\1", mrkdwn).replace("*", "").replace("`", "").replace("\n", " ")


def listed(items: list[str], *, limit: int, separator: str = ", ", noun: str = "more") -> str:
    """At most `limit` of `items`, joined, then "…and N more" for the rest."""
    shown = separator.join(items[:limit])
    hidden = len(items) - limit
    return f"{shown}{separator}…and {hidden} {noun}" if hidden > 0 else shown


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
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit(text, SECTION_TEXT_MAX)}, **extra}


def sections(lines: list[str]) -> list[dict[str, Any]]:
    """Lines of mrkdwn in as few sections as hold them whole (one line that alone is too long is cut)."""
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= SECTION_TEXT_MAX:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return [section(chunk) for chunk in chunks]


def fields_section(texts: list[str]) -> dict[str, Any]:
    """A section of up to 10 mrkdwn fields, shown two by two."""
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": fit(text, FIELD_MAX)} for text in texts[:10]]}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(text, CONTEXT_TEXT_MAX)}]}


def header(text: str) -> dict[str, Any]:
    """A header is plain text: it shows names as they are, so they are not escaped, only fitted."""
    return {"type": "header", "text": {"type": "plain_text", "text": fit(text, HEADER_MAX), "emoji": True}}


def named_header(*, before: str, name: str, after: str) -> dict[str, Any]:
    """A header naming something in its middle ("✅ Salesforce org <name> is connected (1 warning)"): a long
    name is shortened, never the words around it, which carry the meaning. The full name goes in a field."""
    room = HEADER_MAX - len(before) - len(after)
    return header(before + fit(name, max(room, 1)) + after)


def button(*, action_id: str, text: str, value: str | None = None, url: str | None = None,
           style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "action_id": action_id,
                               "text": {"type": "plain_text", "text": fit(text, BUTTON_TEXT_MAX)}}
    if value is not None:
        # A value is data the handler reads back: cut, it would mean something else. Builders put ids in it.
        if len(value) > BUTTON_VALUE_MAX:
            raise ValueError(f"a button value of {len(value)} characters is over Slack's {BUTTON_VALUE_MAX}")
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
        "title": {"type": "plain_text", "text": fit(title, MODAL_TITLE_MAX)},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": message.blocks[:VIEW_MAX_BLOCKS],
    }


def count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def when(moment: datetime) -> str:
    """A moment in plain text (a fallback, a header, a page): UTC, said so."""
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def when_local(moment: datetime) -> str:
    """A moment in mrkdwn, shown in each reader's own time zone by Slack; `when` where Slack cannot."""
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{when(moment)}>"


def clock_time_local(moment: datetime) -> str:
    """A time of day in mrkdwn, in the reader's time zone; `HH:MM UTC` where Slack cannot."""
    return f"<!date^{int(moment.timestamp())}^{{time}}|{moment:%H:%M} UTC>"


def time_left(remaining: timedelta) -> str:
    """`30 days`, `5 hours` or `less than an hour`: whole days, rounded, once the nearest is at least one."""
    days = round(remaining / timedelta(days=1))
    if days >= 1:
        return count(days, "day")
    if remaining >= timedelta(hours=1):
        return count(int(remaining / timedelta(hours=1)), "hour")
    return "less than an hour"
