"""The fake's world: workspaces, tokens, triggers and everything the bot produced."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from .blocks import normalise_blocks
from .clock import Clock
from .ids import IdFactory
from .models import (
    DEFAULT_SCOPES,
    CallRecord,
    Channel,
    Delivery,
    Ephemeral,
    FakeSlackError,
    HookPost,
    Message,
    SocketAck,
    Team,
    TokenInfo,
    User,
    View,
)

TRIGGER_TTL_SECONDS = 3.0


@dataclass(eq=False)
class Trigger:
    trigger_id: str
    team_id: str
    user_id: str
    issued_at: float
    used: bool = False


class SlackState:
    """Shared by the Web API, the driver, response URLs, OAuth and Socket Mode."""

    def __init__(self, *, signing_secret: str, clock: Clock) -> None:
        if not signing_secret:
            raise ValueError("signing_secret must not be empty")
        self.signing_secret = signing_secret
        self.clock = clock
        self.ids = IdFactory()
        self.app_id = self.ids.next_id("A", width=9)
        self.verification_token = self.ids.short_block_id() + self.ids.short_block_id() + "fakeverify"
        self.teams: dict[str, Team] = {}
        self.tokens: dict[str, TokenInfo] = {}
        self.triggers: dict[str, Trigger] = {}
        self.calls: list[CallRecord] = []
        self.channel_messages: list[Message] = []
        self.ephemeral_messages: list[Ephemeral] = []
        self.views: dict[str, View] = {}
        self.opened_views: list[View] = []
        self.home_views: dict[str, View] = {}
        self.hook_posts: list[HookPost] = []
        self.deliveries: list[Delivery] = []
        self.socket_acks: list[SocketAck] = []
        self.raw_log: list[bytes] = []
        self.base_url = ""
        self.orphan_replies: Literal["refuse", "top_level"] = "refuse"
        """What ``chat.postMessage`` does with a ``thread_ts`` naming no message of the channel. Slack does not
        document it; the fake refuses (``thread_not_found``) by default, the conservative reading, and can post
        such a message top-level instead."""

    # --- time and raw traffic -------------------------------------------------------------------

    def now(self) -> float:
        return float(self.clock())

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()

    def log_raw(self, data: bytes) -> None:
        """Remember bytes the bot sent to the fake (requests, acks, socket frames)."""
        self.raw_log.append(data)

    # --- workspace ------------------------------------------------------------------------------

    def add_team(self, *, team_id: str | None, name: str, domain: str, scopes: set[str] | None) -> Team:
        team_id = team_id or self.ids.next_id("T", taken=self.teams)
        if team_id in self.teams:
            raise FakeSlackError(f"team {team_id} already exists")
        number = self.ids.counter("team")
        taken = self._all_user_ids()
        bot_user_id = self.ids.next_id("U", taken=taken)
        team = Team(
            team_id=team_id,
            name=name,
            domain=domain,
            app_id=self.app_id,
            bot_user_id=bot_user_id,
            bot_id=self.ids.next_id("B"),
            bot_token="",
            number=number,
            scopes=set(DEFAULT_SCOPES if scopes is None else scopes),
        )
        self.teams[team_id] = team
        team.users[bot_user_id] = User(
            user_id=bot_user_id, team_id=team_id, name=team.bot_name, real_name="QC Bot", is_bot=True
        )
        self.issue_bot_token(team)
        return team

    def issue_bot_token(self, team: Team) -> str:
        token = self.ids.bot_token(team.number)
        self.tokens[token] = TokenInfo(
            token=token, kind="bot", team_id=team.team_id, user_id=team.bot_user_id
        )
        team.bot_token = token
        return token

    def _all_user_ids(self) -> set[str]:
        return {uid for team in self.teams.values() for uid in team.users}

    def team_of(self, team: Team | str | None, default: Team) -> Team:
        if team is None:
            return default
        if isinstance(team, Team):
            return team
        if team not in self.teams:
            raise FakeSlackError(f"unknown team {team!r}; add it with fake.add_team(...)")
        return self.teams[team]

    def add_user(self, team: Team, **fields: Any) -> User:
        user_id = fields.pop("user_id", None) or self.ids.next_id("U", taken=self._all_user_ids())
        if user_id in team.users:
            raise FakeSlackError(f"user {user_id} already exists in {team.team_id}")
        name = fields.pop("name", None) or user_id.lower()
        real_name = fields.pop("real_name", None) or name
        user = User(user_id=user_id, team_id=team.team_id, name=name, real_name=real_name, **fields)
        team.users[user_id] = user
        return user

    def add_channel(
        self,
        team: Team,
        *,
        channel_id: str | None,
        name: str,
        is_private: bool,
        members: list[str] | None,
        bot_is_member: bool,
    ) -> Channel:
        channel_id = channel_id or self.ids.next_id("G" if is_private else "C", taken=team.channels)
        if channel_id in team.channels:
            raise FakeSlackError(f"channel {channel_id} already exists in {team.team_id}")
        for member in members or []:
            if member not in team.users:
                raise FakeSlackError(f"member {member} is not a user of {team.team_id}; add_user first")
        channel = Channel(
            channel_id=channel_id,
            team_id=team.team_id,
            name=name,
            is_private=is_private,
            members=set(members or []),
            bot_is_member=bot_is_member,
            created=int(self.now()),
        )
        team.channels[channel_id] = channel
        return channel

    def im_channel(self, team: Team, user_id: str) -> Channel:
        """The app's DM with ``user_id`` (Slack opens it on first use)."""
        for channel in team.channels.values():
            if channel.is_im and channel.members == {user_id}:
                return channel
        channel = Channel(
            channel_id=self.ids.next_id("D", taken=team.channels),
            team_id=team.team_id,
            name=user_id,
            is_im=True,
            is_private=True,
            members={user_id},
            bot_is_member=True,
            created=int(self.now()),
        )
        team.channels[channel.channel_id] = channel
        return channel

    def find_channel(self, team: Team, ref: Any) -> Channel | None:
        """A channel by id, ``#name``/name, or a user id (meaning the app's DM with that user)."""
        if not isinstance(ref, str) or not ref:
            return None
        if ref in team.channels:
            return team.channels[ref]
        if ref in team.users and not team.users[ref].is_bot:
            return self.im_channel(team, ref)
        name = ref[1:] if ref.startswith("#") else ref
        for channel in team.channels.values():
            if not channel.is_im and channel.name == name:
                return channel
        return None

    def user(self, team: Team, user_id: str) -> User:
        if user_id not in team.users:
            raise FakeSlackError(
                f"unknown user {user_id!r} in {team.team_id}; add it with fake.add_user(...)"
            )
        return team.users[user_id]

    def channel(self, team: Team, channel_id: str) -> Channel:
        channel = team.channels.get(channel_id)
        if channel is None:
            raise FakeSlackError(
                f"unknown channel {channel_id!r} in {team.team_id}; add it with fake.add_channel(...)"
            )
        return channel

    # --- triggers ---------------------------------------------------------------------------------

    def issue_trigger(self, team: Team, user_id: str) -> str:
        now = self.now()
        trigger_id = self.ids.trigger_id(now)
        self.triggers[trigger_id] = Trigger(trigger_id, team.team_id, user_id, now)
        return trigger_id

    # --- what the app produced -------------------------------------------------------------------

    def new_block_id(self) -> str:
        return self.ids.short_block_id()

    def normalise(self, blocks: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        return normalise_blocks(blocks or [], self.new_block_id)

    def post_message(
        self,
        team: Team,
        channel: Channel,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None,
        attachments: list[dict[str, Any]] | None,
        via: str,
        thread_ts: str | None = None,
        params: dict[str, Any] | None = None,
        reply_broadcast: bool = False,
    ) -> Message:
        now = self.now()
        message = Message(
            team_id=team.team_id,
            channel_id=channel.channel_id,
            ts=self.ids.next_ts(now),
            text=text,
            blocks=self.normalise(blocks),
            attachments=list(attachments or []),
            user=team.bot_user_id,
            bot_id=team.bot_id,
            app_id=team.app_id,
            via=via,
            posted_at=now,
            thread_ts=thread_ts,
            params=dict(params or {}),
            reply_broadcast=reply_broadcast and thread_ts is not None,
        )
        self.channel_messages.append(message)
        return message

    def update_message(
        self,
        message: Message,
        *,
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        attachments: list[dict[str, Any]] | None,
    ) -> None:
        now = self.now()
        message.history.append(
            {
                "text": message.text,
                "blocks": message.blocks,
                "attachments": message.attachments,
                "edited_ts": self.ids.next_ts(now),
                "at": now,
            }
        )
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = self.normalise(blocks)
        if attachments is not None:
            message.attachments = list(attachments)

    def post_ephemeral(
        self,
        team: Team,
        channel: Channel,
        user_id: str,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None,
        attachments: list[dict[str, Any]] | None,
        via: str,
    ) -> Ephemeral:
        now = self.now()
        ephemeral = Ephemeral(
            team_id=team.team_id,
            channel_id=channel.channel_id,
            user_id=user_id,
            ts=self.ids.next_ts(now),
            text=text,
            blocks=self.normalise(blocks),
            attachments=list(attachments or []),
            via=via,
            posted_at=now,
        )
        self.ephemeral_messages.append(ephemeral)
        return ephemeral

    def replace_ephemeral(
        self, ephemeral: Ephemeral, *, text: str, blocks: list[dict[str, Any]] | None
    ) -> None:
        ephemeral.history.append({"text": ephemeral.text, "blocks": ephemeral.blocks, "at": self.now()})
        ephemeral.text = text
        ephemeral.blocks = self.normalise(blocks)

    def find_message(self, channel_id: str, ts: str) -> Message | None:
        for message in reversed(self.channel_messages):
            if message.channel_id == channel_id and message.ts == ts:
                return message
        return None
