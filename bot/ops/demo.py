"""`qc-bot demo`: the whole connect-org journey on this machine, with stand-ins for Slack and Salesforce.

The real bot (`create_web_app`, fast timings, a database in a temporary folder) runs on loopback between
the two stand-ins the tests use. The demo plays Ada, a workspace admin: a signed slash command, her browser
through the bot to Salesforce and back, then the channel's status message and her private reveal. It prints
what the channel and Ada see, the expiry warnings the next 90 days would bring, and removes everything it
made. No account, configuration or network is needed, and it ends by itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
import secrets
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO, TypeVar
from urllib.parse import parse_qsl, urljoin, urlsplit

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet

from bot.app import create_web_app
from bot.clock import ManualClock
from bot.config import Settings, load_settings
from bot.messages import pages
from bot.messages.actions import ACTION_REVEAL
from bot.redaction import configure_logging, mask, redact
from bot.services import SERVICES_KEY, Services
from bot.slack.manifest import SLACK_EVENTS_PATH
from bot.timings import fast_timings
from bot.watch.expiry import warning_schedule
from standins.salesforce import FakeOrg, FakeSalesforce
from standins.slack import Ephemeral, FakeSlack, Message, View, render_blocks
from storage.tracked_tokens import TrackedToken

ADMIN = "UADA000001"
ADMIN_NAME = "Ada Admin"
CHANNEL = "CSFADMINS1"
CHANNEL_NAME = "salesforce-admins"
ORG_NAME = "Acme Corp"
BOT_CLIENT_ID = "3MVG9qcbotDemoClientId0123456789"
OUTLOOK_DAYS = 90
WAIT_SECONDS = 30.0
PROPAGATION_MINUTES = 2
"""The Salesforce stand-in's default propagation time of a new app (`FakeOrg.credentials_propagation`)."""
T = TypeVar("T")


