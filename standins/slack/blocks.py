"""Block Kit validation and the normalisation Slack applies to stored blocks.

Errors read like Slack's: ``[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]``.
Only documented limits are enforced; valid-but-unusual input (``**bold**`` in mrkdwn) is accepted.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
VIEW_MAX_BYTES = 250 * 1024

BLOCK_TYPES = frozenset(
    {
        "section",
        "header",
        "context",
        "actions",
        "divider",
        "image",
        "input",
        "rich_text",
        "markdown",
        "video",
        "file",
    }
)
SELECTS = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
ACTIONS_ELEMENTS = SELECTS | {
    "button",
    "checkboxes",
    "datepicker",
    "datetimepicker",
    "overflow",
    "radio_buttons",
    "timepicker",
    "workflow_button",
    "rich_text_input",
}
ACCESSORY_ELEMENTS = SELECTS | {
    "button",
    "checkboxes",
    "datepicker",
    "image",
    "overflow",
    "radio_buttons",
    "timepicker",
    "workflow_button",
}
INPUT_ELEMENTS = SELECTS | {
    "checkboxes",
    "datepicker",
    "datetimepicker",
    "email_text_input",
    "file_input",
    "number_input",
    "plain_text_input",
    "radio_buttons",
    "rich_text_input",
    "timepicker",
    "url_text_input",
}
TEXT_ENTRY_ELEMENTS = SELECTS | {
    "plain_text_input",
    "email_text_input",
    "url_text_input",
    "number_input",
    "datepicker",
    "timepicker",
}
RICH_TEXT_ELEMENTS = frozenset(
    {"rich_text_section", "rich_text_list", "rich_text_preformatted", "rich_text_quote"}
)


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, pointer: str, message: str) -> None:
        self.errors.append(f"[ERROR] {message} [json-pointer:{pointer}]")

    def string(
        self,
        value: Any,
        pointer: str,
        *,
        max_len: int | None = None,
        min_len: int = 0,
        required: bool = False,
    ) -> bool:
        if value is None:
            if required:
                self.err(pointer, "missing required field")
            return False
        if not isinstance(value, str):
            self.err(pointer, "must be a string")
            return False
        if len(value) < min_len:
            self.err(pointer, f"must be more than {min_len - 1} characters")
            return False
        if max_len is not None and len(value) > max_len:
            self.err(pointer, f"must be less than {max_len + 1} characters")
            return False
        return True

    def boolean(self, value: Any, pointer: str) -> None:
        if value is not None and not isinstance(value, bool):
            self.err(pointer, "must be a boolean")

    def text(
        self, obj: Any, pointer: str, *, max_len: int, plain_only: bool = False, required: bool = True
    ) -> None:
        """A composition text object: ``{"type": "plain_text"|"mrkdwn", "text": "..."}``."""
        if obj is None:
            if required:
                self.err(pointer, "missing required field")
            return
        if not isinstance(obj, dict):
            self.err(pointer, "must be a text object")
            return
        kind = obj.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            self.err(f"{pointer}/type", f"must be one of: {', '.join(allowed)} (got {kind!r})")
            return
        self.string(obj.get("text"), f"{pointer}/text", max_len=max_len, min_len=1, required=True)
        if kind == "plain_text":
            self.boolean(obj.get("emoji"), f"{pointer}/emoji")
        else:
            self.boolean(obj.get("verbatim"), f"{pointer}/verbatim")

    def confirm(self, obj: Any, pointer: str) -> None:
        if not isinstance(obj, dict):
            self.err(pointer, "must be a confirmation dialog object")
            return
        self.text(obj.get("title"), f"{pointer}/title", max_len=100, plain_only=True)
        self.text(obj.get("text"), f"{pointer}/text", max_len=300)
        self.text(obj.get("confirm"), f"{pointer}/confirm", max_len=30, plain_only=True)
        self.text(obj.get("deny"), f"{pointer}/deny", max_len=30, plain_only=True)
        style = obj.get("style")
        if style is not None and style not in ("primary", "danger"):
            self.err(f"{pointer}/style", "must be one of: primary, danger")

    def image_element(self, el: dict[str, Any], pointer: str) -> None:
        if el.get("image_url") is None and el.get("slack_file") is None:
            self.err(pointer, "must provide image_url or slack_file")
        else:
            self.string(el.get("image_url"), f"{pointer}/image_url", max_len=3000, min_len=1)
        self.string(el.get("alt_text"), f"{pointer}/alt_text", max_len=2000, min_len=1, required=True)

    def element(
        self, el: Any, pointer: str, allowed: frozenset[str] | set[str], action_ids: set[str]
    ) -> None:
        if not isinstance(el, dict):
            self.err(pointer, "must be an element object")
            return
        kind = el.get("type")
        if kind not in allowed:
            self.err(f"{pointer}/type", f"unsupported element type here: {kind!r}")
            return
        if kind == "image":
            self.image_element(el, pointer)
            return
        action_id = el.get("action_id")
        if action_id is not None and self.string(action_id, f"{pointer}/action_id", max_len=255, min_len=1):
            if action_id in action_ids:
                self.err(f"{pointer}/action_id", f"duplicate action_id in block: {action_id!r}")
            action_ids.add(action_id)
        if el.get("confirm") is not None:
            self.confirm(el["confirm"], f"{pointer}/confirm")
        if kind == "button":
            self.button(el, pointer)
        if kind in TEXT_ENTRY_ELEMENTS and el.get("placeholder") is not None:
            self.text(el["placeholder"], f"{pointer}/placeholder", max_len=150, plain_only=True)
        if kind in ("static_select", "multi_static_select") and not (
            el.get("options") or el.get("option_groups")
        ):
            self.err(pointer, "must provide options or option_groups")
        if kind == "overflow":
            options = el.get("options")
            if not isinstance(options, list) or not 2 <= len(options) <= 5:
                self.err(f"{pointer}/options", "must have between 2 and 5 items")

    def button(self, el: dict[str, Any], pointer: str) -> None:
        self.text(el.get("text"), f"{pointer}/text", max_len=75, plain_only=True)
        if el.get("url") is not None:
            self.string(el["url"], f"{pointer}/url", max_len=3000, min_len=1)
        if el.get("value") is not None:
            self.string(el["value"], f"{pointer}/value", max_len=2000, min_len=1)
        style = el.get("style")
        if style is not None and style not in ("primary", "danger"):
            self.err(f"{pointer}/style", f"must be one of: primary, danger (got {style!r})")
        if el.get("accessibility_label") is not None:
            self.string(el["accessibility_label"], f"{pointer}/accessibility_label", max_len=75, min_len=1)

    def elements_list(self, value: Any, pointer: str, *, max_items: int) -> list[Any]:
        if not isinstance(value, list):
            self.err(pointer, "missing required field" if value is None else "must be an array")
            return []
        if not value:
            self.err(pointer, "must have at least 1 item")
        if len(value) > max_items:
            self.err(pointer, f"no more than {max_items} items allowed")
        return value

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict):
            self.err(pointer, "must be a block object")
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.err(f"{pointer}/type", f"unsupported block type: {kind!r}")
            return
        handler: Callable[[dict[str, Any], str], None] = getattr(self, f"block_{kind}")
        handler(block, pointer)

    def block_section(self, block: dict[str, Any], pointer: str) -> None:
        text, fields = block.get("text"), block.get("fields")
        if text is None and fields is None:
            self.err(pointer, "must provide text or fields")
        if text is not None:
            self.text(text, f"{pointer}/text", max_len=3000)
        if fields is not None:
            for i, item in enumerate(self.elements_list(fields, f"{pointer}/fields", max_items=10)):
                self.text(item, f"{pointer}/fields/{i}", max_len=2000)
        if block.get("accessory") is not None:
            self.element(block["accessory"], f"{pointer}/accessory", ACCESSORY_ELEMENTS, set())
        self.boolean(block.get("expand"), f"{pointer}/expand")

    def block_header(self, block: dict[str, Any], pointer: str) -> None:
        self.text(block.get("text"), f"{pointer}/text", max_len=150, plain_only=True)

    def block_context(self, block: dict[str, Any], pointer: str) -> None:
        for i, el in enumerate(
            self.elements_list(block.get("elements"), f"{pointer}/elements", max_items=10)
        ):
            p = f"{pointer}/elements/{i}"
            if isinstance(el, dict) and el.get("type") == "image":
                self.image_element(el, p)
            else:
                self.text(el, p, max_len=3000)

    def block_actions(self, block: dict[str, Any], pointer: str) -> None:
        action_ids: set[str] = set()
        for i, el in enumerate(
            self.elements_list(block.get("elements"), f"{pointer}/elements", max_items=25)
        ):
            self.element(el, f"{pointer}/elements/{i}", ACTIONS_ELEMENTS, action_ids)

    def block_divider(self, block: dict[str, Any], pointer: str) -> None:
        return None

    def block_image(self, block: dict[str, Any], pointer: str) -> None:
        self.image_element(block, pointer)
        if block.get("title") is not None:
            self.text(block["title"], f"{pointer}/title", max_len=2000, plain_only=True)

    def block_input(self, block: dict[str, Any], pointer: str) -> None:
        self.text(block.get("label"), f"{pointer}/label", max_len=2000, plain_only=True)
        if block.get("element") is None:
            self.err(f"{pointer}/element", "missing required field")
        else:
            self.element(block["element"], f"{pointer}/element", INPUT_ELEMENTS, set())
        if block.get("hint") is not None:
            self.text(block["hint"], f"{pointer}/hint", max_len=2000, plain_only=True)
        self.boolean(block.get("optional"), f"{pointer}/optional")
        self.boolean(block.get("dispatch_action"), f"{pointer}/dispatch_action")

    def block_rich_text(self, block: dict[str, Any], pointer: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list):
            self.err(
                f"{pointer}/elements", "missing required field" if elements is None else "must be an array"
            )
            return
        for i, el in enumerate(elements):
            if not isinstance(el, dict) or el.get("type") not in RICH_TEXT_ELEMENTS:
                self.err(f"{pointer}/elements/{i}/type", "unsupported rich text element")

    def block_markdown(self, block: dict[str, Any], pointer: str) -> None:
        self.string(block.get("text"), f"{pointer}/text", max_len=12000, min_len=1, required=True)

    def block_video(self, block: dict[str, Any], pointer: str) -> None:
        for name in ("video_url", "thumbnail_url", "alt_text"):
            self.string(block.get(name), f"{pointer}/{name}", min_len=1, required=True)
        self.text(block.get("title"), f"{pointer}/title", max_len=200, plain_only=True)

    def block_file(self, block: dict[str, Any], pointer: str) -> None:
        self.string(block.get("external_id"), f"{pointer}/external_id", min_len=1, required=True)
        if block.get("source") != "remote":
            self.err(f"{pointer}/source", "must be 'remote'")

    def blocks(self, blocks: Any, pointer: str, *, max_blocks: int) -> None:
        if not isinstance(blocks, list):
            self.err(pointer, "must be an array")
            return
        if len(blocks) > max_blocks:
            self.err(pointer, f"no more than {max_blocks} items allowed")
        seen: set[str] = set()
        for i, block in enumerate(blocks):
            p = f"{pointer}/{i}"
            self.block(block, p)
            if isinstance(block, dict) and block.get("block_id") is not None:
                block_id = block["block_id"]
                if self.string(block_id, f"{p}/block_id", max_len=255, min_len=1):
                    if block_id in seen:
                        self.err(f"{p}/block_id", f"duplicate block_id: {block_id!r}")
                    seen.add(block_id)


def validate_blocks(
    blocks: Any, *, max_blocks: int = MESSAGE_MAX_BLOCKS, pointer: str = "/blocks"
) -> list[str]:
    """Every problem Slack would report for a ``blocks`` array (empty list: valid)."""
    checker = _Checker()
    checker.blocks(blocks, pointer, max_blocks=max_blocks)
    return checker.errors


def validate_attachments(attachments: Any) -> list[str]:
    """Attachments are legacy; only their shape and any nested blocks are checked."""
    checker = _Checker()
    if not isinstance(attachments, list):
        checker.err("/attachments", "must be an array")
        return checker.errors
    for i, attachment in enumerate(attachments):
        if not isinstance(attachment, dict):
            checker.err(f"/attachments/{i}", "must be an object")
        elif attachment.get("blocks") is not None:
            checker.blocks(attachment["blocks"], f"/attachments/{i}/blocks", max_blocks=MESSAGE_MAX_BLOCKS)
    return checker.errors


def view_size(view: Any) -> int:
    return len(json.dumps(view, separators=(",", ":"), ensure_ascii=False).encode())


def validate_view(view: Any, *, expected_type: str | None, pointer: str = "/view") -> list[str]:
    """Problems with a modal or Home tab view object (size is checked separately: ``view_too_large``)."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.err(pointer, "must be a view object")
        return checker.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.err(f"{pointer}/type", f"must be one of: modal, home (got {kind!r})")
        return checker.errors
    if expected_type is not None and kind != expected_type:
        checker.err(f"{pointer}/type", f"must be {expected_type!r} for this method (got {kind!r})")
        return checker.errors
    blocks = view.get("blocks")
    if blocks is None:
        checker.err(f"{pointer}/blocks", "missing required field")
    else:
        checker.blocks(blocks, f"{pointer}/blocks", max_blocks=VIEW_MAX_BLOCKS)
    if kind == "modal":
        checker.text(view.get("title"), f"{pointer}/title", max_len=24, plain_only=True)
        for name in ("submit", "close"):
            if view.get(name) is not None:
                checker.text(view[name], f"{pointer}/{name}", max_len=24, plain_only=True)
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if has_input and view.get("submit") is None:
            checker.err(f"{pointer}/submit", "submit is required when an input block is present")
        for name in ("clear_on_close", "notify_on_close", "submit_disabled"):
            checker.boolean(view.get(name), f"{pointer}/{name}")
    checker.string(view.get("private_metadata"), f"{pointer}/private_metadata", max_len=3000)
    checker.string(view.get("callback_id"), f"{pointer}/callback_id", max_len=255)
    checker.string(view.get("external_id"), f"{pointer}/external_id", max_len=255)
    return checker.errors


