"""Plain-text rendering of what a Slack user would see (for the demo's transcript and test failure output)."""

from __future__ import annotations

import re
from typing import Any

from .models import Ephemeral, Message, View

_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")


def _shown(mrkdwn: str) -> str:
    """mrkdwn as a Slack client shows it: a date in its fallback text (the reader here is in UTC), the three
    escapes as the characters they stand for."""
    text = _DATE.sub(r"\1", mrkdwn)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: Any) -> str:
    if not isinstance(obj, dict):
        return ""
    text = obj.get("text", "")
    return _shown(text) if obj.get("type") == "mrkdwn" else text


def _element(element: dict[str, Any]) -> str:
    kind = element.get("type")
    if kind == "button":
        link = f" -> {element['url']}" if element.get("url") else ""
        return f"[{_text(element.get('text'))}]{link}"
    if kind == "image":
        return f"(image: {element.get('alt_text', '')})"
    if kind in ("plain_text", "mrkdwn"):
        return _text(element)
    return f"<{kind}>"


def render_blocks(blocks: list[dict[str, Any]]) -> list[str]:
    """One or more lines per block: headers, sections and fields, context, buttons, dividers."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"# {_text(block.get('text'))}")
        elif kind == "section":
            if block.get("text"):
                lines.append(_text(block["text"]))
            lines.extend(f"  {_text(field)}" for field in block.get("fields") or [])
            if isinstance(block.get("accessory"), dict):
                lines.append(f"  {_element(block['accessory'])}")
        elif kind == "context":
            lines.append("  " + " | ".join(_element(el) for el in block.get("elements") or []))
        elif kind == "actions":
            lines.append(" ".join(_element(el) for el in block.get("elements") or []))
        elif kind == "divider":
            lines.append("---")
        elif kind == "markdown":
            lines.append(block.get("text", ""))
        elif kind == "input":
            lines.append(f"{_text(block.get('label'))}: {_element(block.get('element') or {})}")
        else:
            lines.append(f"<{kind} block>")
    return lines


def render(item: Message | Ephemeral | View) -> str:
    """A readable multi-line view of a message, ephemeral message or view (blocks, else the text)."""
    if isinstance(item, View):
        title = _text(item.view.get("title")) or item.type
        head = f"[{item.type} for {item.user_id}] {title}"
    elif isinstance(item, Ephemeral):
        head = f"[only visible to {item.user_id} in {item.channel_id}]"
    else:
        head = f"[{item.channel_id} {item.ts}]"
    body = render_blocks(item.blocks) if item.blocks else [getattr(item, "text", "")]
    return "\n".join([head, *("  " + line for line in body)])
