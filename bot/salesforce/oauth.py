"""OAuth 2.0 web server flow against Salesforce: authorize URL (PKCE S256), code exchange, refresh, revoke,
identity — and the checks that make a token response trustworthy before anything uses it.

authlib supplies the pure primitives (S256 challenge, URL building); there is no aiohttp integration,
so the HTTP goes through `SalesforceHttp`, which enforces the host rules.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from bot.errors import LoginHostError
from bot.redaction import Secret
from bot.salesforce.errors import OAuthError, SalesforceError, TokenResponseRejected
from bot.salesforce.http import SalesforceHttp

# `id` grants the identity URL; `refresh_token` keeps the bot's access after this session.
BOT_SCOPES = "api id refresh_token"
_IDENTITY_PATH = re.compile(r"^/id/(00D[A-Za-z0-9]{12,15})/(005[A-Za-z0-9]{12,15})$")
_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
DEAD_TOKEN_ERRORS = frozenset({"unsupported_token_type", "invalid_token"})
"""What `/services/oauth2/revoke` answers (HTTP 400) for a token with nothing left to revoke."""


@dataclass(frozen=True, kw_only=True)
class TokenResponse:
    access_token: Secret
    refresh_token: Secret | None
    instance_url: str
    identity_url: str
    org_id: str
    user_id: str
    issued_at: datetime


@dataclass(frozen=True, kw_only=True)
class AppSignIn:
    """A client-credentials sign-in that worked: the run-as user's id from the identity URL."""

    user_id: str
    org_id: str


@dataclass(frozen=True, kw_only=True)
class Identity:
    user_id: str
    org_id: str
    username: str
    email: str | None = None
    email_verified: bool = False
    """Salesforce's `email_verified`: the user confirmed the address (a change of address is pending until then)."""


def new_code_verifier() -> Secret:
    """A PKCE verifier: 64 characters from the unreserved set (RFC 7636 allows 43-128)."""
    return Secret(secrets.token_urlsafe(48))


def new_state() -> Secret:
    """An OAuth `state` with 256 random bits."""
    return Secret(secrets.token_urlsafe(32))


