"""The fake Salesforce's OAuth endpoints, driven over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import aiohttp
import pytest

from standins.salesforce import FakeSalesforce, ManualClock
from standins.salesforce.driver import SalesforceDriver, basic_auth, pkce_pair

from .conftest import CLIENT_ID, REDIRECT, SECRET


def location_query(resp: aiohttp.ClientResponse) -> dict[str, str]:
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


async def get_code(sf: SalesforceDriver, host: str, scope: str = "api refresh_token") -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    resp = await sf.authorize(
        host, scope=scope, state="xyz", code_challenge=challenge, code_challenge_method="S256"
    )
    assert resp.status == 302
    query = location_query(resp)
    assert query["state"] == "xyz"
    return query["code"], verifier


def code_form(code: str, verifier: str | None, **extra: str) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "redirect_uri": REDIRECT,
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    form.update(extra)
    return form


# ------------------------------------------------------------------------------ web server flow


async def test_web_server_flow_with_pkce_and_signature(
    fake: FakeSalesforce, sf: SalesforceDriver, clock: ManualClock
) -> None:
    org = fake.orgs[0]
    code, verifier = await get_code(sf, fake.login_url)
    assert code.endswith("==")  # codes need URL-decoding, as Salesforce's do
    async with sf.session.post(
        f"{fake.login_url}/services/oauth2/token", data=code_form(code, verifier)
    ) as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        body = await resp.json()
    assert set(body) == {
        "access_token",
        "refresh_token",
        "signature",
        "scope",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    }
    assert "expires_in" not in body
    assert body["access_token"].startswith(org.id[:15] + "!")
    assert body["instance_url"] == org.my_domain_url
    assert body["id"] == f"{fake.login_url}/id/{org.id}/{org.admin.id}"
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "api refresh_token"
    assert body["issued_at"] == str(int(clock().timestamp() * 1000))
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256).digest()
    ).decode()
    assert body["signature"] == expected
    assert len(org.id) == 18 and org.id.startswith("00D") and org.admin.id.startswith("005")


async def test_basic_auth_and_no_refresh_without_scope(fake: FakeSalesforce, sf: SalesforceDriver) -> None:
    code, verifier = await get_code(sf, fake.login_url, scope="api")
    form = code_form(code, verifier)
    del form["client_id"], form["client_secret"]
    status, body = await sf.token(fake.login_url, form, headers=basic_auth(CLIENT_ID, SECRET))
    assert status == 200
    assert "refresh_token" not in body
    assert body["scope"] == "api"


async def test_sandbox_org_via_sandbox_host_only(fake: FakeSalesforce, sf: SalesforceDriver) -> None:
    sandbox = fake.add_org(name="Acme QA", is_sandbox=True)
    fake.sign_in(sandbox)
    resp = await sf.authorize(
        fake.login_url, state="s", code_challenge=pkce_pair()[1], code_challenge_method="S256"
    )
    assert resp.status == 200 and "Location" not in resp.headers
    tokens = await sf.login(fake.sandbox_login_url)
    assert tokens.instance_url == sandbox.my_domain_url
    assert tokens.raw["id"].startswith(fake.sandbox_login_url + "/id/" + sandbox.id)
    assert sandbox.my_domain_host in fake.allowed_hosts and len(fake.allowed_hosts) == 4
    # a production org via the sandbox host fails the same way
    fake.sign_in(fake.orgs[0])
    resp = await sf.authorize(
        fake.sandbox_login_url, code_challenge=pkce_pair()[1], code_challenge_method="S256"
    )
    assert resp.status == 200 and "Location" not in resp.headers


async def test_authorize_refusals_without_redirect(fake: FakeSalesforce, sf: SalesforceDriver) -> None:
    _, challenge = pkce_pair()
    async with sf.session.get(
        f"{fake.login_url}/services/oauth2/authorize",
        allow_redirects=False,
        params={"response_type": "code", "client_id": "nope", "redirect_uri": REDIRECT},
    ) as resp:
        assert resp.status == 400 and "Location" not in resp.headers
        assert "client identifier invalid" in await resp.text()
    resp = await sf.authorize(
        fake.login_url,
        redirect_uri=REDIRECT + "/other",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert resp.status == 400 and "Location" not in resp.headers


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),  # pkce_required
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "api full"}, "invalid_scope"),
    ],
)
async def test_authorize_refusals_redirect_with_error(
    fake: FakeSalesforce, sf: SalesforceDriver, params: dict, error: str
) -> None:
    query = {"state": "st", "code_challenge": pkce_pair()[1], "code_challenge_method": "S256", "scope": "api"}
    query.update(params)
    resp = await sf.authorize(fake.login_url, **{k: v for k, v in query.items() if v is not None})
    assert resp.status == 302
    got = location_query(resp)
    assert got["error"] == error and got["state"] == "st" and "code" not in got


async def test_consent_denied_by_switch(fake: FakeSalesforce, sf: SalesforceDriver) -> None:
    fake.orgs[0].consent = "deny"
    resp = await sf.authorize(
        fake.login_url, state="st", code_challenge=pkce_pair()[1], code_challenge_method="S256"
    )
    assert location_query(resp) == {
        "error": "access_denied",
        "error_description": "end-user denied authorization",
        "state": "st",
    }


@pytest.mark.parametrize("decision", ["allow", "deny"])
async def test_interactive_consent_page(fake: FakeSalesforce, sf: SalesforceDriver, decision: str) -> None:
    fake.interactive_consent = True
    resp = await sf.authorize(
        fake.login_url, state="st", code_challenge=pkce_pair()[1], code_challenge_method="S256"
    )
    assert resp.status == 200
    async with sf.session.get(
        f"{fake.login_url}/services/oauth2/authorize",
        allow_redirects=False,
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT,
            "state": "st",
            "code_challenge": pkce_pair()[1],
            "code_challenge_method": "S256",
        },
    ) as page:
        html = await page.text()
    assert "Allow access?" in html and "name='decision' value='allow'" in html
    ticket = html.split("name='ticket' value='")[1].split("'")[0]
    async with sf.session.post(
        f"{fake.login_url}/setup/secur/RemoteAccessAuthorizationPage.apexp",
        data={"ticket": ticket, "decision": decision},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 302
        got = location_query(resp)
    assert got["state"] == "st"
    assert ("code" in got) if decision == "allow" else (got["error"] == "access_denied")


async def test_uninstalled_client_needs_approve_permission(
    fake: FakeSalesforce, sf: SalesforceDriver
) -> None:
    org = fake.orgs[0]
    org.installed_clients.discard(CLIENT_ID)
    tokens = await sf.login(fake.login_url)  # the admin holds ApproveUninstalledConnectedApps
    async with sf.session.get(
        tokens.raw["id"], headers={"Authorization": f"Bearer {tokens.access_token}"}
    ) as r:
        assert "is_app_installed" not in await r.json()
    user = org.add_user(username="dev@acme.example", permissions={"ModifyMetadata"})
    fake.sign_in(org, user.username)
    resp = await sf.authorize(fake.login_url, code_challenge=pkce_pair()[1], code_challenge_method="S256")
    got = location_query(resp)
    assert (got["error"], got["error_description"]) == ("invalid_client", "app must be installed into org")


# ----------------------------------------------------------------------------------- token grant


async def test_token_endpoint_refusals(
    fake: FakeSalesforce, sf: SalesforceDriver, clock: ManualClock
) -> None:
    host = fake.login_url
    code, verifier = await get_code(sf, host)
    async with sf.session.post(f"{host}/services/oauth2/token", json=code_form(code, verifier)) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "invalid_request"
    cases = [
        (code_form(code, verifier, client_secret="wrong"), ("invalid_client", "invalid client credentials")),
        (
            code_form(code, verifier, client_id="unknownKey"),
            ("invalid_client_id", "client identifier invalid"),
        ),
        (code_form(code, None), ("invalid_grant", "invalid code verifier")),
        (code_form(code, "x" * 43), ("invalid_request", "invalid code verifier")),
        (
            code_form(code, verifier, redirect_uri=REDIRECT + "x"),
            ("invalid_grant", "redirect_uri must match configuration"),
        ),
        (code_form("bogus", verifier), ("invalid_grant", "invalid authorization code")),
        (
            {"grant_type": "password", "client_id": CLIENT_ID, "client_secret": SECRET},
            ("unsupported_grant_type", "grant type not supported"),
        ),
    ]
    for form, (error, description) in cases:
        async with sf.session.post(f"{host}/services/oauth2/token", data=form) as resp:
            assert resp.status == 400, form
            assert resp.headers["Cache-Control"] == "no-store"
            assert await resp.json() == {"error": error, "error_description": description}, form
    # none of the failures burnt the code
    status, first = await sf.token(host, code_form(code, verifier))
    assert status == 200
    # reuse: refused, and the tokens issued from the code are revoked
    status, body = await sf.token(host, code_form(code, verifier))
    assert (status, body["error"]) == (400, "invalid_grant")
    status, _ = await sf.query(first["instance_url"], first["access_token"], "SELECT Id FROM Organization")
    assert status == 401
    status, body = await sf.token(
        host,
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
        },
    )
    assert body["error"] == "invalid_grant"
    # expiry: 15 minutes
    code, verifier = await get_code(sf, host)
    clock.advance(minutes=16)
    status, body = await sf.token(host, code_form(code, verifier))
    assert body == {"error": "invalid_grant", "error_description": "invalid authorization code"}


async def test_code_on_wrong_host_and_token_error_switch(fake: FakeSalesforce, sf: SalesforceDriver) -> None:
    code, verifier = await get_code(sf, fake.login_url)
    status, body = await sf.token(fake.sandbox_login_url, code_form(code, verifier))
    assert body["error"] == "invalid_grant"
    status, body = await sf.token(fake.orgs[0].my_domain_url, code_form(code, verifier))
    assert status == 200  # the org's own My Domain serves it
    fake.orgs[0].token_error = ("invalid_client", "app must be installed into org")
    code, verifier = await get_code(sf, fake.login_url)
    status, body = await sf.token(fake.login_url, code_form(code, verifier))
    assert (status, body) == (
        400,
        {"error": "invalid_client", "error_description": "app must be installed into org"},
    )


# ---------------------------------------------------------------------------------------- refresh


def refresh_form(token: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        **extra,
    }


async def test_refresh_keeps_token_and_survives_expired_sessions(
    fake: FakeSalesforce, sf: SalesforceDriver, clock: ManualClock
) -> None:
    org = fake.orgs[0]
    tokens = await sf.login(fake.login_url)
    soql = "SELECT Id FROM Organization"
    assert (await sf.query(tokens.instance_url, tokens.access_token, soql))[0] == 200
    org.expire_sessions()
    status, body = await sf.query(tokens.instance_url, tokens.access_token, soql)
    assert (status, body) == (
        401,
        [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    )
    status, body = await sf.token(fake.login_url, refresh_form(tokens.refresh_token))
    assert status == 200 and "refresh_token" not in body and "expires_in" not in body
    assert body["instance_url"] == org.my_domain_url
    assert (await sf.query(tokens.instance_url, body["access_token"], soql))[0] == 200
    clock.advance(hours=2, seconds=1)
    assert (await sf.query(tokens.instance_url, body["access_token"], soql))[0] == 401
    status, body = await sf.token(fake.login_url, refresh_form(tokens.refresh_token, client_secret="bad"))
    assert body["error"] == "invalid_client"
    status, body = await sf.token(fake.sandbox_login_url, refresh_form(tokens.refresh_token))
    assert body["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("policy", "steps", "expected"),
    [
        ("infinite", [timedelta(days=4000)], [200]),
        ("zero", [timedelta(0)], [400]),
        ("lifetime:90d", [timedelta(days=89), timedelta(days=2)], [200, 400]),
        ("lifetime:12h", [timedelta(hours=11), timedelta(hours=2)], [200, 400]),
        ("idle:30d", [timedelta(days=29), timedelta(days=29), timedelta(days=31)], [200, 200, 400]),
        ("lifetime:3m", [timedelta(days=80), timedelta(days=15)], [200, 400]),
    ],
)
async def test_refresh_token_policies(clock: ManualClock, policy: str, steps: list, expected: list) -> None:
    async with FakeSalesforce(clock=clock) as fake, aiohttp.ClientSession() as session:
        fake.add_org(name="Policy")
        fake.register_client(
            client_id=CLIENT_ID, client_secret=SECRET, redirect_uris=[REDIRECT], refresh_token_policy=policy
        )
        sf = SalesforceDriver(session, client_id=CLIENT_ID, client_secret=SECRET, redirect_uri=REDIRECT)
        tokens = await sf.login(fake.login_url)
        for step, want in zip(steps, expected, strict=True):
            clock.advance(step)
            status, body = await sf.token(fake.login_url, refresh_form(tokens.refresh_token))
            assert status == want, (policy, step, body)
            if want == 400:
                assert body == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


async def test_rotation_and_reuse_detection(clock: ManualClock) -> None:
    async with FakeSalesforce(clock=clock) as fake, aiohttp.ClientSession() as session:
        org = fake.add_org(name="Rotate")
        fake.register_client(
            client_id=CLIENT_ID, client_secret=SECRET, redirect_uris=[REDIRECT], rotate_refresh_tokens=True
        )
        sf = SalesforceDriver(session, client_id=CLIENT_ID, client_secret=SECRET, redirect_uri=REDIRECT)
        tokens = await sf.login(fake.login_url)
        status, second = await sf.token(fake.login_url, refresh_form(tokens.refresh_token))
        assert status == 200 and second["refresh_token"] != tokens.refresh_token
        # the rotated-out token is refused and takes the new one down with it
        status, body = await sf.token(fake.login_url, refresh_form(tokens.refresh_token))
        assert body["error"] == "invalid_grant"
        status, body = await sf.token(fake.login_url, refresh_form(second["refresh_token"]))
        assert body["error"] == "invalid_grant"
        assert (await sf.query(org.my_domain_url, second["access_token"], "SELECT Id FROM User"))[0] == 401


# ---------------------------------------------------------------------------------- client creds


async def test_client_credentials(fake: FakeSalesforce, sf: SalesforceDriver) -> None:
    org = fake.orgs[0]
    runner = org.add_user(username="integration@acme.example", api_only=True, permissions={"ModifyMetadata"})
    org.seed_connected_app(
        "QualityClouds",
        consumer_key="qcKey00000001",
        consumer_secret="qcSecret0001",
        client_credentials_user=runner.username,
    )
    form = {"grant_type": "client_credentials", "client_id": "qcKey00000001", "client_secret": "qcSecret0001"}
    status, body = await sf.token(fake.login_url, form)
    assert (status, body) == (
        400,
        {"error": "invalid_grant", "error_description": "request not supported on this domain"},
    )
    status, body = await sf.token(org.my_domain_url, form)
    assert status == 200 and "refresh_token" not in body
    assert body["id"] == f"{org.my_domain_url}/id/{org.id}/{runner.id}"
    expected = base64.b64encode(
        hmac.new(b"qcSecret0001", (body["id"] + body["issued_at"]).encode(), hashlib.sha256).digest()
    ).decode()
    assert body["signature"] == expected
    status, body = await sf.token(org.my_domain_url, {**form, "client_secret": "nope"})
    assert body == {"error": "invalid_client", "error_description": "invalid client credentials"}
    status, body = await sf.token(org.my_domain_url, {**form, "client_id": "unknownKey1"})
    assert body == {"error": "invalid_client_id", "error_description": "client identifier invalid"}
    status, body = await sf.token(
        org.my_domain_url, {**form, "client_id": CLIENT_ID, "client_secret": SECRET}
    )
    assert body["error"] == "invalid_client_id"  # the bot's own app is not deployed in the org
    org.seed_connected_app("NoRunAs", consumer_key="noRunAsKey01", consumer_secret="noRunAsSecret")
    status, body = await sf.token(
        org.my_domain_url, {**form, "client_id": "noRunAsKey01", "client_secret": "noRunAsSecret"}
    )
    assert body == {"error": "invalid_grant", "error_description": "no client credentials user enabled"}


async def test_client_credentials_wait_for_propagation_and_refuse_pkce_apps(
    fake: FakeSalesforce, sf: SalesforceDriver, clock: ManualClock
) -> None:
    org = fake.orgs[0]
    org.seed_connected_app("QualityClouds", consumer_key="qcKey00000001", consumer_secret="qcSecret0001",
                           client_credentials_user=org.admin.username)
    form = {"grant_type": "client_credentials", "client_id": "qcKey00000001", "client_secret": "qcSecret0001"}
    assert (await sf.token(org.my_domain_url, form))[0] == 200, "a seeded app existed before: propagated"

    org.credentials_changed("qcKey00000001")  # a rotation, say: unknown again for two minutes
    clock.advance(minutes=1, seconds=59)
    not_yet = {"error": "invalid_client_id", "error_description": "client identifier invalid"}
    assert (await sf.token(org.my_domain_url, form))[1] == not_yet
    assert (await sf.token(org.my_domain_url, {**form, "client_secret": "wrong"}))[1] == not_yet
    clock.advance(seconds=1)
    assert (await sf.token(org.my_domain_url, form))[0] == 200
    assert (await sf.token(org.my_domain_url, {**form, "client_secret": "wrong"}))[1]["error"] == "invalid_client"

    org.credentials_propagation = timedelta(0)
    org.credentials_changed("qcKey00000001")
    assert (await sf.token(org.my_domain_url, form))[0] == 200, "the switch: usable at once"

    org.connected_apps["QualityClouds"]["oauthConfig"]["isPkceRequired"] = True
    assert (await sf.token(org.my_domain_url, form))[1] == {
        "error": "invalid_request", "error_description": "PKCE is required for this app"}
    org.client_credentials_refuse_pkce = False
    assert (await sf.token(org.my_domain_url, form))[0] == 200, "the other reading: PKCE is for the web flow only"


# ------------------------------------------------------------------------- revoke, introspect, id


async def test_revoke(fake: FakeSalesforce, sf: SalesforceDriver) -> None:
    org = fake.orgs[0]
    host = fake.login_url
    first = await sf.login(host)
    async with sf.session.post(f"{host}/services/oauth2/revoke", data={"token": first.access_token}) as resp:
        assert resp.status == 200
    assert (await sf.query(org.my_domain_url, first.access_token, "SELECT Id FROM User"))[0] == 401
    status, body = await sf.token(host, refresh_form(first.refresh_token))
    assert status == 200  # revoking an access token leaves the refresh token alone
    async with sf.session.get(
        f"{host}/services/oauth2/revoke", params={"token": first.refresh_token}
    ) as resp:
        assert resp.status == 200
    assert (await sf.query(org.my_domain_url, body["access_token"], "SELECT Id FROM User"))[0] == 401
    assert (await sf.token(host, refresh_form(first.refresh_token)))[1]["error"] == "invalid_grant"
    for dead in ("unknown", first.access_token, first.refresh_token):  # nothing left to revoke
        async with sf.session.post(f"{host}/services/oauth2/revoke", data={"token": dead}) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == "unsupported_token_type", dead
    fake.dead_token_revoke_error = "invalid_token"
    async with sf.session.post(f"{host}/services/oauth2/revoke", data={"token": "unknown"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "invalid_token"
    # DeleteToken of an OauthToken row
    second = await sf.login(host)
    row = next(r for r in org.oauth_tokens if r.app_name == "qc-bot")
    async with sf.session.post(f"{host}/services/oauth2/revoke", data={"token": row.delete_token}) as resp:
        assert resp.status == 200
    assert row not in org.oauth_tokens
    assert (await sf.token(host, refresh_form(second.refresh_token)))[1]["error"] == "invalid_grant"


async def test_introspect(fake: FakeSalesforce, sf: SalesforceDriver) -> None:
    host = fake.login_url
    tokens = await sf.login(host)
    auth = basic_auth(CLIENT_ID, SECRET)
    async with sf.session.post(
        f"{host}/services/oauth2/introspect",
        headers=auth,
        data={"token": tokens.access_token, "token_type_hint": "access_token"},
    ) as resp:
        body = await resp.json()
    assert body["active"] is True and body["token_type"] == "access_token" and body["client_id"] == CLIENT_ID
    assert body["exp"] - body["iat"] == 7200 and body["sub"] == tokens.raw["id"]
    async with sf.session.post(
        f"{host}/services/oauth2/introspect", headers=auth, data={"token": tokens.refresh_token}
    ) as resp:
        body = await resp.json()
    assert body["active"] is True and body["token_type"] == "refresh_token" and "exp" not in body
    async with sf.session.post(
        f"{host}/services/oauth2/introspect", headers=auth, data={"token": "nope"}
    ) as resp:
        assert await resp.json() == {"active": False}
    async with sf.session.post(f"{host}/services/oauth2/introspect", data={"token": "nope"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "invalid_client"


async def test_identity(fake: FakeSalesforce, sf: SalesforceDriver) -> None:
    org = fake.orgs[0]
    tokens = await sf.login(fake.login_url)
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    async with sf.session.get(tokens.raw["id"], headers=headers) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["user_id"] == org.admin.id and body["organization_id"] == org.id
    assert body["username"] == org.admin.username and body["active"] is True
    assert body["is_app_installed"] is True
    assert body["urls"]["metadata"] == f"{org.my_domain_url}/services/Soap/m/{{version}}/{org.id[:15]}"
    assert body["urls"]["rest"] == f"{org.my_domain_url}/services/data/v{{version}}/"
    assert body["urls"]["custom_domain"] == org.my_domain_url
    for key in (
        "asserted_user",
        "nick_name",
        "display_name",
        "email",
        "first_name",
        "last_name",
        "user_type",
        "language",
        "locale",
        "utcOffset",
    ):
        assert key in body
    async with sf.session.get(tokens.raw["id"], headers={"Authorization": "Bearer nope"}) as resp:
        assert resp.status == 403 and await resp.text() == "Bad_OAuth_Token"
    other = org.add_user(username="other@acme.example")
    async with sf.session.get(f"{fake.login_url}/id/{org.id}/{other.id}", headers=headers) as resp:
        assert resp.status == 403
    org.installed_clients.clear()
    async with sf.session.get(tokens.raw["id"], headers=headers) as resp:
        assert "is_app_installed" not in await resp.json()


async def test_each_host_describes_its_own_endpoints(fake: FakeSalesforce) -> None:
    async with aiohttp.ClientSession() as session:
        for base in (fake.login_url, fake.sandbox_login_url, fake.org("Acme").my_domain_url):
            async with session.get(base + "/.well-known/openid-configuration") as resp:
                assert resp.status == 200
                document = await resp.json()
            assert document["issuer"] == base
            assert document["token_endpoint"] == base + "/services/oauth2/token"
            assert document["authorization_endpoint"] == base + "/services/oauth2/authorize"
    assert [r.operation for r in fake.requests] == ["openid_configuration"] * 3


PKCE = {"code_challenge": pkce_pair()[1], "code_challenge_method": "S256"}


@pytest.mark.parametrize("prompt", ["login", "consent", "select_account", "login consent"])
async def test_documented_prompt_values_are_accepted(fake: FakeSalesforce, sf: SalesforceDriver, prompt: str) -> None:
    resp = await sf.authorize(fake.login_url, state="st", prompt=prompt, **PKCE)
    assert "code" in location_query(resp)
    assert fake.fresh_sign_ins == (1 if "login" in prompt else 0)


@pytest.mark.parametrize("prompt", ["", "none", "login bogus", "LOGIN"])
async def test_other_prompt_values_are_refused_unless_prompt_is_ignored(
    fake: FakeSalesforce, sf: SalesforceDriver, prompt: str
) -> None:
    resp = await sf.authorize(fake.login_url, state="st", prompt=prompt, **PKCE)
    assert location_query(resp) == {"error": "invalid_request", "error_description": "invalid prompt value",
                                    "state": "st"}
    fake.prompt_supported = False
    assert "code" in location_query(await sf.authorize(fake.login_url, state="st", prompt=prompt, **PKCE))
