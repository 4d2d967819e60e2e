"""Workspace objects (teams, users, channels) and the records tests assert on."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_SCOPES = frozenset({"commands", "chat:write", "chat:write.public", "users:read", "users:read.email"})


class FakeSlackError(Exception):
    """Misuse of the fake by a test (unknown user, button not found, ...)."""


class WaitTimeout(TimeoutError, AssertionError):
    """``FakeSlack.wait_for`` ran out of time; the message lists the recent traffic."""


@dataclass(eq=False)
class User:
    """A workspace member as ``users.info`` describes it."""

    user_id: str
    team_id: str
    name: str
    real_name: str
    is_admin: bool = False
    is_owner: bool = False
    is_primary_owner: bool = False
    is_bot: bool = False
    deleted: bool = False
    tz: str = "Europe/London"
    tz_label: str = "Greenwich Mean Time"
    tz_offset: int = 0
    email: str | None = None


@dataclass(eq=False)
class Channel:
    """A conversation: public or private channel, or the app's DM with one user (``is_im``)."""

    channel_id: str
    team_id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    members: set[str] = field(default_factory=set)
    bot_is_member: bool = True
    is_archived: bool = False
    created: int = 0


@dataclass(eq=False)
class Team:
    """A workspace with the app installed: its bot identity, bot token, scopes, users and channels."""

    team_id: str
    name: str
    domain: str
    app_id: str
    bot_user_id: str
    bot_id: str
    bot_token: str
    number: int
    bot_name: str = "qc-bot"
    scopes: set[str] = field(default_factory=lambda: set(DEFAULT_SCOPES))
    users: dict[str, User] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://{self.domain}.slack.com/"


@dataclass(eq=False)
class TokenInfo:
    """What the fake knows about an issued token."""

    token: str
    kind: Literal["bot", "user", "app"]
    team_id: str | None
    user_id: str | None
    revoked: bool = False


@dataclass(eq=False)
class CallRecord:
    """One Web API request the bot made, and what the fake answered."""

    method: str
    http_method: str
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes
    token: str | None
    team_id: str | None
    at: float
    monotonic: float
    status: int = 200
    response: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return None if self.response is None else self.response.get("error")


def _iter_interactive(blocks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for block in blocks or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "actions":
            for element in block.get("elements") or []:
                if isinstance(element, dict):
                    yield block, element
        elif block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            yield block, block["accessory"]
        elif block.get("type") == "input" and isinstance(block.get("element"), dict):
            yield block, block["element"]


class _HasBlocks:
    blocks: list[dict[str, Any]]

    def buttons(self) -> list[tuple[str, dict[str, Any]]]:
        """``(block_id, button element)`` for every button in the blocks."""
        return [
            (block.get("block_id", ""), element)
            for block, element in _iter_interactive(self.blocks)
            if element.get("type") == "button"
        ]

    @property
    def action_ids(self) -> list[str]:
        return [element.get("action_id", "") for _, element in _iter_interactive(self.blocks)]


@dataclass(eq=False)
class Message(_HasBlocks):
    """A channel message the app posted (``chat.postMessage``, ``in_channel`` response_url or ack)."""

    team_id: str
    channel_id: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    user: str
    bot_id: str
    app_id: str
    via: str
    posted_at: float
    thread_ts: str | None = None
    """The parent's ts for a reply in a thread (never a reply's own ts: Slack threads one level deep)."""
    params: dict[str, Any] = field(default_factory=dict)
    reply_broadcast: bool = False
    """A reply also shown in the channel."""
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_payload(self) -> dict[str, Any]:
        """The message object as Slack embeds it in ``chat.*`` responses and interaction payloads."""
        payload: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": self.text,
            "user": self.user,
            "ts": self.ts,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
        }
        if self.blocks:
            payload["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments:
            payload["attachments"] = copy.deepcopy(self.attachments)
        if self.thread_ts:
            payload["thread_ts"] = self.thread_ts
        if self.history:
            payload["edited"] = {"user": self.user, "ts": self.history[-1]["edited_ts"]}
        return payload


@dataclass(eq=False)
class Ephemeral(_HasBlocks):
    """A message only ``user_id`` sees (``chat.postEphemeral``, ephemeral response_url post or ack)."""

    team_id: str
    channel_id: str
    user_id: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    via: str
    posted_at: float
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"type": "message", "text": self.text, "ts": self.ts}
        if self.blocks:
            payload["blocks"] = copy.deepcopy(self.blocks)
        return payload


@dataclass(eq=False)
class View(_HasBlocks):
    """A modal (``views.open``) or Home tab (``views.publish``) as Slack stores it."""

    view_id: str
    team_id: str
    user_id: str
    type: str
    view: dict[str, Any]
    opened_at: float
    trigger_id: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def blocks(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.view.get("blocks") or []

    @property
    def hash(self) -> str:
        return self.view["hash"]

    @property
    def external_id(self) -> str:
        return self.view.get("external_id") or ""


@dataclass(eq=False)
class HookPost:
    """One POST the bot made to a response_url, and the fake's answer."""

    url: str
    kind: str
    team_id: str
    channel_id: str
    user_id: str
    body: dict[str, Any] | None
    raw: bytes
    status: int
    response: dict[str, Any]
    at: float


@dataclass(eq=False)
class Delivery:
    """The bot's answer to a request the fake (as Slack) sent it."""

    kind: str
    url: str
    request_body: bytes
    request_headers: dict[str, str]
    status: int | None
    headers: dict[str, str]
    text: str
    body: Any
    elapsed: float
    timed_out: bool = False
    trigger_id: str | None = None
    response_url: str | None = None
    ack_error: str | None = None

    @property
    def ok(self) -> bool:
        """HTTP 200 within the ack deadline."""
        return self.status == 200 and not self.timed_out


@dataclass(eq=False)
class SocketAck:
    """An acknowledgement the bot sent over a Socket Mode connection."""

    envelope_id: str
    type: str
    payload: dict[str, Any] | None
    raw: str
    at: float


@dataclass(eq=False)
class BrowserResult:
    """Where a simulated browser ended up (``FakeSlack.install``)."""

    status: int
    url: str
    text: str
    history: list[str]