def _normalise_text(obj: Any) -> None:
    if isinstance(obj, dict):
        if obj.get("type") == "plain_text":
            obj.setdefault("emoji", True)
        elif obj.get("type") == "mrkdwn":
            obj.setdefault("verbatim", False)


def normalise_blocks(blocks: list[dict[str, Any]], new_id: Callable[[], str]) -> list[dict[str, Any]]:
    """A copy as Slack stores it: missing ``block_id``/``action_id`` filled in, text objects given their
    default ``emoji``/``verbatim`` flags. The input must already be valid."""
    result = copy.deepcopy(blocks)
    used_block_ids = {b["block_id"] for b in result if b.get("block_id")}
    for block in result:
        if not block.get("block_id"):
            block_id = new_id()
            while block_id in used_block_ids:
                block_id = new_id()
            used_block_ids.add(block_id)
            block["block_id"] = block_id
        for key in ("text", "label", "hint", "title"):
            _normalise_text(block.get(key))
        for item in block.get("fields") or []:
            _normalise_text(item)
        elements: list[Any] = []
        if block.get("type") in ("actions", "context"):
            elements = list(block.get("elements") or [])
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                elements.append(block[key])
        for element in elements:
            if not isinstance(element, dict):
                continue
            if block.get("type") == "context":
                _normalise_text(element)
                continue
            if element.get("type") not in ("image",) and not element.get("action_id"):
                element["action_id"] = new_id()
            for key in ("text", "placeholder"):
                _normalise_text(element.get(key))
    return result
