"""``FakeSalesforce``: one aiohttp application served on several loopback ports.

The port a request arrives on decides its role: the production login host, the sandbox login
host, or one org's My Domain.  Every port is bound (OS-assigned) as soon as it is known, so URLs
are available before ``start()``; orgs added after ``start()`` begin serving on the next turn of the
event loop (their socket already accepts connections).
"""

from __future__ import annotations

import asyncio
import re
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from . import oauth, rest, soap
from .clock import Clock, utc_now
from .common import FAKE_KEY, OPERATION_KEY, ROLE_KEY, Role, fake_of, json_response
from .ids import PREFIX_ORG, IdFactory, same_id, to18
from .metadata_rules import DeployRecord
from .org import ADMIN_PERMISSIONS, FakeOrg, FakeUser, RegisteredClient
from .schema import WsdlSchema, find_wsdl, load_schema
from .tokens import OAuthClient, TokenStore


@dataclass(frozen=True)
class RequestRecord:
    """One request the fake answered (``fake.requests``)."""

    role: str  # "login" | "sandbox" | "mydomain"
    org: str | None  # org name for My Domain requests
    method: str
    path: str
    operation: str | None  # "authorize", "token:refresh_token", "deploy", "query", ...
    status: int
    query: str = ""
    request_body: bytes = b""
    response_body: bytes = b""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # on the fake's clock


@dataclass
class Hold:
    """A request parked by ``inject_hold``: the test learns it arrived and decides when it may go on."""

    prefix: str
    body_contains: bytes | None
    skip: int
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def matches(self, path: str, body: bytes) -> bool:
        return path.startswith(self.prefix) and (self.body_contains is None or self.body_contains in body)

    async def wait_arrived(self, *, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.arrived.wait(), timeout=timeout)

    def release(self) -> None:
        self.released.set()


