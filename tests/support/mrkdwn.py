"""What Slack reads as mrkdwn in a payload: where an unescaped `<` could mention, link or break something."""

from __future__ import annotations

import json
from typing import Any


def mrkdwn_texts(node: Any) -> list[str]:
    """Every mrkdwn text object under `node` (blocks, a view, a whole payload; JSON strings are read). Plain
    text objects are left out: Slack shows their `<` as `<`."""
    if isinstance(node, str):
        try:
            node = json.loads(node)
        except ValueError:
            return []
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            found.append(node["text"])
        for value in node.values():
            if isinstance(value, dict | list) or (isinstance(value, str) and value[:1] in "[{"):
                found += mrkdwn_texts(value)
    elif isinstance(node, list):
        for value in node:
            found += mrkdwn_texts(value)
    return found
