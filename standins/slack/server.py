"""``FakeSlack``: a loopback aiohttp server speaking Slack's Web API, response URLs, OAuth and Socket Mode,
plus a driver that delivers signed Slack requests to the bot under test."""

from __future__ import annotations

import asyncio
import html
import inspect
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from .clock import Clock
from .driver import Driver, Source
from .hooks import ResponseUrls
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
    TokenInfo,
    User,
    View,
    WaitTimeout,
)
from .oauth import OAuthClient, OAuthServer
from .render import render
from .socket_mode import SocketModeServer
from .state import SlackState
from .web_api import Fault, WebApi

T = TypeVar("T")


class FakeSlack:
    """A faithful stand-in for Slack on 127.0.0.1.

    ``await fake.start()`` binds an OS-assigned port; point ``AsyncWebClient(base_url=fake.api_url)`` at it
    and use the ``send_*``/``click``/``socket_send`` methods to play Slack calling the bot.
    """

    def __init__(self, *, signing_secret: str, clock: Clock | None = None) -> None:
        self._state = SlackState(signing_secret=signing_secret, clock=clock or time.time)
        self._hooks = ResponseUrls(self._state)
        self._api = WebApi(self._state)
        self._oauth = OAuthServer(self._state)
        self._socket = SocketModeServer(self._state)
        self._api.oauth = self._oauth
        self._api.socket_mode = self._socket
        self._driver = Driver(self._state, self._hooks)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.app_token: str = self._state.ids.app_token(self._state.app_id)
        """App-level token (``xapp-…``, scope ``connections:write``) for ``apps.connections.open``."""
        self._state.tokens[self.app_token] = TokenInfo(self.app_token, "app", None, None)
        self.team: Team = self.add_team(name="QC Test Workspace", domain="qc-test")
        """The default workspace, created by the constructor."""

    # --- lifecycle -----------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api.handle)
        app.router.add_post("/hooks/{kind}/{team}/{hook}/{secret}", self._hooks.handle)
        app.router.add_get("/oauth/v2/authorize", self._oauth.authorize)
        app.router.add_get("/link/", self._socket.handle)
        return app

    async def start(self, *, host: str = "127.0.0.1", port: int = 0) -> FakeSlack:
        """Serve on ``host`` (loopback by default) and an OS-assigned port unless ``port`` is given."""
        if self._runner is not None:
            return self
        runner = web.AppRunner(self._build_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]
        self._state.base_url = f"http://{host}:{self._port}"
        self._driver.session = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        """Close websockets and the driver's session, then stop serving."""
        await self._socket.close_all()
        if self._driver.session is not None:
            await self._driver.session.close()
            self._driver.session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        if not self._state.base_url:
            raise FakeSlackError("the fake is not started: await fake.start() first")
        return self._state.base_url

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:<port>/api/``: the ``base_url`` for slack_sdk clients."""
        return f"{self.base_url}/api/"

    @property
    def authorize_url(self) -> str:
        """Where Bolt's ``AsyncOAuthSettings(authorization_url=...)`` should send installers."""
        return f"{self.base_url}/oauth/v2/authorize"

    # --- identity and workspace ----------------------------------------------------------------

    @property
    def signing_secret(self) -> str:
        return self._state.signing_secret

    @property
    def app_id(self) -> str:
        return self._state.app_id

    @property
    def verification_token(self) -> str:
        """The deprecated ``token`` field Slack puts in every payload."""
        return self._state.verification_token

    @property
    def orphan_replies(self) -> str:
        """``refuse`` (default) or ``top_level``: see ``SlackState.orphan_replies``."""
        return self._state.orphan_replies

    @orphan_replies.setter
    def orphan_replies(self, value: Literal["refuse", "top_level"]) -> None:
        self._state.orphan_replies = value

    @property
    def teams(self) -> dict[str, Team]:
        return self._state.teams

    @property
    def scopes(self) -> dict[str, set[str]]:
        """Granted bot scopes per team id (live sets: add/discard to change what the app may do)."""
        return {team_id: team.scopes for team_id, team in self._state.teams.items()}

    def add_team(
        self,
        *,
        team_id: str | None = None,
        name: str = "Workspace",
        domain: str | None = None,
        scopes: set[str] | None = None,
    ) -> Team:
        """A workspace with the app installed: new bot user, bot id and ``xoxb-`` token."""
        domain = domain or re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "workspace"
        return self._state.add_team(team_id=team_id, name=name, domain=domain, scopes=scopes)

    def add_user(
        self,
        team: Team | str | None = None,
        *,
        user_id: str | None = None,
        name: str | None = None,
        real_name: str | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        is_primary_owner: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        tz: str = "Europe/London",
        email: str | None = None,
    ) -> User:
        """A member of ``team`` (default: ``fake.team``)."""
        return self._state.add_user(
            self._state.team_of(team, self.team),
            user_id=user_id,
            name=name,
            real_name=real_name,
            is_admin=is_admin,
            is_owner=is_owner,
            is_primary_owner=is_primary_owner,
            is_bot=is_bot,
            deleted=deleted,
            tz=tz,
            email=email,
        )

    def add_channel(
        self,
        team: Team | str | None = None,
        *,
        channel_id: str | None = None,
        name: str,
        is_private: bool = False,
        members: list[str] | None = None,
        bot_is_member: bool = True,
    ) -> Channel:
        """A channel in ``team``; ``members`` are user ids (the bot's membership is ``bot_is_member``)."""
        return self._state.add_channel(
            self._state.team_of(team, self.team),
            channel_id=channel_id,
            name=name,
            is_private=is_private,
            members=members,
            bot_is_member=bot_is_member,
        )

    def revoke_token(self, token: str) -> None:
        """Later calls with ``token`` get ``token_revoked``."""
        if token not in self._state.tokens:
            raise FakeSlackError("unknown token")
        self._state.tokens[token].revoked = True

    # --- fault injection -----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        count: int = 1,
        error: str | None = None,
        drop: bool = False,
    ) -> None:
        """Make the next ``count`` calls to ``method`` (``"*"``: any method) fail.

        * ``error="channel_not_found"``: HTTP 200 ``{"ok": false, "error": ...}``;
        * ``drop=True``: close the connection without answering;
        * otherwise ``status``: 429 (``ratelimited`` + ``Retry-After: retry_after``) or a 5xx.
        """
        if error is None and not drop and not (status == 429 or 500 <= status <= 599):
            raise ValueError("status must be 429 or 5xx (use error= for ok:false answers)")
        self._api.add_fault(
            Fault(
                method=method, status=status, error=error, retry_after=retry_after, drop=drop, remaining=count
            )
        )

    def clear_faults(self) -> None:
        self._api.faults.clear()

    # --- recordings ----------------------------------------------------------------------------

    @property
    def calls(self) -> list[CallRecord]:
        """Every Web API request, in order (including refused ones)."""
        return self._state.calls

    def calls_to(self, method: str) -> list[CallRecord]:
        return [call for call in self._state.calls if call.method == method]

    def messages(self, channel: str | None = None, *, include_deleted: bool = False) -> list[Message]:
        """Channel messages the app posted, in their latest state."""
        return [
            m
            for m in self._state.channel_messages
            if (channel is None or m.channel_id == channel) and (include_deleted or not m.deleted)
        ]

    def ephemerals(self, user: str | None = None, *, include_deleted: bool = False) -> list[Ephemeral]:
        """Ephemeral messages (``chat.postEphemeral``, response_url, slash-command acks)."""
        return [
            e
            for e in self._state.ephemeral_messages
            if (user is None or e.user_id == user) and (include_deleted or not e.deleted)
        ]

    @property
    def opened_views(self) -> list[View]:
        return self._state.opened_views

    @property
    def home_views(self) -> dict[str, View]:
        """User id → that user's Home tab, as last published."""
        return self._state.home_views

    @property
    def response_url_posts(self) -> list[HookPost]:
        return self._state.hook_posts

    @property
    def deliveries(self) -> list[Delivery]:
        """Every request the driver sent to the bot, with the bot's answer."""
        return self._state.deliveries

    @property
    def socket_acks(self) -> list[SocketAck]:
        return self._state.socket_acks

    def transcript(self, channel: str | None = None) -> str:
        """What people would see, in order: channel messages and ephemerals (latest state), as text."""
        items: list[Message | Ephemeral] = [*self.messages(channel), *self.ephemerals()]
        if channel is not None:
            items = [item for item in items if item.channel_id == channel]
        items.sort(key=lambda item: item.ts)
        return "\n\n".join(render(item) for item in items)

    def all_raw_bytes(self) -> bytes:
        """Everything the bot sent to the fake: API requests (head and body), response_url posts, OAuth page
        requests, answers to driver requests and Socket Mode frames."""
        return b"\n".join(self._state.raw_log)

    async def wait_for(
        self,
        predicate: Callable[[], T | Awaitable[T]],
        *,
        timeout: float = 30.0,
        interval: float = 0.01,
        what: str | None = None,
    ) -> T:
        """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` seconds pass. The
        default deadline is generous: a passing test waits no longer, and on a CI machine running four workers on
        two cores a whole journey (a dozen Salesforce calls, four deploys and their polls) took more than 5 s."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    self._describe_timeout(what or str(getattr(predicate, "__name__", "predicate")), timeout)
                )
            await asyncio.sleep(interval)

    def _describe_timeout(self, what: str, timeout: float) -> str:
        lines = [f"timed out after {timeout} s waiting for {what}", "recent Web API calls:"]
        for call in self._state.calls[-10:]:
            outcome = "ok" if call.ok else f"error={call.error}"
            lines.append(f"  {call.method} status={call.status} {outcome} params={_short(call.params)}")
        if not self._state.calls:
            lines.append("  (none)")
        for post in self._state.hook_posts[-3:]:
            lines.append(f"  response_url {post.status} {_short(post.body)}")
        for delivery in self._state.deliveries[-3:]:
            lines.append(f"  delivered {delivery.kind} -> {delivery.status} {delivery.text[:120]!r}")
        return "\n".join(lines)

    # --- OAuth install -------------------------------------------------------------------------

    def register_oauth_client(
        self, *, client_id: str, client_secret: str, redirect_uris: list[str]
    ) -> OAuthClient:
        """The app's OAuth credentials and Redirect URLs (as on the app's settings page)."""
        return self._oauth.register(
            client_id=client_id, client_secret=client_secret, redirect_uris=redirect_uris
        )

    @property
    def install_consent(self) -> Literal["allow", "deny"]:
        """``"allow"`` (default) or ``"deny"``: what the installing user clicks on the authorize page."""
        return self._oauth.install_consent

    @install_consent.setter
    def install_consent(self, value: Literal["allow", "deny"]) -> None:
        if value not in ("allow", "deny"):
            raise ValueError("install_consent must be 'allow' or 'deny'")
        self._oauth.install_consent = value

    @property
    def installing_team(self) -> Team:
        """The workspace the authorize page installs into (default: ``fake.team``)."""
        return self._oauth.installing_team or self.team

    @installing_team.setter
    def installing_team(self, team: Team) -> None:
        self._oauth.installing_team = team

    @property
    def installing_user(self) -> str | None:
        """The installing user's id (default: the team's first admin/owner, created if there is none)."""
        return self._oauth.installing_user

    @installing_user.setter
    def installing_user(self, user_id: str | None) -> None:
        self._oauth.installing_user = user_id

    async def install(self, install_url: str) -> BrowserResult:
        """Play the installing user's browser: open the bot's install URL, follow it to the fake's authorize
        page (directly or via the "Add to Slack" link of Bolt's install page) and back to the bot."""
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(install_url))
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[origin])
        async with aiohttp.ClientSession(cookie_jar=jar) as browser:
            history: list[str] = []
            status, url, text = await _browse(browser, install_url, history)
            link = re.search(r'href="(' + re.escape(self.authorize_url) + r'[^"]*)"', text)
            if status == 200 and link and not url.startswith(self.base_url):
                status, url, text = await _browse(browser, html.unescape(link.group(1)), history)
        return BrowserResult(status=status, url=url, text=text, history=history)

    # --- driver: Slack calling the bot ---------------------------------------------------------

    @property
    def ack_timeout(self) -> float:
        """Seconds the driver waits for the bot's HTTP answer (Slack: 3)."""
        return self._driver.ack_timeout

    @ack_timeout.setter
    def ack_timeout(self, seconds: float) -> None:
        self._driver.ack_timeout = seconds

    def _team(self, team: Team | str | None) -> Team:
        return self._state.team_of(team, self.team)

    def issue_trigger_id(self, *, user_id: str, team: Team | str | None = None) -> str:
        """A trigger_id as if the user had just interacted (valid 3 s on the fake clock, once)."""
        return self._state.issue_trigger(self._team(team), user_id)

    def slash_command_payload(
        self,
        *,
        text: str,
        user_id: str,
        channel_id: str,
        team: Team | str | None = None,
        command: str = "/qc",
    ) -> dict[str, str]:
        """The fields Slack sends for a slash command (fresh response_url and trigger_id)."""
        return self._driver.slash_command_payload(
            self._team(team), text=text, user_id=user_id, channel_id=channel_id, command=command
        )

    async def send_slash_command(
        self,
        url: str,
        *,
        text: str,
        user_id: str,
        channel_id: str,
        team: Team | str | None = None,
        command: str = "/qc",
        timestamp: int | str | None = None,
        signature: str | None = None,
    ) -> Delivery:
        """POST a signed slash command to the bot; a non-empty ack body is shown like Slack shows it."""
        team_obj = self._team(team)
        fields = self._driver.slash_command_payload(
            team_obj, text=text, user_id=user_id, channel_id=channel_id, command=command
        )
        delivery = await self._driver.deliver(
            url,
            self._driver.form_body(fields),
            kind="slash_command",
            content_type="application/x-www-form-urlencoded",
            timestamp=timestamp,
            signature=signature,
        )
        delivery.trigger_id, delivery.response_url = fields["trigger_id"], fields["response_url"]
        if delivery.ok:
            delivery.ack_error = self._driver.render_command_ack(
                team_obj, fields, delivery.text, delivery.body
            )
        return delivery

    def block_action_payload(
        self,
        *,
        user_id: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
        channel_id: str | None = None,
        message: Source | None = None,
        view: Source | None = None,
        team: Team | str | None = None,
        text: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A ``block_actions`` payload (fresh trigger_id; response_url when it comes from a message)."""
        return self._driver.block_action_payload(
            self._team(team),
            user_id=user_id,
            action_id=action_id,
            value=value,
            block_id=block_id,
            channel_id=channel_id,
            message=message,
            view=view,
            text=text,
        )

    async def send_block_action(
        self,
        url: str,
        *,
        user_id: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
        channel_id: str | None = None,
        message: Source | None = None,
        view: Source | None = None,
        team: Team | str | None = None,
        text: dict[str, Any] | None = None,
        timestamp: int | str | None = None,
        signature: str | None = None,
    ) -> Delivery:
        """POST a signed ``payload=<json>`` block action to the bot."""
        payload = self.block_action_payload(
            user_id=user_id,
            action_id=action_id,
            value=value,
            block_id=block_id,
            channel_id=channel_id,
            message=message,
            view=view,
            team=team,
            text=text,
        )
        return await self._send_interactive(url, payload, timestamp=timestamp, signature=signature)

    async def _send_interactive(
        self, url: str, payload: dict[str, Any], *, timestamp: int | str | None, signature: str | None
    ) -> Delivery:
        body = self._driver.form_body({"payload": json.dumps(payload, separators=(",", ":"))})
        delivery = await self._driver.deliver(
            url,
            body,
            kind=payload["type"],
            content_type="application/x-www-form-urlencoded",
            timestamp=timestamp,
            signature=signature,
        )
        delivery.trigger_id, delivery.response_url = payload.get("trigger_id"), payload.get("response_url")
        return delivery

    def _click_payload(
        self, message: Source, action_id: str, user_id: str, block_id: str | None, team: Team | str | None
    ) -> dict[str, Any]:
        source = self._driver.resolve_source(message)
        if source is None:
            raise FakeSlackError("no recorded message or view matches that source")
        if isinstance(source, Ephemeral | View) and source.user_id != user_id:
            what = "ephemeral message" if isinstance(source, Ephemeral) else f"{source.type} view"
            raise FakeSlackError(f"only {source.user_id} can see that {what}, not {user_id}")
        found_block_id, button = self._driver.find_button(source, action_id, block_id)
        kwargs: dict[str, Any] = (
            {"message": source} if isinstance(source, Message | Ephemeral) else {"view": source}
        )
        return self.block_action_payload(
            user_id=user_id,
            action_id=action_id,
            value=button.get("value"),
            block_id=found_block_id,
            team=team if team is not None else source.team_id,
            text=button.get("text"),
            **kwargs,
        )

    async def click(
        self,
        url: str,
        *,
        message: Source,
        action_id: str,
        user_id: str,
        block_id: str | None = None,
        team: Team | str | None = None,
    ) -> Delivery:
        """Click button ``action_id`` in a recorded message, ephemeral or view (raises if it is absent)."""
        payload = self._click_payload(message, action_id, user_id, block_id, team)
        return await self._send_interactive(url, payload, timestamp=None, signature=None)

    def event_envelope(self, *, event: dict[str, Any], team: Team | str | None = None) -> dict[str, Any]:
        """An ``event_callback`` envelope around ``event``."""
        return self._driver.event_envelope(self._team(team), event)

    def app_home_opened_event(
        self, *, user_id: str, team: Team | str | None = None, tab: str = "home"
    ) -> dict[str, Any]:
        """An ``app_home_opened`` event (with the user's current Home view, if one was published)."""
        return self._driver.app_home_opened_event(self._team(team), user_id=user_id, tab=tab)

    async def send_event(
        self,
        url: str,
        *,
        event: dict[str, Any],
        team: Team | str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timestamp: int | str | None = None,
        signature: str | None = None,
    ) -> Delivery:
        """POST a signed Events API ``event_callback`` (JSON) to the bot; ``retry_num`` adds Slack's retry
        headers."""
        envelope = self.event_envelope(event=event, team=team)
        extra = None
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return await self._driver.deliver(
            url,
            json.dumps(envelope).encode(),
            kind="event_callback",
            content_type="application/json",
            timestamp=timestamp,
            signature=signature,
            extra_headers=extra,
        )

    async def send_url_verification(self, url: str) -> Delivery:
        """Slack's request-URL check: the bot must echo ``challenge``."""
        body = {
            "token": self.verification_token,
            "challenge": secrets.token_urlsafe(24),
            "type": "url_verification",
        }
        delivery = await self._driver.deliver(
            url, json.dumps(body).encode(), kind="url_verification", content_type="application/json"
        )
        echoed = delivery.body.get("challenge") if isinstance(delivery.body, dict) else delivery.text
        if delivery.ok and echoed != body["challenge"]:
            delivery.ack_error = "challenge not echoed"
        return delivery

    # --- Socket Mode ---------------------------------------------------------------------------

    @property
    def socket_connections(self) -> int:
        """Open Socket Mode websockets."""
        return len([ws for ws in self._socket.connections if not ws.closed])

    async def socket_send(
        self,
        *,
        type: Literal["slash_commands", "interactive", "events_api"],
        payload: dict[str, Any],
        accepts_response_payload: bool | None = None,
        timeout: float = 3.0,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> dict[str, Any] | None:
        """Deliver an envelope over the newest Socket Mode connection and wait for its ack.

        Returns the ack's ``payload`` (``None`` if the ack had none); raises ``TimeoutError`` without an ack.
        A slash command's ack payload is shown like Slack shows it (ephemeral unless ``in_channel``)."""
        ack = await self._socket.send(
            type=type,
            payload=payload,
            accepts_response_payload=accepts_response_payload,
            timeout=timeout,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )
        if type == "slash_commands" and isinstance(ack, dict) and payload.get("team_id") in self.teams:
            team = self.teams[payload["team_id"]]
            self._driver.render_command_ack(team, payload, json.dumps(ack), ack)
        return ack

    async def socket_disconnect(self, *, reason: str = "refresh_requested") -> None:
        """Send ``{"type": "disconnect"}`` so clients reconnect through ``apps.connections.open``."""
        await self._socket.disconnect(reason)

    @property
    def socket_hello_count(self) -> int:
        """How many websocket connections were accepted (and greeted with ``hello``) so far."""
        return self._socket.hello_count


async def _browse(browser: aiohttp.ClientSession, url: str, history: list[str]) -> tuple[int, str, str]:
    async with browser.get(url, allow_redirects=True) as resp:
        history.extend(str(r.url) for r in resp.history)
        history.append(str(resp.url))
        return resp.status, str(resp.url), await resp.text()


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