class Transcript:
    """What the demo prints: numbered steps, and Slack/browser content indented under them."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def say(self, text: str = "") -> None:
        print(text, file=self._out, flush=True)

    def shown(self, lines: list[str]) -> None:
        for line in lines:
            for part in line.splitlines() or [""]:
                self.say(f"   │ {part}")


async def run_demo(*, out: TextIO) -> None:
    transcript = Transcript(out)
    folder = Path(tempfile.mkdtemp(prefix="qc-bot-demo-"))
    try:
        async with AsyncExitStack() as running:
            await _rehearse(transcript, folder, running)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    transcript.say(f"Stopped the stand-ins and qc-bot, and deleted {folder} (the demo's database). Nothing else was "
                   "written.")
    transcript.say("Next: connect your own workspace, see README.md \"Run it for your workspace\" (qc-bot manifest, "
                   "qc-bot doctor, qc-bot serve).")


async def _rehearse(transcript: Transcript, folder: Path, running: AsyncExitStack) -> None:
    say = transcript.say
    slack = FakeSlack(signing_secret=secrets.token_urlsafe(24))
    await slack.start()
    running.push_async_callback(slack.stop)
    slack.add_user(user_id=ADMIN, name="ada", real_name=ADMIN_NAME, is_admin=True, email="ada@acme.example")
    slack.add_channel(channel_id=CHANNEL, name=CHANNEL_NAME, members=[ADMIN])
    # One clock for qc-bot and Salesforce, so the demo can skip the minutes Salesforce takes to accept a new app.
    clock = ManualClock()
    salesforce = FakeSalesforce(clock=clock.now)
    org = salesforce.add_org(name=ORG_NAME, admin_username="ada@acme.example")
    await salesforce.start()
    running.push_async_callback(salesforce.stop)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    bot_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings = _demo_settings(slack=slack, salesforce=salesforce, bot_url=bot_url, folder=folder)
    salesforce.register_client(client_id=BOT_CLIENT_ID, client_secret=settings.salesforce_client_secret.reveal(),
                               redirect_uris=[settings.oauth_callback_url], label="qc-bot")
    web_app = await create_web_app(settings, clock=clock, timings=fast_timings())
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    running.push_async_callback(runner.cleanup)
    await web.SockSite(runner, listener).start()

    say("qc-bot demo: /qc connect-org, rehearsed on this machine with stand-ins for Slack and Salesforce.")
    say("No account, configuration or network is needed; everything below ran over HTTP on 127.0.0.1.")
    say()
    say(f"Running: qc-bot at {bot_url} (database {settings.db_path}), the Slack stand-in at {slack.base_url},")
    say(f"         the Salesforce stand-in at {salesforce.login_url} (login) and {org.my_domain_url} ({ORG_NAME}).")
    say()

    names = {ADMIN: ADMIN_NAME}
    events_url = bot_url + SLACK_EVENTS_PATH
    say(f"1. {ADMIN_NAME}, a workspace admin, types in #{CHANNEL_NAME}:  /qc connect-org")
    await slack.send_slash_command(events_url, text="connect-org", user_id=ADMIN, channel_id=CHANNEL)
    prompt = await _wait(slack, lambda: [e for e in slack.ephemerals(ADMIN) if "/salesforce/oauth/start" in e.text],
                         "the authorization link")
    say(f"   qc-bot acknowledges within Slack's 3 seconds and answers privately (only {ADMIN_NAME} sees this):")
    transcript.shown(_rendered(prompt[0], names))
    link = re.search(r"https?://[^\s|>]+/salesforce/oauth/start\?link=[\w=-]+", prompt[0].text)
    assert link is not None

    say()
    say(f"2. {ADMIN_NAME} clicks \"Authorize in Salesforce\". Her browser goes through qc-bot to Salesforce and back:")
    page = await _browse(transcript, link.group(0), known={bot_url: "qc-bot", salesforce.login_url: "Salesforce"})
    say("   The page she lands on says:")
    transcript.shown(page)

    say()
    card = (await _wait(slack, lambda: slack.messages(CHANNEL), "the org's card"))[0]
    status = await _wait(slack, lambda: [card] if "Sign-in:" in card.text else [], "the card set up")
    say(f"3. As soon as the authorization succeeds, qc-bot posts the org's card in #{CHANNEL_NAME}:")
    transcript.shown(_rendered(_first_version(card), names))
    say(f"   It sets up the QualityClouds app in {ORG_NAME} and edits the same card in place. Everyone in the channel")
    say("   sees this; the consumer key and secret are masked:")
    transcript.shown(_rendered(status[0], names))
    say()
    say("   qc-bot now signs in with the app's own key and secret, as Quality Clouds will. Salesforce takes a few")
    say(f"   minutes to accept a new app; the demo skips ahead {PROPAGATION_MINUTES} minutes. The same card, "
        "edited in place again:")
    clock.advance(timedelta(minutes=PROPAGATION_MINUTES))
    proved = await _wait(slack, lambda: [m for m in slack.messages(CHANNEL) if "Sign-in:" in m.text
                                         and "⏳" not in m.text], "the proved sign-in")
    transcript.shown([line for line in _rendered(proved[-1], names) if "Sign-in:" in line])

    say()
    offer = (await _wait(slack, lambda: [e for e in slack.ephemerals(ADMIN) if ACTION_REVEAL in str(e.blocks)],
                         "the reveal offer"))[-1]
    say(f"4. Only {ADMIN_NAME} sees this (an ephemeral message):")
    transcript.shown(_rendered(offer, names))

    say()
    await slack.click(events_url, message=offer, action_id=ACTION_REVEAL, user_id=ADMIN)
    modal = (await _wait(slack, lambda: slack.opened_views, "the credentials window"))[-1]
    say(f"5. {ADMIN_NAME} clicks \"Reveal credentials\". A private window opens for her alone, once. These are the")
    say("   only full values qc-bot ever shows (here: the stand-in org's throwaway credentials):")
    transcript.shown(_rendered(modal, names, redacted=False))
    after = await _wait(slack, lambda: [e for e in slack.ephemerals(ADMIN) if "cannot be shown again" in e.text],
                        "the reveal confirmation")
    say("   Her private message now reads (the button is gone; a replayed click is refused and audited):")
    transcript.shown(_rendered(after[-1], names))
    say()
    await _warning_in_the_thread(transcript, slack=slack, clock=clock, org=org, card=card, names=names,
                                 services=web_app[SERVICES_KEY])
    say()
    _print_outlook(transcript, settings)
    say()


async def _warning_in_the_thread(transcript: Transcript, *, slack: FakeSlack, clock: ManualClock, org: FakeOrg,
                                 card: Message, names: dict[str, str], services: Services) -> None:
    """Quality Clouds signs in with the app; the demo skips to 30 days before that token expires, when its first
    warning arrives in the card's thread."""
    settings = services.settings
    team_id = slack.team.team_id

    async def checked_since_provisioning() -> bool:
        sync = await services.store.run(lambda repos: repos.tracked_tokens.sync_of(team_id=team_id, org_id=org.id))
        return sync is not None and sync.next_sync_at is not None and sync.next_sync_at > clock.now()

    # The provisioning asked for a check of the org at once. One still reading the org when the clock moves below
    # would miss the new token and schedule its successor an interval after the move, so nothing would read it.
    await slack.wait_for(checked_since_provisioning, timeout=WAIT_SECONDS,  # type: ignore[arg-type]  # T | Awaitable[T] confuses mypy
                         what="the org's first check")
    issued = clock.now()
    org.issue_app_token("QualityClouds", user=org.admin, created=issued)
    clock.advance(settings.token_sync_interval)  # qc-bot's next token sync finds the new token

    async def app_tokens() -> list[TrackedToken]:
        tokens = await services.store.run(lambda repos: repos.tracked_tokens.for_org(team_id=team_id,
                                                                                      org_id=org.id))
        return [token for token in tokens if token.kind == "app"]

    await slack.wait_for(app_tokens, timeout=WAIT_SECONDS,  # type: ignore[arg-type]  # T | Awaitable[T] confuses mypy
                         what="the QualityClouds token tracked")
    policy = settings.desired_app.refresh_token_policy
    expires_at = policy.expires_at(issued_at=issued, last_used_at=None)
    if expires_at is None:
        return
    first = max(settings.expiry_warn_days)
    clock.set(expires_at - timedelta(days=first) + timedelta(minutes=1))
    reply = (await _wait(slack, lambda: [m for m in slack.messages(CHANNEL) if m.thread_ts == card.ts],
                         "the warning in the card's thread"))[0]
    transcript.say(f"6. Quality Clouds signs in with those credentials. The demo skips ahead to {first} days before "
                   "its")
    transcript.say(f"   refresh token expires; the warning arrives as a reply in the thread of {ORG_NAME}'s card:")
    transcript.shown(_rendered(reply, names))

