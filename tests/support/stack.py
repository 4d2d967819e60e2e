"""The whole system on loopback: the real qc-bot web app over HTTP, between the Slack and Salesforce stand-ins.

Nothing of the bot is mocked; tests talk to it only the way Slack and a browser would.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet

from bot.app import create_web_app
from bot.clock import ManualClock
from bot.config import Settings, load_settings
from bot.messages.actions import ACTION_AUTHORIZATION_CONFIRM
from bot.timings import Timings, fast_timings
from standins.salesforce import FakeOrg, FakeSalesforce
from standins.slack import Delivery, FakeSlack
from storage.database import sqlite_url
from tests.support.cli import REPO_ROOT
from tests.support.database import engine_of, run, stored_bytes
from tests.support.ports import free_port

SIGNING_SECRET = "slack-signing-secret-0123456789abcdef"
BOT_CLIENT_ID = "3MVG9qcbotClientIdForTests0123456789"
BOT_CLIENT_SECRET = "QCBOTCLIENTSECRET0123456789ABCDEF"
ADMIN = "UADMIN0001"
MEMBER = "UMEMBER001"
CHANNEL = "CQCCHAN001"
FAST_PROCESS = {"QC_TIMINGS": "fast"}
"""The environment that runs a `qc-bot serve` process on the tests' timings (README, Configuration): a test that
kills and restarts one waits a second for it to resume, not production's lease lifetime and deploy polls."""
CARD_SETTING_UP = "⏳ Setting up QualityClouds in"
"""How the text of an org's card begins while its journey is under way (bot.messages.org_card_setting_up)."""


@dataclass
class Hop:
    url: str
    status: int
    location: str | None
    body: str


@dataclass
class BrowserVisit:
    hops: list[Hop] = field(default_factory=list)

    @property
    def final(self) -> Hop:
        return self.hops[-1]


