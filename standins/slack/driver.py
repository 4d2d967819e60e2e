"""Slack calling the bot: signed slash commands, block actions and events over HTTP."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from .blocks import MESSAGE_MAX_BLOCKS, validate_blocks
from .hooks import ResponseUrls
from .models import Delivery, Ephemeral, FakeSlackError, Message, Team, View
from .state import SlackState

USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"

Source = Message | Ephemeral | View | dict[str, Any]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``, keyed with the signing secret."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class Driver:
    """Builds Slack's payloads and delivers them to the bot's request URL."""

    def __init__(self, state: SlackState, hooks: ResponseUrls) -> None:
        self.state = state
        self.hooks = hooks
        self.session: aiohttp.ClientSession | None = None
        self.ack_timeout = 3.0

    # --- payload builders ----------------------------------------------------------------------

    def _user_and_channel(self, team: Team, user_id: str, channel_id: str | None) -> tuple[Any, Any]:
        user = self.state.user(team, user_id)
        channel = None
        if channel_id is not None:
            channel = self.state.find_channel(team, channel_id)
            if channel is None:
                raise FakeSlackError(f"unknown channel {channel_id!r} in {team.team_id}; add_channel first")
            if user_id not in channel.members:
                raise FakeSlackError(
                    f"user {user_id} is not a member of {channel.channel_id}: Slack only lets members act "
                    "there (pass members=[...] to add_channel)"
                )
        return user, channel

    def slash_command_payload(
        self, team: Team, *, text: str, user_id: str, channel_id: str, command: str = "/qc"
    ) -> dict[str, str]:
        """The form fields of a slash command, with a fresh response_url and trigger_id."""
        user, channel = self._user_and_channel(team, user_id, channel_id)
        response_url = self.hooks.issue(
            kind="commands", team_id=team.team_id, channel_id=channel.channel_id, user_id=user_id
        )
        return {
            "token": self.state.verification_token,
            "team_id": team.team_id,
            "team_domain": team.domain,
            "channel_id": channel.channel_id,
            "channel_name": "directmessage" if channel.is_im else channel.name,
            "user_id": user_id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": team.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": self.state.issue_trigger(team, user_id),
        }

    def resolve_source(self, source: Source | None) -> Message | Ephemeral | View | None:
        """A recorded message/ephemeral/view, from itself or from a payload dict (``ts`` or ``id``)."""
        if source is None or isinstance(source, Message | Ephemeral | View):
            return source
        if "id" in source and source["id"] in self.state.views:
            return self.state.views[source["id"]]
        ts = source.get("ts")
        candidates: list[Message | Ephemeral] = [*self.state.channel_messages, *self.state.ephemeral_messages]
        return next((candidate for candidate in candidates if candidate.ts == ts), None)

    def block_action_payload(
        self,
        team: Team,
        *,
        user_id: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
        channel_id: str | None = None,
        message: Source | None = None,
        view: Source | None = None,
        text: dict[str, Any] | None = None,
        action_type: str = "button",
    ) -> dict[str, Any]:
        """A ``block_actions`` payload, with a fresh trigger_id (and response_url for message sources)."""
        source = self.resolve_source(message if message is not None else view)
        if isinstance(source, Message | Ephemeral):
            channel_id = channel_id or source.channel_id
        user, channel = self._user_and_channel(team, user_id, channel_id)
        now = self.state.now()
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user.name, "name": user.name, "team_id": team.team_id},
            "api_app_id": team.app_id,
            "token": self.state.verification_token,
            "container": {},
            "trigger_id": self.state.issue_trigger(team, user_id),
            "team": {"id": team.team_id, "domain": team.domain},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if channel is not None:
            payload["channel"] = {
                "id": channel.channel_id,
                "name": "directmessage" if channel.is_im else channel.name,
            }
        if isinstance(source, View) or (source is None and view is not None):
            view_dict = copy.deepcopy(source.view if isinstance(source, View) else view)
            assert isinstance(view_dict, dict)
            payload["container"] = {"type": "view", "view_id": view_dict.get("id")}
            payload["view"] = view_dict
        elif source is not None or message is not None or channel is not None:
            is_ephemeral = isinstance(source, Ephemeral)
            message_ts = source.ts if source is not None else (message or {}).get("ts")  # type: ignore[union-attr]
            payload["container"] = {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel.channel_id if channel else None,
                "is_ephemeral": is_ephemeral,
            }
            if isinstance(source, Message):
                payload["message"] = source.to_payload()
            elif source is None and isinstance(message, dict):
                payload["message"] = copy.deepcopy(message)
            if channel is not None:
                payload["response_url"] = self.hooks.issue(
                    kind="actions",
                    team_id=team.team_id,
                    channel_id=channel.channel_id,
                    user_id=user_id,
                    source=source if isinstance(source, Message | Ephemeral) else None,
                )
        payload["state"] = {"values": {}}
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id or self.state.new_block_id(),
            "type": action_type,
            "action_ts": f"{now:.6f}",
        }
        if text is not None:
            action["text"] = copy.deepcopy(text)
        if value is not None:
            action["value"] = value
        payload["actions"] = [action]
        return payload

    def find_button(
        self, source: Message | Ephemeral | View, action_id: str, block_id: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        """The ``(block_id, button)`` with that action_id; raise if absent or ambiguous."""
        if getattr(source, "deleted", False):
            raise FakeSlackError("that message has been deleted; its buttons can no longer be clicked")
        matches = [
            (bid, el)
            for bid, el in source.buttons()
            if el.get("action_id") == action_id and (block_id is None or bid == block_id)
        ]
        if not matches:
            available = [el.get("action_id") for _, el in source.buttons()]
            raise FakeSlackError(f"no button with action_id {action_id!r}; buttons there: {available}")
        if len(matches) > 1:
            raise FakeSlackError(f"{len(matches)} buttons have action_id {action_id!r}; pass block_id=")
        return matches[0]

    def event_envelope(self, team: Team, event: dict[str, Any]) -> dict[str, Any]:
        """An ``event_callback`` envelope for ``event``."""
        now = self.state.now()
        event = copy.deepcopy(event)
        event.setdefault("event_ts", f"{now:.6f}")
        return {
            "token": self.state.verification_token,
            "team_id": team.team_id,
            "api_app_id": team.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": self.state.ids.next_id("Ev", width=10),
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team.team_id,
                    "user_id": team.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{self.state.ids.short_block_id()}",
        }

    def app_home_opened_event(self, team: Team, *, user_id: str, tab: str = "home") -> dict[str, Any]:
        self.state.user(team, user_id)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.state.im_channel(team, user_id).channel_id,
            "tab": tab,
            "event_ts": f"{self.state.now():.6f}",
        }
        home = self.state.home_views.get(user_id)
        if home is not None and tab == "home":
            event["view"] = copy.deepcopy(home.view)
        return event

    # --- delivery ------------------------------------------------------------------------------

    async def deliver(
        self,
        url: str,
        body: bytes,
        *,
        kind: str,
        content_type: str,
        timestamp: int | str | None = None,
        signature: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> Delivery:
        """POST signed bytes to the bot as Slack would, and record the answer."""
        if self.session is None:
            raise FakeSlackError("the fake is not started: await fake.start() first")
        ts = str(int(self.state.now()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": content_type,
            "User-Agent": USER_AGENT,
            "Accept": "application/json,*/*",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature
            if signature is not None
            else sign(self.state.signing_secret, ts, body),
            **(extra_headers or {}),
        }
        started = time.monotonic()
        try:
            async with self.session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=self.ack_timeout)
            ) as resp:
                text = await resp.text()
                status, resp_headers = resp.status, dict(resp.headers)
        except TimeoutError:
            delivery = Delivery(
                kind=kind,
                url=url,
                request_body=body,
                request_headers=headers,
                status=None,
                headers={},
                text="",
                body=None,
                elapsed=time.monotonic() - started,
                timed_out=True,
            )
            self.state.deliveries.append(delivery)
            return delivery
        self.state.log_raw(
            f"HTTP/1.1 {status}\r\n".encode()
            + "".join(f"{k}: {v}\r\n" for k, v in resp_headers.items()).encode("utf-8", "replace")
            + b"\r\n"
            + text.encode()
        )
        parsed: Any = None
        if text:
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
        delivery = Delivery(
            kind=kind,
            url=url,
            request_body=body,
            request_headers=headers,
            status=status,
            headers=resp_headers,
            text=text,
            body=parsed,
            elapsed=time.monotonic() - started,
        )
        self.state.deliveries.append(delivery)
        return delivery

    def render_command_ack(
        self, team: Team, fields: dict[str, str], delivery_text: str, parsed: Any
    ) -> str | None:
        """Show a slash command's ack body like Slack: ephemeral unless ``response_type: in_channel``.

        Returns an error description when Slack would refuse to show it."""
        if not delivery_text.strip():
            return None
        if isinstance(parsed, dict):
            text, blocks = parsed.get("text") or "", parsed.get("blocks")
            if blocks is not None:
                problems = validate_blocks(blocks, max_blocks=MESSAGE_MAX_BLOCKS)
                if problems:
                    return "invalid_blocks: " + "; ".join(problems)
            if not text and not blocks:
                return None
            response_type = parsed.get("response_type")
        else:
            text, blocks, response_type = delivery_text, None, None
        channel = team.channels[fields["channel_id"]]
        if response_type == "in_channel":
            self.state.post_message(team, channel, text=text, blocks=blocks, attachments=None, via="ack")
        else:
            answer = self.state.post_ephemeral(
                team, channel, fields["user_id"], text=text, blocks=blocks, attachments=None, via="ack"
            )
            if fields.get("response_url"):
                self.hooks.answered_with(fields["response_url"], answer)
        return None

    @staticmethod
    def form_body(fields: dict[str, str]) -> bytes:
        """URL-encode once, ``+`` for spaces, as Slack does."""
        return urlencode(fields).encode()