def _first_version(message: Message) -> Message:
    """The message as it was first posted (`history` keeps each version an edit replaced)."""
    if not message.history:
        return message
    first = message.history[0]
    return dataclasses.replace(message, text=first["text"], blocks=first["blocks"])


def _demo_settings(*, slack: FakeSlack, salesforce: FakeSalesforce, bot_url: str, folder: Path) -> Settings:
    """The bot's configuration for the rehearsal, built here: the environment and `.env` are not read."""
    return load_settings(dotenv=None, environ={
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_BOT_TOKEN": slack.team.bot_token,
        "SLACK_API_URL": slack.api_url,
        "QC_PUBLIC_URL": bot_url,
        "SALESFORCE_CLIENT_ID": BOT_CLIENT_ID,
        "SALESFORCE_CLIENT_SECRET": secrets.token_urlsafe(24),
        "SALESFORCE_LOGIN_URL": salesforce.login_url,
        "SALESFORCE_SANDBOX_LOGIN_URL": salesforce.sandbox_login_url,
        "SALESFORCE_ALLOWED_HOSTS": ",".join(salesforce.allowed_hosts),
        "QC_DB_PATH": str(folder / "qc-bot.db"),
        "QC_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "QC_LOG_LEVEL": "WARNING",
    })


def _print_outlook(transcript: Transcript, settings: Settings) -> None:
    policy = settings.desired_app.refresh_token_policy
    today = datetime.now(UTC)
    expires_at = policy.expires_at(issued_at=today, last_used_at=None)
    planned = warning_schedule(policy=policy, issued_at=today, last_used_at=None,
                               warn_days=settings.expiry_warn_days, until=today + timedelta(days=OUTLOOK_DAYS))
    thresholds = ",".join(str(days) for days in settings.expiry_warn_days)
    transcript.say(f"Expiry warnings over the next {OUTLOOK_DAYS} days (QC_REFRESH_TOKEN_POLICY: {policy.describe()}; "
                   f"QC_EXPIRY_WARN_DAYS={thresholds}):")
    if expires_at is None:
        transcript.say("   The app's refresh tokens never expire under this policy, so there is nothing to warn about.")
        return
    transcript.say(f"   If Quality Clouds connects with these credentials today ({today:%Y-%m-%d}), its refresh token "
                   f"expires on {expires_at:%Y-%m-%d}.")
    if not planned:
        transcript.say(f"   No warning falls within the next {OUTLOOK_DAYS} days.")
    for warning in planned:
        days = warning.days_before
        when = "on expiry" if days == 0 else f"{days} day{'' if days == 1 else 's'} before"
        where = "the card's thread, and the channel" if days == 0 else "the card's thread"
        transcript.say(f"   {warning.at:%Y-%m-%d}  {when:<18} → #{CHANNEL_NAME}, {where}: warning about {ORG_NAME}'s "
                       "QualityClouds token, with a Re-authorize button")