@dataclass
class _Injection:
    prefix: str
    kind: Literal["http", "delay", "disconnect"]
    remaining: int | None
    status: int = 503
    body: str | None = None
    seconds: float = 0.0


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class FakeSalesforce:
    """A faithful fake Salesforce (OAuth, REST, SOAP Metadata API) on loopback.

    Switches on the fake (see ``FakeOrg`` for per-org switches):

    ``interactive_consent`` (False)
        True: the authorize endpoint renders an "Allow access?" page (Allow/Deny buttons) instead
        of approving at once.
    ``prompt_supported`` (True)
        Salesforce's help lists ``prompt`` values ``login``, ``consent`` and ``select_account`` (space
        separated; ``login consent`` asks for both), but the researched reference marks ``prompt`` UNCONFIRMED.
        True (the conservative reading): any other value, or an empty one, is refused (redirect
        ``error=invalid_request``, ``error_description=invalid prompt value``), and ``login`` ends the browser's
        Salesforce session before signing in again (``fresh_sign_ins`` counts it). False: ``prompt`` is ignored.
    ``access_token_lifetime`` (2 hours)
        Access tokens expire this long after issue, on the fake clock.
    ``dead_token_revoke_error`` ("unsupported_token_type")
        The ``error`` of the 400 that ``/services/oauth2/revoke`` answers for a token that is unknown,
        expired or already revoked; Salesforce documents ``unsupported_token_type`` or ``invalid_token``.
    ``self_check`` (True)
        Validate every SOAP response against the WSDL (when loaded); violations become
        ``soapenv:Server`` faults and are listed in ``schema_violations``.
    """

    def __init__(
        self, *, clock: Clock | None = None, wsdl_path: Path | str | Literal[False] | None = None
    ) -> None:
        """``clock`` returns aware UTC datetimes (default: real time).  ``wsdl_path``: None ->
        ``schema.find_wsdl()``; False -> built-in fallback checks only."""
        self.clock: Clock = clock or utc_now
        self.ids = IdFactory()
        self.tokens = TokenStore()
        self.clients: dict[str, RegisteredClient] = {}
        self.orgs: list[FakeOrg] = []
        self.signed_in: FakeUser | None = None
        self.interactive_consent = False
        self.prompt_supported = True
        self.fresh_sign_ins = 0
        self.prompts: list[str | None] = []
        self.access_token_lifetime = timedelta(hours=2)
        self.self_check = True
        self.dead_token_revoke_error = "unsupported_token_type"
        self.requests: list[RequestRecord] = []
        self.schema_violations: list[str] = []
        self.pending_consents: dict[str, dict[str, Any]] = {}
        if wsdl_path is False:
            self.wsdl_path: Path | None = None
        elif wsdl_path is None:
            self.wsdl_path = find_wsdl()
        else:
            self.wsdl_path = Path(wsdl_path)
            if not self.wsdl_path.is_file():
                raise FileNotFoundError(self.wsdl_path)
        self.schema: WsdlSchema | None = load_schema(self.wsdl_path)
        self._injections: list[_Injection] = []
        self._holds: list[Hold] = []
        self.collide_next_supplied_keys = 0
        """Treat the next N consumer keys supplied in deploys as taken by some other Salesforce org
        (keys are unique across all of Salesforce, so a collision can come from anywhere)."""
        self._roles: dict[int, Role] = {}
        self._sockets: list[socket.socket] = []
        self._runner: web.AppRunner | None = None
        self._site_tasks: list[asyncio.Task[None]] = []
        self._app = self._build_app()
        self._login = self._bind(lambda url: Role("login", url))
        self._sandbox = self._bind(lambda url: Role("sandbox", url))

    # ------------------------------------------------------------------------------ lifecycle

    def _bind(self, make_role: Any) -> Role:
        sock = _listen()
        port = sock.getsockname()[1]
        role = make_role(f"http://127.0.0.1:{port}")
        self._roles[port] = role
        self._sockets.append(sock)
        if self._runner is not None:
            site = web.SockSite(self._runner, sock)
            self._site_tasks.append(asyncio.get_running_loop().create_task(site.start()))
        return role

    async def start(self) -> None:
        """Serve every bound port."""
        if self._runner is not None:
            return
        self._runner = web.AppRunner(self._app, handle_signals=False, access_log=None)
        await self._runner.setup()
        for sock in self._sockets:
            await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Stop serving and close every socket."""
        for hold in self._holds:
            hold.release()
        if self._site_tasks:
            await asyncio.gather(*self._site_tasks, return_exceptions=True)
            self._site_tasks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()

    async def __aenter__(self) -> FakeSalesforce:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------------------------- hosts

    @property
    def login_url(self) -> str:
        return self._login.base_url

    @property
    def sandbox_login_url(self) -> str:
        return self._sandbox.base_url

    @property
    def allowed_hosts(self) -> list[str]:
        """``127.0.0.1:<port>`` of every host the fake serves (login, sandbox, each My Domain)."""
        return [role.base_url.split("://", 1)[1] for role in self._roles.values()]

    def login_url_for(self, org: FakeOrg) -> str:
        return self.sandbox_login_url if org.is_sandbox else self.login_url

    # ------------------------------------------------------------------------------- the model

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the fake's clock must return timezone-aware datetimes")
        return now.astimezone(UTC)

    def add_org(
        self,
        *,
        name: str = "Acme",
        is_sandbox: bool = False,
        org_id: str | None = None,
        edition: str | None = None,
        instance_name: str | None = None,
        admin_username: str | None = None,
    ) -> FakeOrg:
        """Add an org with its own My Domain port and an admin user (``org.admin``)."""
        org = FakeOrg(
            self,
            org_id=to18(org_id) if org_id else self.ids.new(PREFIX_ORG),
            name=name,
            is_sandbox=is_sandbox,
            edition=edition or ("Developer Edition" if not is_sandbox else "Enterprise Edition"),
            instance_name=instance_name
            or (f"CS{40 + len(self.orgs)}" if is_sandbox else f"NA{200 + len(self.orgs)}"),
        )
        if any(o.id == org.id for o in self.orgs):
            raise ValueError(f"org id {org.id} is already used")
        role = self._bind(lambda url: Role("mydomain", url, org))
        org.my_domain_url = role.base_url
        self.orgs.append(org)
        slug = re.sub(r"[^a-z0-9]+", "", name.lower()) or "org"
        username = admin_username or f"admin@{slug}.example" + (".sandbox" if is_sandbox else "")
        base, n = username, 2
        while self.find_user(username) is not None:
            username, n = f"{base}{n}", n + 1
        org.add_user(username=username, permissions=ADMIN_PERMISSIONS, first_name="Ada", last_name="Admin")
        if self.signed_in is None:
            self.signed_in = org.admin
        return org

    def org(self, name: str) -> FakeOrg:
        for org in self.orgs:
            if org.name == name:
                return org
        raise KeyError(name)

    def register_client(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str] | tuple[str, ...],
        label: str = "qc-bot",
        pkce_required: bool = True,
        refresh_token_policy: str = "infinite",
        rotate_refresh_tokens: bool = False,
        scopes: tuple[str, ...] = ("api", "refresh_token", "offline_access", "id", "openid"),
        secret_required_for_refresh: bool = True,
    ) -> RegisteredClient:
        """Register an OAuth client living outside the customer orgs (the bot's own app).

        ``refresh_token_policy``: ``infinite``, ``zero``, ``lifetime:<n><h|d|m>``, ``idle:<n><h|d|m>``.
        The client counts as installed in every org (``org.installed_clients``).
        """
        self.ensure_key_free(client_id)
        client = RegisteredClient(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uris=tuple(redirect_uris),
            label=label,
            pkce_required=pkce_required,
            refresh_token_policy=refresh_token_policy,
            rotate_refresh_tokens=rotate_refresh_tokens,
            scopes=tuple(scopes),
            secret_required_for_refresh=secret_required_for_refresh,
        )
        client.client()  # validates the policy text
        self.clients[client_id] = client
        for org in self.orgs:
            org.installed_clients.add(client_id)
        return client

    def sign_in(self, org: FakeOrg, username: str | None = None) -> FakeUser:
        """Choose who is logged in in "the browser" for the next authorizations (default: the admin)."""
        user = org.admin if username is None else org.user(username)
        if user is None:
            raise KeyError(f"no user {username!r} in {org.name}")
        self.signed_in = user
        return user

    def sign_out(self) -> None:
        self.signed_in = None

    def find_user(self, username: str) -> FakeUser | None:
        for org in self.orgs:
            user = org.user(username)
            if user is not None:
                return user
        return None

    def key_owner(self, key: str) -> tuple[FakeOrg | None, str, str] | None:
        """Who uses consumer key ``key``: (org, type, fullName), or (None, "client", id)."""
        if key in self.clients:
            return None, "client", key
        for org in self.orgs:
            owner = org.consumer_keys().get(key)
            if owner is not None:
                return org, owner[0], owner[1]
        return None

    def ensure_key_free(self, key: str) -> None:
        if self.key_owner(key) is not None:
            raise ValueError(f"consumer key {key!r} is already taken")

    def resolve_client(self, key: str, org: FakeOrg | None) -> OAuthClient | None:
        """The bot's registered client ``key``, else the app with that key in ``org``."""
        registered = self.clients.get(key)
        if registered is not None:
            return registered.client()
        return org.app_client(key) if org is not None else None

    def find_deploy(self, deploy_id: str) -> DeployRecord:
        """The DeployRecord with ``deploy_id`` in any org (KeyError if unknown)."""
        for org in self.orgs:
            for record in org.deploys:
                if same_id(record.id, deploy_id):
                    return record
        raise KeyError(deploy_id)

    def calls(self, operation: str) -> list[RequestRecord]:
        """Logged requests whose operation is ``operation``."""
        return [r for r in self.requests if r.operation == operation]

    # ------------------------------------------------------------------------ fault injection

    def inject_http(
        self, route_prefix: str, *, status: int = 503, count: int = 1, body: str | None = None
    ) -> None:
        """Answer the next ``count`` requests whose path starts with ``route_prefix`` with ``status``."""
        self._injections.append(_Injection(route_prefix, "http", count, status=status, body=body))

    def inject_delay(self, route_prefix: str, *, seconds: float, count: int | None = 1) -> None:
        """Delay the next ``count`` matching requests (None: all of them) by ``seconds``."""
        self._injections.append(_Injection(route_prefix, "delay", count, seconds=seconds))

    def inject_disconnect(self, route_prefix: str, *, count: int = 1) -> None:
        """Drop the connection of the next ``count`` matching requests without an answer."""
        self._injections.append(_Injection(route_prefix, "disconnect", count))

    def inject_hold(self, route_prefix: str, *, body_contains: str | None = None, skip: int = 0) -> Hold:
        """Park the next matching request (after letting ``skip`` matches through) until released."""
        hold = Hold(route_prefix, body_contains.encode() if body_contains else None, skip)
        self._holds.append(hold)
        return hold

    def clear_injections(self) -> None:
        self._injections.clear()
        for hold in self._holds:
            hold.release()
        self._holds.clear()

    async def _wait_if_held(self, path: str, body: bytes) -> None:
        for hold in self._holds:
            if hold.matches(path, body):
                if hold.skip > 0:
                    hold.skip -= 1
                    return
                self._holds.remove(hold)
                hold.arrived.set()
                await hold.released.wait()
                return

    def _take_injection(self, path: str) -> _Injection | None:
        for injection in self._injections:
            if path.startswith(injection.prefix) and (injection.remaining is None or injection.remaining > 0):
                if injection.remaining is not None:
                    injection.remaining -= 1
                    if injection.remaining == 0:
                        self._injections.remove(injection)
                return injection
        return None

    # ------------------------------------------------------------------------------------ app

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[_middleware], client_max_size=64 * 1024 * 1024)
        app[FAKE_KEY] = self
        r = app.router
        r.add_route("GET", "/services/oauth2/authorize", oauth.authorize)
        r.add_route("POST", "/services/oauth2/authorize", oauth.authorize)
        r.add_route("POST", oauth.CONSENT_PATH, oauth.consent_decision)
        r.add_route("POST", "/services/oauth2/token", oauth.token)
        r.add_route("GET", "/services/oauth2/revoke", oauth.revoke)
        r.add_route("POST", "/services/oauth2/revoke", oauth.revoke)
        r.add_route("POST", "/services/oauth2/introspect", oauth.introspect)
        r.add_route("GET", "/id/{org_id}/{user_id}", oauth.identity)
        r.add_route("GET", "/.well-known/openid-configuration", oauth.openid_configuration)
        r.add_route("GET", "/services/data", rest.versions)
        r.add_route("GET", "/services/data/", rest.versions)
        r.add_route("*", "/services/data/{version}", rest.data)
        r.add_route("*", "/services/data/{version}/{tail:.*}", rest.data)
        r.add_route("POST", "/services/Soap/m/{version}", soap.handle)
        r.add_route("POST", "/services/Soap/m/{version}/{tail:.*}", soap.handle)
        return app


