"""A faithful fake Slack for tests and the local demo: a real aiohttp server on loopback.

    async with FakeSlack(signing_secret="...") as fake:
        fake.add_user(user_id="U1", name="ada", is_admin=True)
        fake.add_channel(channel_id="C1", name="general", members=["U1"])
        client = AsyncWebClient(base_url=fake.api_url, token=fake.team.bot_token)   # the bot's side
        await fake.send_slash_command(bot_url, text="help", user_id="U1", channel_id="C1")  # Slack's side
        await fake.wait_for(lambda: fake.ephemerals("U1"))

See ``FakeSlack`` for the whole API.
"""

from .blocks import validate_blocks, validate_view
from .clock import Clock, ManualClock
from .driver import sign
from .models import (
    BrowserResult,
    CallRecord,
    Channel,
    Delivery,
    Ephemeral,
    FakeSlackError,
    HookPost,
    Message,
    SocketAck,
    Team,
    User,
    View,
    WaitTimeout,
)
from .render import render, render_blocks
from .server import FakeSlack

__all__ = [
    "BrowserResult",
    "CallRecord",
    "Channel",
    "Clock",
    "Delivery",
    "Ephemeral",
    "FakeSlack",
    "FakeSlackError",
    "HookPost",
    "ManualClock",
    "Message",
    "SocketAck",
    "Team",
    "User",
    "View",
    "WaitTimeout",
    "render",
    "render_blocks",
    "sign",
    "validate_blocks",
    "validate_view",
]