async def _browse(transcript: Transcript, url: str, *, known: dict[str, str]) -> list[str]:
    """Follow redirects like a browser, and the "Continue to Salesforce" link of qc-bot's page before Salesforce
    like Ada, printing each hop; return the final page's heading and paragraphs."""
    async with aiohttp.ClientSession() as browser:
        for _ in range(6):
            async with browser.get(url, allow_redirects=False) as response:
                body = await response.text()
                location = response.headers.get("Location")
            server = next((name for base, name in known.items() if url.startswith(base)), "")
            transcript.say(f"   GET {_shown_url(url)}")
            transcript.say(f"       {server} answers {response.status}" + (" (a redirect)" if location else ""))
            clicked = re.search(f'id="{pages.CONTINUE_ID}" href="([^"]+)"', body) if not location else None
            if clicked:
                location = html.unescape(clicked.group(1))
                transcript.say("       (a page naming the workspace, channel and requester; she clicks \"Continue to "
                               "Salesforce\")")
            if not location:
                return [html.unescape(re.sub(r"<[^>]+>", "", part))
                        for part in re.findall(r"<h1>(.*?)</h1>|<p>(.*?)</p>", body) for part in part if part]
            url = urljoin(url, location)
    raise RuntimeError("too many redirects")


def _shown_url(url: str) -> str:
    """A URL with its one-time values masked: links, codes and states are as good as passwords."""
    parts = urlsplit(url)
    query = "&".join(f"{key}={mask(value) if key in ('link', 'code', 'state', 'code_challenge') else value}"
                     for key, value in parse_qsl(parts.query))
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")


def _rendered(item: Message | Ephemeral | View, names: dict[str, str], *, redacted: bool = True) -> list[str]:
    """Block Kit as plain lines: fields as `label: value`, mrkdwn emphasis dropped, user mentions named."""
    lines = []
    for block_line in render_blocks(item.blocks) if item.blocks else [getattr(item, "text", "")]:
        if block_line.startswith("  ") and "\n" in block_line:
            label, *value = block_line.strip().split("\n")
            block_line = f"  {label} {' '.join(value)}" if label.endswith(":*") else f"  {label}: {' '.join(value)}"
        lines.append(block_line)
    text = re.sub(r"```|`|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])", "", "\n".join(lines))
    for user_id, name in names.items():
        text = text.replace(f"<@{user_id}>", f"@{name}")
    if not redacted:
        return text.splitlines()
    return redact(re.sub(r"https?://[^\s|>]+", lambda url: _shown_url(url.group(0)), text)).splitlines()


async def _wait(slack: FakeSlack, predicate: Callable[[], T], what: str) -> T:
    return await slack.wait_for(predicate, timeout=WAIT_SECONDS, what=what)


def main() -> int:
    configure_logging(level="WARNING", stream=sys.stderr)
    asyncio.run(run_demo(out=sys.stdout))
    return 0