def verify_signature(*, client_secret: Secret, identity_url: str, issued_at: str, signature: str) -> bool:
    """Salesforce signs `id + issued_at` with HMAC-SHA256 keyed by the client secret (Base64)."""
    expected = hmac.new(
        client_secret.reveal().encode("utf-8"), (identity_url + issued_at).encode("utf-8"), hashlib.sha256
    ).digest()
    try:
        received = base64.b64decode(signature, validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(expected, received)


class SalesforceOAuth:
    def __init__(
        self, *, http: SalesforceHttp, client_id: str, client_secret: Secret, redirect_uri: str
    ) -> None:
        self._http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._redirect_uri = redirect_uri

    def authorize_url(self, *, login_url: str, state: Secret, code_verifier: Secret) -> str:
        origin = self._http.host_policy.require_salesforce_url(login_url, what="login URL")
        return prepare_grant_uri(
            origin + "/services/oauth2/authorize",
            client_id=self._client_id,
            response_type="code",
            redirect_uri=self._redirect_uri,
            scope=BOT_SCOPES,
            state=state.reveal(),
            code_challenge=create_s256_code_challenge(code_verifier.reveal()),
            code_challenge_method="S256",
            # Sign in afresh and approve on Salesforce's own page: an admin already signed in (or lured to the
            # link) sees which user and org they are authorizing instead of being walked through unawares.
            prompt="login consent",
        )

    async def exchange_code(self, *, login_url: str, code: str, code_verifier: Secret) -> TokenResponse:
        """Exchange an authorization code (once: a code exchange is never retried after it was sent)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": self._client_id,
            "client_secret": self._client_secret.reveal(),
            "redirect_uri": self._redirect_uri,
            "code_verifier": code_verifier.reveal(),
        }
        payload = await self._token_request(login_url, form, idempotent=False)
        return self._checked_token_response(payload, previous_refresh_token=None)

    async def refresh(self, *, login_url: str, refresh_token: Secret) -> TokenResponse:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token.reveal(),
            "client_id": self._client_id,
            "client_secret": self._client_secret.reveal(),
            "format": "json",
        }
        payload = await self._token_request(login_url, form, idempotent=True)
        return self._checked_token_response(payload, previous_refresh_token=refresh_token)

    async def sign_in_as_app(self, *, my_domain_url: str, consumer_key: Secret, consumer_secret: Secret) -> AppSignIn:
        """Prove an app's own credentials: the client credentials flow against the org's My Domain (login and
        test refuse it), checking the answer as Quality Clouds would rely on it (a signed `Bearer` token).
        The access token is dropped at once: only the fact that Salesforce issued it matters."""
        form = {
            "grant_type": "client_credentials",
            "client_id": consumer_key.reveal(),
            "client_secret": consumer_secret.reveal(),
        }
        payload = await self._token_request(my_domain_url, form, idempotent=True)
        if payload.get("token_type") != "Bearer":
            raise TokenResponseRejected("The client credentials answer is not a Bearer token.")
        token = self._checked_token_response(payload, previous_refresh_token=None, client_secret=consumer_secret)
        return AppSignIn(user_id=token.user_id, org_id=token.org_id)

    async def revoke(self, *, login_url: str, token: Secret) -> None:
        """Revoke a token; an already-dead token counts as revoked (Salesforce answers it with either of two
        errors, `DEAD_TOKEN_ERRORS`)."""
        origin = self._http.host_policy.require_salesforce_url(login_url, what="login URL")
        response = await self._http.request(
            "POST", origin + "/services/oauth2/revoke", what="token revocation", headers=_FORM,
            data={"token": token.reveal()},
        )
        if response.status == 200:
            return
        error = _json_or_empty(response.body).get("error")
        if response.status == 400 and error in DEAD_TOKEN_ERRORS:
            return
        raise SalesforceError(f"Salesforce refused to revoke the token (HTTP {response.status}, {error}).")

    async def identity(self, *, token: TokenResponse) -> Identity:
        response = await self._http.request(
            "GET", token.identity_url + "?format=json", what="identity URL",
            headers={"Authorization": f"Bearer {token.access_token.reveal()}", "Accept": "application/json"},
        )
        if response.status != 200:
            raise TokenResponseRejected(f"Salesforce refused the identity request (HTTP {response.status}).")
        body = _json_or_empty(response.body)
        if body.get("organization_id") != token.org_id or body.get("user_id") != token.user_id:
            raise TokenResponseRejected("The identity service described a different user or org than the token.")
        email = body.get("email")
        return Identity(user_id=token.user_id, org_id=token.org_id, username=str(body.get("username") or ""),
                        email=email if isinstance(email, str) and email else None,
                        email_verified=body.get("email_verified") is True)

    async def _token_request(self, login_url: str, form: dict[str, str], *, idempotent: bool) -> dict[str, object]:
        origin = self._http.host_policy.require_salesforce_url(login_url, what="login URL")
        response = await self._http.request(
            "POST", origin + "/services/oauth2/token", what="token", headers=_FORM, data=form,
            idempotent=idempotent,
        )
        payload = _json_or_empty(response.body)
        if response.status != 200:
            error = str(payload.get("error") or f"http_{response.status}")
            raise OAuthError(error=error, description=_optional_str(payload.get("error_description")),
                             grant_type=form["grant_type"])
        return payload

    def _checked_token_response(
        self, payload: dict[str, object], *, previous_refresh_token: Secret | None, client_secret: Secret | None = None
    ) -> TokenResponse:
        """`client_secret`: the secret that signed the answer, when it is not the bot's own (an app's)."""
        access_token = payload.get("access_token")
        identity_url = payload.get("id")
        issued_at = payload.get("issued_at")
        signature = payload.get("signature")
        instance_url = payload.get("instance_url")
        if not all(isinstance(value, str) and value for value in (access_token, identity_url, issued_at,
                                                                  instance_url)):
            raise TokenResponseRejected("The token response is missing access_token, id, issued_at or instance_url.")
        assert isinstance(access_token, str) and isinstance(identity_url, str)
        assert isinstance(issued_at, str) and isinstance(instance_url, str)
        if not isinstance(signature, str) or not verify_signature(
            client_secret=client_secret or self._client_secret, identity_url=identity_url, issued_at=issued_at,
            signature=signature,
        ):
            raise TokenResponseRejected("The token response signature does not match; it did not come from "
                                        "Salesforce for this client.")
        try:
            instance_origin = self._http.host_policy.require_salesforce_url(instance_url, what="instance URL")
            self._http.host_policy.require_salesforce_url(identity_url, what="identity URL")
        except LoginHostError as exc:
            raise TokenResponseRejected(str(exc)) from exc
        match = _IDENTITY_PATH.match(urlsplit(identity_url).path)
        if not match or not issued_at.isdigit():
            raise TokenResponseRejected("The token response has a malformed identity URL or issue time.")
        refresh_token = payload.get("refresh_token")
        return TokenResponse(
            access_token=Secret(access_token),
            refresh_token=Secret(refresh_token) if isinstance(refresh_token, str) and refresh_token
            else previous_refresh_token,
            instance_url=instance_origin,
            identity_url=identity_url,
            org_id=match.group(1),
            user_id=match.group(2),
            issued_at=datetime.fromtimestamp(int(issued_at) / 1000, tz=UTC),
        )


def _json_or_empty(body: bytes) -> dict[str, object]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