class Stack:
    def __init__(self, tmp_path: Path, *, database_url: str | None = None, env: dict[str, str] | None = None,
                 timings: Timings | None = None) -> None:
        self.tmp_path = tmp_path
        self.db_path = tmp_path / "qc-bot.db"
        self.database_url = database_url or sqlite_url(self.db_path)
        self._database = engine_of(self.database_url)
        self.encryption_key = Fernet.generate_key().decode()
        self.extra_env = env or {}
        self.timings = timings or fast_timings()
        self.clock = ManualClock(datetime.now(UTC))
        self.slack = FakeSlack(signing_secret=SIGNING_SECRET)
        self.salesforce = FakeSalesforce(clock=self.clock.now)  # one clock: token lifetimes agree on both sides
        self.org: FakeOrg = self.salesforce.add_org(name="Acme Corp", admin_username="admin@acme.example")
        self.settings: Settings | None = None
        self.bot_url = ""
        self._runner: web.AppRunner | None = None
        self._log = io.StringIO()
        self._log_handler = logging.StreamHandler(self._log)
        self.browser: aiohttp.ClientSession | None = None
        self._port = 0
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, *, in_process: bool = True) -> Stack:
        self._log_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        root = logging.getLogger()
        self._previous_level = root.level
        root.addHandler(self._log_handler)
        root.setLevel(logging.DEBUG)
        await self.slack.start()
        self.slack.add_user(user_id=ADMIN, name="ada", real_name="Ada Admin", is_admin=True,
                            email="admin@acme.example")  # the same person as the org's admin
        self.slack.add_user(user_id=MEMBER, name="bob", real_name="Bob Member")
        self.slack.add_channel(channel_id=CHANNEL, name="salesforce-admins", members=[ADMIN, MEMBER])
        try:
            await self.salesforce.start()
            self.browser = aiohttp.ClientSession()
            if in_process:
                await self.start_bot()
            else:
                await self.start_bot_process()
        except BaseException:
            await self.stop()  # a start that fails must not leave servers or logging behind for later tests
            raise
        return self

    def bot_environment(self) -> dict[str, str]:
        """The bot's configuration, as an operator would set it, for the bot at `self.bot_url`."""
        return {
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": self.slack.team.bot_token,
            "SLACK_API_URL": self.slack.api_url,
            "QC_PUBLIC_URL": self.bot_url,
            "SALESFORCE_CLIENT_ID": BOT_CLIENT_ID,
            "SALESFORCE_CLIENT_SECRET": BOT_CLIENT_SECRET,
            "SALESFORCE_LOGIN_URL": self.salesforce.login_url,
            "SALESFORCE_SANDBOX_LOGIN_URL": self.salesforce.sandbox_login_url,
            "SALESFORCE_ALLOWED_HOSTS": ",".join(self.salesforce.allowed_hosts),
            # As an operator configures it: the SQLite file by its path, PostgreSQL by DATABASE_URL.
            **({"QC_DB_PATH": str(self.db_path)} if self.database_url == sqlite_url(self.db_path)
               else {"DATABASE_URL": self.database_url}),
            "QC_ENCRYPTION_KEYS": self.encryption_key,
            **self.extra_env,
        }

    def _listening_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))  # a restarted bot keeps its URL, as a real deployment does
        self._port = sock.getsockname()[1]
        self.bot_url = f"http://127.0.0.1:{self._port}"
        return sock

    def _register_bot_client(self) -> None:
        assert self.settings is not None
        if not self.salesforce_client_registered:
            self.salesforce.register_client(client_id=BOT_CLIENT_ID, client_secret=BOT_CLIENT_SECRET,
                                            redirect_uris=[self.settings.oauth_callback_url], label="qc-bot")
            self.salesforce_client_registered = True

    async def start_bot(self) -> None:
        """Run the bot's web app in this process (so tests can move its clock)."""
        sock = self._listening_socket()
        self.settings = load_settings(environ=self.bot_environment(), dotenv=None)
        self._register_bot_client()
        app = await create_web_app(self.settings, clock=self.clock, timings=self.timings)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def start_bot_process(self, *, log_level: str = "DEBUG", open_files: int | None = None) -> None:
        """Run `qc-bot serve` as a real process, configured through its environment, and wait until it serves;
        `open_files` sets its file-descriptor limit (soft and hard), as a small container would."""
        if not self._port:
            self._port = free_port()  # unbound until the process binds it, and again across a kill and restart
        self._listening_socket().close()
        # Named by its port, as a replica by a name that outlives restarts (Heroku's $DYNO): a process started again
        # after a kill takes back its predecessor's claims and leases at once, instead of waiting for them to lapse.
        environment = {**os.environ, "QC_INSTANCE_ID": f"serve:{self._port}", **self.bot_environment(),
                       "PORT": str(self._port), "QC_LOG_LEVEL": log_level, "PYTHONPATH": str(REPO_ROOT)}
        self.settings = load_settings(environ=environment, dotenv=None)
        self._register_bot_client()
        log = open(self.tmp_path / "serve.log", "ab")  # noqa: SIM115 - handed to the child process
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "serve", env=environment, cwd=self.tmp_path, stdout=log,
            stderr=subprocess.STDOUT, preexec_fn=None if open_files is None else lambda: _limit_files(open_files))
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                async with self.browser.get(self.bot_url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            assert self._process.returncode is None, (self.tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "qc-bot serve did not come up"
            await asyncio.sleep(0.05)

    async def kill_bot_process(self) -> None:
        """SIGKILL: no shutdown handler runs, exactly like a crash or an OOM kill."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        await self._process.wait()
        self._process = None

    def process_log(self) -> str:
        path = self.tmp_path / "serve.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    salesforce_client_registered = False

    async def stop_bot(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def app(self) -> web.Application:
        """The in-process bot's aiohttp application (for the few tests that drive a sweep directly)."""
        assert self._runner is not None
        return self._runner.app

    async def restart_bot(self) -> None:
        await self.stop_bot()
        await self.start_bot()

    async def stop(self) -> None:
        if self._process is not None:
            await self.kill_bot_process()
        await self.stop_bot()
        if self.browser is not None:
            await self.browser.close()
        await self.salesforce.stop()
        await self.slack.stop()
        self._database.dispose()
        root = logging.getLogger()
        root.removeHandler(self._log_handler)
        root.setLevel(self._previous_level)

    # -- Slack's side ------------------------------------------------------------------------------------------

    @property
    def events_url(self) -> str:
        return self.bot_url + "/slack/events"

    async def slash(self, text: str, *, user: str = ADMIN, **options: Any) -> Delivery:
        return await self.slack.send_slash_command(self.events_url, text=text, user_id=user, channel_id=CHANNEL,
                                                   **options)

    async def request_link(self, text: str = "connect-org", *, user: str = ADMIN) -> str:
        """Run the slash command and return the private authorization link it answers with (in the
        acknowledgement, or through response_url when the bot first had to ask Slack who the user is)."""
        seen = len(self.slack.ephemerals(user))
        delivery = await self.slash(text, user=user)
        assert delivery.status == 200, delivery.text
        return await self.link_shown_after(seen, user=user)

    async def link_shown_after(self, seen: int, *, user: str = ADMIN) -> str:
        """The authorization link in the first of `user`'s private messages after the first `seen` of them."""
        answer = await self.slack.wait_for(
            lambda: next((e for e in self.slack.ephemerals(user)[seen:] if "/salesforce/oauth/start" in e.text),
                         None),
            what="the authorization link",
        )
        match = re.search(r"(http://[^\s\"'>|]+/salesforce/oauth/start\?link=[A-Za-z0-9_\-=]+)", answer.text)
        assert match, answer.text
        return match.group(1)

    # -- the browser ---------------------------------------------------------------------------------------------

    async def browse(self, url: str, *, max_hops: int = 6) -> BrowserVisit:
        """Follow up to `max_hops` redirects like a browser, recording every hop. On the bot's page before
        Salesforce the admin clicks "Continue to Salesforce": that hop has status 200 and the link as location."""
        assert self.browser is not None
        visit = BrowserVisit()
        for _ in range(max_hops):
            async with self.browser.get(url, allow_redirects=False) as response:
                location = response.headers.get("Location")
                body = await response.text()
            if response.status == 200 and location is None:
                location = continue_link(body)
            visit.hops.append(Hop(url, response.status, location, body))
            if response.status not in (200, 301, 302, 303, 307) or not location:
                return visit
            url = urljoin(url, location)
        return visit

    async def connect(self, text: str = "connect-org", *, user: str = ADMIN) -> BrowserVisit:
        return await self.browse(await self.request_link(text, user=user))

    async def question_about_authorization(self, *, user: str = ADMIN) -> Any:
        """The latest private Continue/Cancel question asking `user` whether an authorization is theirs."""
        return await self.slack.wait_for(
            lambda: next((e for e in reversed(self.slack.ephemerals(user))
                          if ACTION_AUTHORIZATION_CONFIRM in str(e.blocks)), None),
            what="the question whether the authorization is the requester's")

    async def answer_question(self, *, action_id: str = ACTION_AUTHORIZATION_CONFIRM, user: str = ADMIN,
                              requester: str = ADMIN) -> Delivery:
        """`user` clicks Continue (or `action_id`) on the question asked of `requester`."""
        question = await self.question_about_authorization(user=requester)
        return await self.slack.click(self.events_url, message=question, action_id=action_id, user_id=user)

    async def status_message(self, *, count: int = 1, timeout: float = 30.0) -> Any:
        """Wait until the channel holds `count` messages, the last no longer a card still setting up (its journey
        ended: set up or failed), and return the last. The deadline is generous because a restarted `qc-bot serve`
        process runs production timings on a machine the parallel suite keeps busy; a passing test waits no longer."""

        def settled() -> list[Any] | None:
            messages = self.slack.messages(CHANNEL)
            if len(messages) < count or messages[-1].text.startswith(CARD_SETTING_UP):
                return None
            return messages

        messages = await self.slack.wait_for(settled, what=f"{count} channel message(s), the last settled",
                                             timeout=timeout)
        return messages[-1]

    async def token_sync_done(self) -> None:
        """Wait until every org's check due now has run to its end: its token sync scheduled the next one after
        now, and its later steps (the sign-in, the drift watch) are done and its claim released. Salesforce data
        changed after this is read by the next check, not by one already under way."""
        now = self.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await self.slack.wait_for(
            lambda: self.query("SELECT COUNT(*) FROM token_syncs") != [(0,)] and self.query(
                "SELECT COUNT(*) FROM token_syncs WHERE (next_sync_at IS NOT NULL AND next_sync_at <= :now)"
                " OR claimed_by IS NOT NULL", {"now": now})
            == [(0,)], what="the org checks due now")

    # -- evidence ------------------------------------------------------------------------------------------------

    def log_text(self) -> str:
        return self._log.getvalue()

    def query(self, statement: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Run `statement` on the bot's database through a connection of the test's own (`database.run`)."""
        return run(self._database, statement, params)

    async def settle(self, *, quiet_seconds: float = 0.5, messages_like: str = "%") -> None:
        """Wait until nothing more is on its way to Slack: no journey mid-flight, no message waiting in the
        outbox (of those whose dedupe key is LIKE `messages_like`), and no new Slack call for `quiet_seconds` (ten
        delivery polls of the fast timings). "Exactly one" is checked after this, so a late duplicate would have
        arrived."""
        seen: dict[str, float] = {"calls": -1, "since": 0.0}

        def quiet() -> bool:
            busy = self.query(
                "SELECT (SELECT COUNT(*) FROM notifications WHERE status = 'pending' AND dedupe_key LIKE :like)"
                " + (SELECT COUNT(*) FROM connections WHERE status IN ('authorized', 'provisioning'))",
                {"like": messages_like})[0][0]
            calls = len(self.slack.calls) + len(self.slack.response_url_posts)
            if busy or calls != seen["calls"]:
                seen.update(calls=calls, since=time.monotonic())
                return False
            return time.monotonic() - seen["since"] >= quiet_seconds

        await self.slack.wait_for(quiet, what="the bot to settle (nothing pending, no new Slack calls)")

    def app_deploys(self) -> list[Any]:
        """The deploy requests that carried the QualityClouds app, leaving out the org setting and the permission
        set qc-bot changes for a moment to read the app's credentials."""
        def carries_app(record: Any) -> bool:
            archive = re.search(rb"<met:ZipFile>([^<]+)</met:ZipFile>", record.request_body)
            assert archive is not None
            with zipfile.ZipFile(io.BytesIO(base64.b64decode(archive.group(1)))) as files:
                return any(not name.startswith(("settings/", "permissionsets/", "package.xml"))
                           for name in files.namelist())

        return [record for record in self.salesforce.calls("deploy") if carries_app(record)]

    def database_bytes(self) -> bytes:
        return stored_bytes(self._database)

    def salesforce_tokens(self) -> list[str]:
        """Every access and refresh token Salesforce issued to the bot."""
        tokens: list[str] = []
        for record in self.salesforce.requests:
            if record.operation and record.operation.startswith("token") and record.response_body:
                tokens += re.findall(rb'"(?:access_token|refresh_token)"\s*:\s*"([^"]+)"', record.response_body)
        return [token.decode() for token in tokens]

    def slack_channel_bytes(self) -> bytes:
        """Everything the bot sent to Slack except the private reveal modal."""
        return b"".join(call.body for call in self.slack.calls if call.method != "views.open") + b"".join(
            post.raw for post in self.slack.response_url_posts)


def _limit_files(count: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


def continue_link(page: str) -> str | None:
    """Where the bot's page before Salesforce leads, if `page` is that page."""
    match = re.search(r'id="continue" href="([^"]+)"', page)
    return html.unescape(match.group(1)) if match else None


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