@web.middleware
async def _middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    fake = fake_of(request)
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    role = fake._roles.get(sockname[1]) if sockname else None
    if role is None:
        return web.Response(status=421, text="fake Salesforce: unknown listening port")
    request[ROLE_KEY] = role
    request_body = await request.read()
    await fake._wait_if_held(request.path, request_body)
    injection = fake._take_injection(request.path)
    response: web.StreamResponse
    try:
        if injection is not None and injection.kind == "delay":
            await asyncio.sleep(injection.seconds)
            injection = None
        if injection is not None and injection.kind == "disconnect":
            if request.transport is not None:
                request.transport.close()
            response = web.Response(status=499)
        elif injection is not None:
            response = web.Response(
                status=injection.status,
                text=injection.body
                if injection.body is not None
                else f"fake Salesforce: injected HTTP {injection.status}",
                content_type="text/plain",
            )
        else:
            response = await handler(request)
    except web.HTTPException as exc:
        if exc.status == 404:
            response = json_response(
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404
            )
        elif exc.status == 405:
            response = json_response(
                [
                    {
                        "errorCode": "METHOD_NOT_ALLOWED",
                        "message": f"HTTP Method '{request.method}' not allowed.",
                    }
                ],
                405,
            )
        else:
            response = exc
    fake.requests.append(
        RequestRecord(
            role=role.kind,
            org=role.org.name if role.org else None,
            method=request.method,
            path=request.path,
            operation=request.get(OPERATION_KEY),
            status=response.status,
            query=request.query_string,
            request_body=request_body,
            response_body=getattr(response, "body", b"") or b"",
            at=fake.now(),
        )
    )
    return response
