"""OAuth 2.0 endpoints: authorize (web server flow + PKCE), token, revoke, introspect, identity.

Choices where Salesforce's behaviour is UNCONFIRMED (texts are exact):

* ``code_challenge_method`` other than ``S256`` (``plain`` included, or absent while a challenge is
  sent) -> redirect ``error=invalid_request``, ``error_description=invalid code_challenge_method``;
  a client requiring PKCE without a challenge -> ``invalid_request`` / ``missing required
  code challenge``.
* PKCE at the token endpoint: challenge stored but no verifier -> ``invalid_grant`` / ``invalid code
  verifier``; verifier mismatch -> ``invalid_request`` / ``invalid code verifier``; a verifier for a
  code issued without a challenge -> ``invalid_grant`` / ``invalid code verifier``.
* ``redirect_uri`` at the token endpoint differing from the authorize one -> ``invalid_grant`` /
  ``redirect_uri must match configuration``.
* A code redeemed, or a refresh token used, on a host that does not serve its org (production
  org via the sandbox login host and so on) -> ``invalid_grant`` (``invalid authorization code`` /
  ``expired access/refresh token``).
* Non-form token requests -> ``invalid_request`` / ``unsupported content type``; unknown grant ->
  ``unsupported_grant_type`` / ``grant type not supported``.
* Client credentials with an inactive run-as user -> ``invalid_grant`` / ``user is inactive``; for
  credentials younger than ``FakeOrg.credentials_propagation`` -> ``invalid_client_id`` / ``client
  identifier invalid`` (whatever the secret); for an app requiring PKCE (switch
  ``client_credentials_refuse_pkce``) -> ``invalid_request`` / ``PKCE is required for this app``.
* Identity URL of another user (or unknown ids) -> 403 ``Bad_Id``; bad token -> 403
  ``Bad_OAuth_Token``.  JSON only (``format=xml`` is not modelled).
* ``/introspect``: client authentication required (400 ``invalid_client``); an app only sees its own
  tokens; refresh tokens carry ``exp`` only when their policy bounds them.
* Unknown ``client_id`` / unregistered ``redirect_uri``: HTML error page, HTTP 400, no redirect.
  Nobody signed in, an inactive user, or an org reached through the wrong login host (production
  org via the sandbox host and vice versa, or another org's My Domain): HTML "Login failed" page,
  HTTP 200, no redirect.
* ``prompt`` (see ``FakeSalesforce.prompt_supported``): values other than ``login``, ``consent`` and
  ``select_account`` -> redirect ``error=invalid_request``, ``invalid prompt value``.
* An uninstalled client (not in ``org.installed_clients``) authorized by a user without
  "ApproveUninstalledConnectedApps" -> redirect ``error=invalid_client``, ``app must be installed
  into org`` (the observed Sept 2025 restriction).
* ``OauthToken`` rows: one per grant (``CreatedDate`` = first issue, kept across rotation),
  ``UseCount`` starts at 1 and grows on each refresh.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlencode

from aiohttp import web

from .clock import epoch_millis, epoch_seconds, soql_datetime
from .common import esc, fake_of, html_page, json_response, role_of, set_operation
from .ids import new_auth_code, new_opaque
from .tokens import CODE_LIFETIME, AuthCode, OAuthClient, RefreshFamily

if TYPE_CHECKING:
    from .common import Role
    from .org import FakeOrg, FakeUser
    from .server import FakeSalesforce

API_VERSION = "63.0"
PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
PROMPT_VALUES = frozenset({"login", "consent", "select_account"})
CONSENT_PATH = "/setup/secur/RemoteAccessAuthorizationPage.apexp"


def oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return json_response({"error": error, "error_description": description}, status, no_store=True)


def _redirect(uri: str, params: dict[str, str]) -> web.Response:
    sep = "&" if "?" in uri else "?"
    return web.Response(status=302, headers={"Location": uri + sep + urlencode(params)})


def _error_page(error: str, description: str, status: int = 400) -> web.Response:
    return html_page(
        "OAuth Error",
        f"<p>We can't authorize you because of an OAuth error. For more information, contact your "
        f"Salesforce administrator.</p><p id='oauth-error'>{esc(error)}: {esc(description)}</p>",
        status,
    )


def _login_failed(reason: str) -> web.Response:
    return html_page(
        "Login failed",
        f"<p id='login-error'>Please check your username and password. If you still can't log in, "
        f"contact your Salesforce administrator.</p><p>{esc(reason)}</p>",
    )


# ------------------------------------------------------------------------------------- authorize


async def authorize(request: web.Request) -> web.Response:
    set_operation(request, "authorize")
    fake = fake_of(request)
    role = role_of(request)
    params = dict(request.query)
    if request.method == "POST":
        params.update({k: str(v) for k, v in (await request.post()).items()})
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    user = fake.signed_in
    org = user.org if user else None
    client = fake.resolve_client(client_id, org)
    if client is None:
        return _error_page("invalid_client_id", "client identifier invalid")
    if redirect_uri not in client.redirect_uris:
        return _error_page("redirect_uri_mismatch", "redirect_uri must match configuration")
    state = params.get("state")

    def fail(error: str, description: str) -> web.Response:
        out = {"error": error, "error_description": description}
        if state is not None:
            out["state"] = state
        return _redirect(redirect_uri, out)

    if params.get("response_type") != "code":
        return fail("unsupported_response_type", "response type not supported")
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge is not None or method is not None:
        if method != "S256":
            return fail("invalid_request", "invalid code_challenge_method")
        if challenge is None or not PKCE_VALUE.fullmatch(challenge):
            return fail("invalid_request", "invalid code_challenge")
    elif client.pkce_required:
        return fail("invalid_request", "missing required code challenge")
    requested = params.get("scope")
    if requested is None:
        scopes = tuple(sorted(client.scopes))
    else:
        scopes = tuple(dict.fromkeys(requested.split()))
        if not scopes or not set(scopes) <= client.scopes:
            return fail("invalid_scope", "the requested scope is not allowed")
    prompt = params.get("prompt")
    fake.prompts.append(prompt)
    if prompt is not None and fake.prompt_supported:
        values = prompt.split()
        if not values or not set(values) <= PROMPT_VALUES:
            return fail("invalid_request", "invalid prompt value")
        if "login" in values and user is not None:
            fake.fresh_sign_ins += 1  # the session ends and the same user signs in again
    if user is None or org is None:
        return _login_failed("Nobody is signed in to the fake Salesforce (call fake.sign_in).")
    if not role.serves(org):
        return _login_failed(f"User {user.username} can't log in on {role.base_url}.")
    if not user.active:
        return _login_failed(f"User {user.username} is inactive.")
    if (
        client.org is None
        and client.key not in org.installed_clients
        and not user.has_any("ApproveUninstalledConnectedApps")
    ):
        return fail("invalid_client", "app must be installed into org")
    pending = {
        "client_key": client.key,
        "redirect_uri": redirect_uri,
        "state": state,
        "challenge": challenge,
        "scopes": scopes,
        "user": user,
        "role": role,
    }
    if org.consent == "deny":
        return fail("access_denied", "end-user denied authorization")
    if fake.interactive_consent:
        ticket = new_opaque(18)
        fake.pending_consents[ticket] = pending
        scope_items = "".join(f"<li>{esc(s)}</li>" for s in scopes)
        return html_page(
            "Allow access?",
            f"<p><b>{esc(client.label)}</b> is asking to access your Salesforce data as "
            f"<b>{esc(user.username)}</b> ({esc(org.name)}).</p><ul id='scopes'>{scope_items}</ul>"
            f"<form method='post' action='{CONSENT_PATH}'>"
            f"<input type='hidden' name='ticket' value='{esc(ticket)}'>"
            "<button type='submit' name='decision' value='deny' id='deny'>Deny</button> "
            "<button type='submit' name='decision' value='allow' id='allow'>Allow</button>"
            "</form>",
        )
    return _issue_code(fake, pending)


async def consent_decision(request: web.Request) -> web.Response:
    set_operation(request, "consent")
    fake = fake_of(request)
    form = await request.post()
    pending = fake.pending_consents.pop(str(form.get("ticket", "")), None)
    if pending is None:
        return _error_page("invalid_request", "this authorization request has expired")
    if form.get("decision") != "allow":
        out = {"error": "access_denied", "error_description": "end-user denied authorization"}
        if pending["state"] is not None:
            out["state"] = pending["state"]
        return _redirect(pending["redirect_uri"], out)
    return _issue_code(fake, pending)


def _issue_code(fake: FakeSalesforce, pending: dict) -> web.Response:
    user: FakeUser = pending["user"]
    code = AuthCode(
        code=new_auth_code(),
        client_key=pending["client_key"],
        redirect_uri=pending["redirect_uri"],
        org=user.org,
        user=user,
        scopes=pending["scopes"],
        challenge=pending["challenge"],
        created=fake.now(),
    )
    fake.tokens.codes[code.code] = code
    out = {"code": code.code}
    if pending["state"] is not None:
        out["state"] = pending["state"]
    return _redirect(pending["redirect_uri"], out)


# ----------------------------------------------------------------------------------------- token


def _client_credentials(request: web.Request, form: dict[str, str]) -> tuple[str, str | None] | None:
    """(client_id, client_secret) from HTTP Basic or the body; None when they disagree."""
    body_id, body_secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = raw.partition(":")
        user, password = unquote(user), unquote(password)
        if (body_id and body_id != user) or (body_secret and body_secret != password):
            return None
        return user, password
    return body_id or "", body_secret


def _signature(secret: str, identity_url: str, issued_at: str) -> str:
    digest = hmac.new(secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _token_body(
    fake: FakeSalesforce,
    role: Role,
    client: OAuthClient,
    *,
    org: FakeOrg,
    user: FakeUser,
    scopes: tuple[str, ...],
    family: RefreshFamily | None,
    refresh_token: str | None,
) -> tuple[dict[str, str], str]:
    now = fake.now()
    access = fake.tokens.new_access(
        org=org,
        user=user,
        client_key=client.key,
        scopes=scopes,
        now=now,
        lifetime=fake.access_token_lifetime,
        family=family,
    )
    issued_at = str(epoch_millis(now))
    identity = f"{role.base_url}/id/{org.id}/{user.id}"
    body = {"access_token": access.token}
    if refresh_token:
        body["refresh_token"] = refresh_token
    body.update(
        {
            "signature": _signature(client.secret, identity, issued_at),
            "scope": " ".join(scopes),
            "instance_url": org.my_domain_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
    )
    return body, access.token


def _new_family(
    fake: FakeSalesforce, client: OAuthClient, org: FakeOrg, user: FakeUser, scopes: tuple[str, ...]
) -> RefreshFamily:
    now = fake.now()
    family = fake.tokens.new_family(org=org, user=user, client_key=client.key, scopes=scopes, now=now)
    family.use_count = 1
    org.list_grant(family, client)
    return family


async def token(request: web.Request) -> web.Response:
    fake = fake_of(request)
    role = role_of(request)
    set_operation(request, "token")
    if request.content_type != "application/x-www-form-urlencoded":
        return oauth_error("invalid_request", "unsupported content type")
    form = {k: str(v) for k, v in (await request.post()).items()}
    grant = form.get("grant_type", "")
    set_operation(request, f"token:{grant}")
    creds = _client_credentials(request, form)
    if creds is None:
        return oauth_error("invalid_client", "invalid client credentials")
    client_id, client_secret = creds
    if grant == "authorization_code":
        return _grant_code(fake, role, form, client_id, client_secret)
    if grant == "refresh_token":
        return _grant_refresh(fake, role, form, client_id, client_secret)
    if grant == "client_credentials":
        return _grant_client_credentials(fake, role, client_id, client_secret)
    return oauth_error("unsupported_grant_type", "grant type not supported")


def _secret_ok(client: OAuthClient, secret: str | None) -> bool:
    return secret is not None and hmac.compare_digest(secret.encode(), client.secret.encode())


def _grant_code(
    fake: FakeSalesforce, role: Role, form: dict[str, str], client_id: str, client_secret: str | None
) -> web.Response:
    code = fake.tokens.codes.get(form.get("code", ""))
    client = fake.resolve_client(client_id, code.org if code else role.org)
    if client is None:
        return oauth_error("invalid_client_id", "client identifier invalid")
    if not (client.secret_optional and client_secret is None) and not _secret_ok(client, client_secret):
        return oauth_error("invalid_client", "invalid client credentials")
    now = fake.now()
    if code is None or code.client_key != client.key or not role.serves(code.org):
        return oauth_error("invalid_grant", "invalid authorization code")
    if code.used:
        for token_value in code.issued_access:
            record = fake.tokens.access.get(token_value)
            if record:
                record.revoked = True
        if code.family is not None:
            fake.tokens.revoke_family(code.family)
        return oauth_error("invalid_grant", "invalid authorization code")
    if now - code.created > CODE_LIFETIME:
        return oauth_error("invalid_grant", "invalid authorization code")
    if form.get("redirect_uri") != code.redirect_uri:
        return oauth_error("invalid_grant", "redirect_uri must match configuration")
    verifier = form.get("code_verifier")
    if code.challenge is not None:
        if verifier is None:
            return oauth_error("invalid_grant", "invalid code verifier")
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not PKCE_VALUE.fullmatch(verifier) or not hmac.compare_digest(computed, code.challenge):
            return oauth_error("invalid_request", "invalid code verifier")
    elif verifier is not None:
        return oauth_error("invalid_grant", "invalid code verifier")
    if code.org.token_error is not None:
        return oauth_error(*code.org.token_error)
    code.used = True
    family = None
    refresh_value = None
    if {"refresh_token", "offline_access"} & set(code.scopes):
        family = _new_family(fake, client, code.org, code.user, code.scopes)
        refresh_value = family.current
        code.family = family
    body, access = _token_body(
        fake,
        role,
        client,
        org=code.org,
        user=code.user,
        scopes=code.scopes,
        family=family,
        refresh_token=refresh_value,
    )
    code.issued_access.append(access)
    return json_response(body, no_store=True)


def _grant_refresh(
    fake: FakeSalesforce, role: Role, form: dict[str, str], client_id: str, client_secret: str | None
) -> web.Response:
    presented = form.get("refresh_token", "")
    family = fake.tokens.refresh.get(presented)
    client = fake.resolve_client(client_id, family.org if family else role.org)
    if client is None:
        return oauth_error("invalid_client_id", "client identifier invalid")
    needs_secret = client.secret_required_for_refresh or client_secret is not None
    if needs_secret and not _secret_ok(client, client_secret):
        return oauth_error("invalid_client", "invalid client credentials")
    expired = oauth_error("invalid_grant", "expired access/refresh token")
    if family is None or family.revoked or family.client_key != client.key or not role.serves(family.org):
        return expired
    if presented != family.current:
        fake.tokens.revoke_family(family)  # reuse of a rotated-out token
        return expired
    now = fake.now()
    expires = client.refresh_policy.expires_at(family.created, family.last_used)
    if expires is not None and now >= expires:
        return expired
    if not family.user.active:
        return oauth_error("inactive_user", "user is inactive")
    family.last_used = now
    family.use_count += 1
    if family.row is not None:
        family.row.last_used = now
        family.row.use_count = family.use_count
    new_refresh = fake.tokens.rotate(family) if client.rotate_refresh_tokens else None
    body, _ = _token_body(
        fake,
        role,
        client,
        org=family.org,
        user=family.user,
        scopes=family.scopes,
        family=family,
        refresh_token=new_refresh,
    )
    return json_response(body, no_store=True)


def _grant_client_credentials(
    fake: FakeSalesforce, role: Role, client_id: str, client_secret: str | None
) -> web.Response:
    if role.kind != "mydomain" or role.org is None:
        return oauth_error("invalid_grant", "request not supported on this domain")
    org = role.org
    client = org.app_client(client_id)
    if client is None or not org.credentials_propagated(client_id):
        return oauth_error("invalid_client_id", "client identifier invalid")
    if not _secret_ok(client, client_secret):
        return oauth_error("invalid_client", "invalid client credentials")
    if client.pkce_required and org.client_credentials_refuse_pkce:
        return oauth_error("invalid_request", "PKCE is required for this app")
    run_as = org.user(client.client_credentials_user) if client.client_credentials_user else None
    if not client.client_credentials_enabled or run_as is None:
        return oauth_error("invalid_grant", "no client credentials user enabled")
    if not run_as.active:
        return oauth_error("invalid_grant", "user is inactive")
    if org.require_api_only_run_as and not run_as.api_only:
        return oauth_error("invalid_grant", "no client credentials user enabled")
    scopes = tuple(sorted(client.scopes - {"refresh_token", "offline_access"}))
    body, _ = _token_body(
        fake, role, client, org=org, user=run_as, scopes=scopes, family=None, refresh_token=None
    )
    return json_response(body, no_store=True)


# ------------------------------------------------------------------------------ revoke, introspect


async def revoke(request: web.Request) -> web.Response:
    set_operation(request, "revoke")
    fake = fake_of(request)
    if request.method == "POST":
        value = str((await request.post()).get("token", "")) or request.query.get("token", "")
    else:
        value = request.query.get("token", "")
    store = fake.tokens
    access = store.active_access(value, fake.now())
    if access is not None:
        access.revoked = True
        return web.Response(status=200)
    family = store.refresh.get(value)
    if family is not None and not family.revoked:
        store.revoke_family(family)
        return web.Response(status=200)
    for org in fake.orgs:
        for row in list(org.oauth_tokens):
            if row.delete_token == value:
                org.remove_oauth_token_row(row)
                if row.family_id and row.family_id in store.families:
                    store.revoke_family(store.families[row.family_id])
                return web.Response(status=200)
    # Nothing left to revoke: unknown, expired or already revoked.
    return oauth_error(fake.dead_token_revoke_error, "invalid token")


async def introspect(request: web.Request) -> web.Response:
    set_operation(request, "introspect")
    fake = fake_of(request)
    if request.content_type != "application/x-www-form-urlencoded":
        return oauth_error("invalid_request", "unsupported content type")
    form = {k: str(v) for k, v in (await request.post()).items()}
    creds = _client_credentials(request, form)
    value = form.get("token", "")
    access = fake.tokens.access.get(value)
    family = fake.tokens.refresh.get(value)
    org = access.org if access else (family.org if family else None)
    client = fake.resolve_client(creds[0], org) if creds else None
    if client is None or not _secret_ok(client, creds[1] if creds else None):
        return oauth_error("invalid_client", "invalid client credentials")
    now = fake.now()
    if access is not None and access.client_key == client.key and access.active(now):
        return json_response(
            {
                "active": True,
                "scope": " ".join(access.scopes),
                "client_id": client.key,
                "username": access.user.username,
                "sub": f"{fake.login_url_for(access.org)}/id/{access.org.id}/{access.user.id}",
                "token_type": "access_token",
                "exp": epoch_seconds(access.expires),
                "iat": epoch_seconds(access.issued),
                "nbf": epoch_seconds(access.issued),
            }
        )
    if (
        family is not None
        and family.client_key == client.key
        and not family.revoked
        and value == family.current
    ):
        expires = client.refresh_policy.expires_at(family.created, family.last_used)
        if expires is None or now < expires:
            out: dict[str, object] = {
                "active": True,
                "scope": " ".join(family.scopes),
                "client_id": client.key,
                "username": family.user.username,
                "sub": f"{fake.login_url_for(family.org)}/id/{family.org.id}/{family.user.id}",
                "token_type": "refresh_token",
                "iat": epoch_seconds(family.created),
                "nbf": epoch_seconds(family.created),
            }
            if expires is not None:
                out["exp"] = epoch_seconds(expires)
            return json_response(out)
    return json_response({"active": False})


# -------------------------------------------------------------------------------------- identity


async def identity(request: web.Request) -> web.Response:
    set_operation(request, "identity")
    fake = fake_of(request)
    header = request.headers.get("Authorization", "")
    value = header[7:].strip() if header[:7].lower() == "bearer " else request.query.get("oauth_token", "")
    access = fake.tokens.active_access(value, fake.now())
    if access is None:
        return web.Response(status=403, text="Bad_OAuth_Token")
    org, user = access.org, access.user
    if not (_same(org.id, request.match_info["org_id"]) and _same(user.id, request.match_info["user_id"])):
        return web.Response(status=403, text="Bad_Id")
    base = org.my_domain_url
    v = "{version}"
    org15 = org.id[:15]
    client = fake.resolve_client(access.client_key, org)
    data: dict[str, object] = {
        "id": f"{role_of(request).base_url}/id/{org.id}/{user.id}",
        "asserted_user": True,
        "user_id": user.id,
        "organization_id": org.id,
        "username": user.username,
        "nick_name": user.username.split("@")[0],
        "display_name": user.name,
        "email": user.email,
        "email_verified": user.email_verified,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "timezone": "GMT",
        "photos": {"picture": f"{base}/profilephoto/005/F", "thumbnail": f"{base}/profilephoto/005/T"},
        "addr_street": None,
        "addr_city": None,
        "addr_state": None,
        "addr_country": None,
        "addr_zip": None,
        "mobile_phone": None,
        "mobile_phone_verified": False,
        "is_lightning_login_user": False,
        "status": {"created_date": None, "body": None},
        "urls": {
            "enterprise": f"{base}/services/Soap/c/{v}/{org15}",
            "metadata": f"{base}/services/Soap/m/{v}/{org15}",
            "partner": f"{base}/services/Soap/u/{v}/{org15}",
            "rest": f"{base}/services/data/v{v}/",
            "sobjects": f"{base}/services/data/v{v}/sobjects/",
            "search": f"{base}/services/data/v{v}/search/",
            "query": f"{base}/services/data/v{v}/query/",
            "recent": f"{base}/services/data/v{v}/recent/",
            "tooling_soap": f"{base}/services/Soap/T/{v}/{org15}",
            "tooling_rest": f"{base}/services/data/v{v}/tooling/",
            "profile": f"{base}/{user.id}",
            "feeds": f"{base}/services/data/v{v}/chatter/feeds",
            "groups": f"{base}/services/data/v{v}/chatter/groups",
            "users": f"{base}/services/data/v{v}/chatter/users",
            "feed_items": f"{base}/services/data/v{v}/chatter/feed-items",
            "custom_domain": base,
        },
        "active": user.active,
        "user_type": user.user_type.upper(),
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "last_modified_date": soql_datetime(fake.now()),
    }
    installed = client is not None and (client.org is org or client.key in org.installed_clients)
    if installed:
        data["is_app_installed"] = True
    return json_response(data)


def _same(a: str, b: str) -> bool:
    from .ids import same_id

    return same_id(a, b)


# ------------------------------------------------------------------------------ discovery


async def openid_configuration(request: web.Request) -> web.Response:
    """``/.well-known/openid-configuration``: the host's OAuth endpoints (OpenID Connect Discovery)."""
    set_operation(request, "openid_configuration")
    base = role_of(request).base_url
    return json_response({
        "issuer": base,
        "authorization_endpoint": f"{base}/services/oauth2/authorize",
        "token_endpoint": f"{base}/services/oauth2/token",
        "revocation_endpoint": f"{base}/services/oauth2/revoke",
        "introspection_endpoint": f"{base}/services/oauth2/introspect",
        "userinfo_endpoint": f"{base}/services/oauth2/userinfo",
        "jwks_uri": f"{base}/id/keys",
        "response_types_supported": ["code", "token", "token id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["id", "api", "web", "full", "chatter_api", "visualforce", "refresh_token", "openid",
                             "profile", "email", "address", "phone", "offline_access", "custom_permissions"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
    })
