"""OAuth v2 install: the authorize page (``GET /oauth/v2/authorize``) and ``oauth.v2.access``."""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiohttp import web

from .models import Team, TokenInfo
from .state import SlackState
from .web_api import ApiCall, ApiError

CODE_TTL_SECONDS = 10 * 60


@dataclass(eq=False)
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]


@dataclass(eq=False)
class AuthorizationCode:
    code: str
    client_id: str
    team_id: str
    user_id: str
    scopes: list[str]
    user_scopes: list[str]
    redirect_uri: str | None
    issued_at: float
    used: bool = False


@dataclass(eq=False)
class OAuthServer:
    """The app's OAuth settings plus the simulated installing browser session."""

    state: SlackState
    client: OAuthClient | None = None
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    install_consent: Literal["allow", "deny"] = "allow"
    installing_team: Team | None = None
    installing_user: str | None = None

    def register(self, *, client_id: str, client_secret: str, redirect_uris: list[str]) -> OAuthClient:
        self.client = OAuthClient(client_id, client_secret, list(redirect_uris))
        return self.client

    def _redirect_allowed(self, redirect_uri: str) -> bool:
        """Slack accepts a configured Redirect URL or a sub-path of one."""
        assert self.client is not None
        for allowed in self.client.redirect_uris:
            if redirect_uri == allowed:
                return True
            a, r = urlsplit(allowed), urlsplit(redirect_uri)
            if (a.scheme, a.netloc) == (r.scheme, r.netloc) and r.path.startswith(a.path.rstrip("/") + "/"):
                return True
        return False

    @staticmethod
    def _error_page(code: str, detail: str) -> web.Response:
        body = (
            "<!doctype html><html><head><title>Slack: installation error</title></head><body>"
            f'<h1>Something went wrong</h1><p id="error">{html.escape(code)}</p>'
            f"<p>{html.escape(detail)}</p></body></html>"
        )
        return web.Response(status=400, text=body, content_type="text/html")

    async def authorize(self, request: web.Request) -> web.Response:
        """Stand in for the user approving (or refusing) the install in their browser."""
        self.state.log_raw(
            f"GET {request.path_qs} HTTP/1.1\r\n".encode()
            + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()).encode("utf-8", "replace")
            + b"\r\n"
        )
        query = request.query
        if self.client is None or query.get("client_id") != self.client.client_id:
            return self._error_page("invalid_client_id", "Unknown client_id.")
        scopes = [s for s in query.get("scope", "").replace(" ", ",").split(",") if s]
        user_scopes = [s for s in query.get("user_scope", "").replace(" ", ",").split(",") if s]
        if not scopes and not user_scopes:
            return self._error_page("invalid_scope", "No scope or user_scope was requested.")
        redirect_param = query.get("redirect_uri")
        if redirect_param is not None:
            if not self._redirect_allowed(redirect_param):
                return self._error_page("bad_redirect_uri", "redirect_uri did not match any configured URIs.")
            redirect_to = redirect_param
        elif self.client.redirect_uris:
            redirect_to = self.client.redirect_uris[0]
        else:
            return self._error_page("no_redirect_uri", "The app has no Redirect URL configured.")
        state_param = query.get("state")
        if self.install_consent == "deny":
            return self._redirect(redirect_to, {"error": "access_denied", "state": state_param})
        team = self.installing_team or next(iter(self.state.teams.values()))
        user_id = self.installing_user or self._default_installer(team)
        code = f"{team.number}.{self.state.ids.counter('code')}.{secrets.token_hex(32)}"
        self.codes[code] = AuthorizationCode(
            code=code,
            client_id=self.client.client_id,
            team_id=team.team_id,
            user_id=user_id,
            scopes=scopes,
            user_scopes=user_scopes,
            redirect_uri=redirect_param,
            issued_at=self.state.now(),
        )
        return self._redirect(redirect_to, {"code": code, "state": state_param})

    def _default_installer(self, team: Team) -> str:
        for user in team.users.values():
            if (user.is_admin or user.is_owner) and not user.is_bot:
                return user.user_id
        return self.state.add_user(team, name="installer", is_admin=True, is_owner=True).user_id

    @staticmethod
    def _redirect(url: str, params: dict[str, str | None]) -> NoReturn:
        parts = urlsplit(url)
        extra = urlencode({k: v for k, v in params.items() if v is not None})
        query = f"{parts.query}&{extra}" if parts.query else extra
        raise web.HTTPFound(urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment)))

    def exchange(self, call: ApiCall) -> dict[str, Any]:
        """``oauth.v2.access`` with ``grant_type=authorization_code``."""
        if call.basic_auth is not None:
            client_id, client_secret = call.basic_auth
        else:
            client_id, client_secret = call.params.get("client_id", ""), call.params.get("client_secret", "")
        if self.client is None or not client_id or client_id != self.client.client_id:
            raise ApiError("invalid_client_id")
        if not secrets.compare_digest(str(client_secret), self.client.client_secret):
            raise ApiError("bad_client_secret")
        grant_type = call.params.get("grant_type")
        if grant_type not in (None, "", "authorization_code"):
            raise ApiError("invalid_grant_type")
        code = self.codes.get(call.params.get("code") or "")
        if (
            code is None
            or code.used
            or code.client_id != client_id
            or self.state.now() - code.issued_at > CODE_TTL_SECONDS
        ):
            raise ApiError("invalid_code")
        redirect_uri = call.params.get("redirect_uri")
        if code.redirect_uri is not None:
            if redirect_uri != code.redirect_uri:
                raise ApiError("bad_redirect_uri")
        elif redirect_uri and not self._redirect_allowed(redirect_uri):
            raise ApiError("bad_redirect_uri")
        code.used = True
        team = self.state.teams[code.team_id]
        call.record.team_id = team.team_id
        result: dict[str, Any] = {"app_id": team.app_id}
        if code.scopes:
            team.scopes = set(code.scopes)
            result.update(
                {
                    "access_token": self.state.issue_bot_token(team),
                    "token_type": "bot",
                    "scope": ",".join(code.scopes),
                    "bot_user_id": team.bot_user_id,
                }
            )
        result["team"] = {"id": team.team_id, "name": team.name}
        result["enterprise"] = None
        authed_user: dict[str, Any] = {"id": code.user_id}
        if code.user_scopes:
            user_token = self.state.ids.user_token(team.number)
            self.state.tokens[user_token] = TokenInfo(user_token, "user", team.team_id, code.user_id)
            authed_user.update(
                {"scope": ",".join(code.user_scopes), "access_token": user_token, "token_type": "user"}
            )
        result["authed_user"] = authed_user
        result["is_enterprise_install"] = False
        return result
