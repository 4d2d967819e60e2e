"""The fake Salesforce's REST API: SOQL, Connect REST OAuth credentials, auth, fault injection."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import aiohttp
import pytest

from standins.salesforce import FakeSalesforce, ManualClock
from standins.salesforce.driver import SalesforceDriver, Tokens
from standins.salesforce.org import ECA_CREDENTIAL_PERMISSIONS

from .conftest import CLIENT_ID, SECRET

SOQL_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")


# ------------------------------------------------------------------------------------ auth/routes


async def test_versions_and_unknown_resources(
    fake: FakeSalesforce, sf: SalesforceDriver, admin: Tokens
) -> None:
    org = fake.orgs[0]
    async with sf.session.get(f"{org.my_domain_url}/services/data/") as resp:
        versions = await resp.json()
    assert versions[-1] == {"label": "Winter '26", "url": "/services/data/v65.0", "version": "65.0"}
    assert {"label": "Spring '25", "url": "/services/data/v63.0", "version": "63.0"} in versions
    assert {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"} in versions
    not_found = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
    for version in ("66.0", "63", "19.0"):
        assert await sf.rest(org.my_domain_url, admin.access_token, "query", version=version) == (
            404,
            not_found,
        )
    assert await sf.rest(org.my_domain_url, admin.access_token, "sobjects/Nope") == (404, not_found)
    assert (await sf.rest(org.my_domain_url, admin.access_token, "query", method="POST"))[0] == 405


async def test_rest_session_rules(fake: FakeSalesforce, sf: SalesforceDriver, admin: Tokens) -> None:
    org = fake.orgs[0]
    invalid = (401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    soql = "SELECT Id FROM Organization"
    assert await sf.query(org.my_domain_url, "garbage", soql) == invalid
    assert await sf.query(fake.login_url, admin.access_token, soql) == invalid
    other = fake.add_org(name="Globex")
    assert await sf.query(other.my_domain_url, admin.access_token, soql) == invalid
    identity_only = await sf.login(fake.login_url, scope="id refresh_token")
    status, body = await sf.query(org.my_domain_url, identity_only.access_token, soql)
    assert status == 403 and body[0]["errorCode"] == "INVALID_SESSION_ID"


# ------------------------------------------------------------------------------------------- SOQL


async def test_soql_organization_and_user(fake: FakeSalesforce, sf: SalesforceDriver, admin: Tokens) -> None:
    org = fake.orgs[0]
    runner = org.add_user(
        username="integration@acme.example", api_only=True, first_name="Int", last_name="User"
    )
    org.add_user(username="gone@acme.example", active=False)
    status, body = await sf.query(
        org.my_domain_url,
        admin.access_token,
        "select id, name, issandbox, InstanceName, OrganizationType from organization",
    )
    assert status == 200 and body["totalSize"] == 1 and body["done"] is True
    record = body["records"][0]
    assert record["attributes"] == {
        "type": "Organization",
        "url": f"/services/data/v63.0/sobjects/Organization/{org.id}",
    }
    assert (record["Id"], record["Name"], record["IsSandbox"]) == (org.id, "Acme", False)
    assert list(record) == ["attributes", "Id", "Name", "IsSandbox", "InstanceName", "OrganizationType"]
    status, body = await sf.query(
        org.my_domain_url,
        admin.access_token,
        "SELECT Id, Username, Name, Email, IsActive, UserType, Profile.PermissionsApiUserOnly FROM User "
        "WHERE Username = 'INTEGRATION@acme.example' AND IsActive = true LIMIT 5",
    )
    assert status == 200 and body["totalSize"] == 1
    user = body["records"][0]
    assert (user["Id"], user["Name"], user["IsActive"], user["UserType"]) == (
        runner.id,
        "Int User",
        True,
        "Standard",
    )
    assert user["Profile"]["PermissionsApiUserOnly"] is True
    status, body = await sf.query(
        org.my_domain_url, admin.access_token, f"SELECT Username FROM User WHERE Id = '{runner.id[:15]}'"
    )
    assert [r["Username"] for r in body["records"]] == ["integration@acme.example"]
    status, body = await sf.query(org.my_domain_url, admin.access_token, "SELECT Id FROM User LIMIT 2")
    assert body["totalSize"] == 2


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT FROM User", "MALFORMED_QUERY"),
        ("SELECT Id FROM User WHERE Username LIKE 'a%'", "MALFORMED_QUERY"),
        ("SELECT Id FROM User ORDER BY Username", "MALFORMED_QUERY"),
        ("SELECT COUNT() FROM User", "MALFORMED_QUERY"),
        ("SELECT Id FROM User LIMIT x", "MALFORMED_QUERY"),
        ("SELECT Id FROM User WHERE Username = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Bogus FROM User", "INVALID_FIELD"),
        ("SELECT Id FROM Account", "INVALID_TYPE"),
    ],
)
async def test_soql_refusals(
    fake: FakeSalesforce, sf: SalesforceDriver, admin: Tokens, soql: str, code: str
) -> None:
    status, body = await sf.query(fake.orgs[0].my_domain_url, admin.access_token, soql)
    assert status == 400 and body[0]["errorCode"] == code and body[0]["message"]


async def test_oauth_token_rows(
    fake: FakeSalesforce, sf: SalesforceDriver, admin: Tokens, clock: ManualClock
) -> None:
    org = fake.orgs[0]
    dev = org.add_user(username="dev@acme.example", permissions={"ModifyMetadata"})
    seeded = org.add_oauth_token(
        app_name="QualityClouds",
        user=dev,
        created=clock() - timedelta(days=80),
        last_used=clock() - timedelta(days=3),
        use_count=7,
    )
    soql = (
        "SELECT AppName, CreatedDate, LastUsedDate, UseCount, UserId, DeleteToken FROM OauthToken "
        "WHERE AppName = 'QualityClouds'"
    )
    status, body = await sf.query(org.my_domain_url, admin.access_token, soql)
    assert status == 200 and body["totalSize"] == 1
    row = body["records"][0]
    assert row["attributes"]["type"] == "OauthToken"
    assert (row["UseCount"], row["UserId"], row["DeleteToken"]) == (7, dev.id, seeded.delete_token)
    assert SOQL_DATETIME.fullmatch(row["CreatedDate"]) and SOQL_DATETIME.fullmatch(row["LastUsedDate"])
    # the fake's own grants appear under the client's label; LastUsedDate moves on refresh
    soql_bot = "SELECT LastUsedDate, UseCount FROM OauthToken WHERE AppName = 'qc-bot'"
    before = (await sf.query(org.my_domain_url, admin.access_token, soql_bot))[1]["records"][0]
    clock.advance(days=2)
    status, refreshed = await sf.token(
        fake.login_url,
        {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "refresh_token": admin.refresh_token,
        },
    )
    assert status == 200
    after = (await sf.query(org.my_domain_url, refreshed["access_token"], soql_bot))[1]["records"][0]
    assert after["UseCount"] == before["UseCount"] + 1 and after["LastUsedDate"] > before["LastUsedDate"]
    # without Customize Application a user sees only their own tokens
    fake.sign_in(org, dev.username)
    dev_tokens = await sf.login(fake.login_url)
    status, body = await sf.query(org.my_domain_url, dev_tokens.access_token, "SELECT UserId FROM OauthToken")
    assert body["totalSize"] == 2 and {r["UserId"] for r in body["records"]} == {dev.id}
    status, body = await sf.query(
        org.my_domain_url, refreshed["access_token"], "SELECT UserId FROM OauthToken"
    )
    assert body["totalSize"] == 3


# ------------------------------------------------------------------------------- Connect REST


async def test_connect_rest_credentials(fake: FakeSalesforce, sf: SalesforceDriver, admin: Tokens) -> None:
    org = fake.orgs[0]
    org.seed_external_client_app(
        "QualityClouds", consumer_key="ecaKey000001", consumer_secret="ecaSecret0001"
    )
    org.seed_connected_app("LegacyApp")
    org.client_secret_rest_access = True
    org.seed_permission_set("QC_Read", permissions=ECA_CREDENTIAL_PERMISSIONS, assignee=org.admin)
    base = org.my_domain_url
    status, body = await sf.rest(base, admin.access_token, "apps/oauth/usage")
    assert status == 200
    assert [(a["developerName"], a["name"]) for a in body["apps"]] == [("QualityClouds", "QualityClouds")]
    app_id = body["apps"][0]["identifier"]
    assert app_id == org.eca_id("QualityClouds") and len(app_id) == 18
    status, body = await sf.rest(base, admin.access_token, f"apps/oauth/credentials/{app_id}")
    assert status == 200 and len(body["consumers"]) == 1
    consumer = body["consumers"][0]
    assert set(consumer) == {"id", "key", "name", "url"} and consumer["key"] == "ecaKey000001"
    path = f"apps/oauth/credentials/{app_id}/{consumer['id']}"
    status, body = await sf.rest(base, admin.access_token, path)
    assert status == 200 and body["key"] == "ecaKey000001" and "secret" not in body
    status, body = await sf.rest(base, admin.access_token, path, params={"part": "secret"})
    assert body["secret"] == "ecaSecret0001" and "key" not in body
    status, body = await sf.rest(base, admin.access_token, path, params={"part": "keyandsecret"})
    assert (body["key"], body["secret"]) == ("ecaKey000001", "ecaSecret0001")
    assert (await sf.rest(base, admin.access_token, path, params={"part": "all"}))[0] == 400
    assert (await sf.rest(base, admin.access_token, path, version="59.0"))[0] == 404  # credentials: 60.0+
    assert (await sf.rest(base, admin.access_token, "apps/oauth/usage", version="58.0"))[0] == 404
    assert (await sf.rest(base, admin.access_token, "apps/oauth/credentials/0xI000000000000AAA"))[0] == 404
    # the View Client Secret permission guards the secret
    org.permission_sets["QC_Read"]["userPermissions"] = [
        {"enabled": True, "name": "ExternalClientAppViewer"}, {"enabled": False, "name": "ViewClientSecret"}
    ]
    status, body = await sf.rest(base, admin.access_token, path, params={"part": "secret"})
    assert status == 403 and body[0]["errorCode"] == "INSUFFICIENT_ACCESS"
    assert (await sf.rest(base, admin.access_token, path))[0] == 200
    # the org setting turns the whole resource off
    org.client_secret_rest_access = False
    status, body = await sf.rest(base, admin.access_token, path)
    assert (status, body) == (
        403,
        [
            {
                "message": "This feature is not currently enabled for this user.",
                "errorCode": "FUNCTIONALITY_NOT_ENABLED",
            }
        ],
    )


async def test_connect_rest_oauth_usage_of_an_external_client_app(
    fake: FakeSalesforce, sf: SalesforceDriver, admin: Tokens, clock: ManualClock
) -> None:
    org = fake.orgs[0]
    org.seed_external_client_app("QualityClouds", consumer_key="ecaKey000002", consumer_secret="ecaSecret0002")
    org.seed_connected_app("LegacyApp")
    app_id, base, token = org.eca_id("QualityClouds"), org.my_domain_url, admin.access_token
    users = [org.admin, *(org.add_user(username=f"user{n}@acme.example", permissions={"ApiEnabled"})
                          for n in range(2))]
    issued = {user.username: org.issue_app_token("QualityClouds", user=user, created=clock()) for user in users}
    org.issue_app_token("LegacyApp", user=org.admin, created=clock())
    assert [row.app_name for row in org.oauth_tokens] == ["qc-bot", "LegacyApp"], "ECA tokens are not OauthToken rows"

    org.oauth_usage_page_size = 2
    pages = []
    path: str | None = f"apps/oauth/usage/{app_id}/users"
    for _ in range(4):
        assert path is not None
        status, body = await sf.rest(base, token, path.replace("/services/data/v63.0/", ""))
        assert status == 200
        pages.append([entry["username"] for entry in body["users"]])
        assert body["nextPageUrl"], "nextPageUrl comes with every page, even the last"
        path = body["nextPageUrl"]
        if not body["users"]:
            break
    assert pages == [["admin@acme.example", "user0@acme.example"], ["user1@acme.example"], []]

    clock.advance(timedelta(hours=1))
    status, body = await sf.rest(base, token, f"apps/oauth/usage/{app_id}/{users[1].id}/tokens")
    assert status == 200 and body["nextPageUrl"]
    (entry,) = body["tokens"]
    assert entry["appDeveloperName"] == "QualityClouds" and entry["appIdentifier"] == app_id
    assert (entry["userIdentifier"], entry["username"], entry["useCount"]) == (users[1].id, users[1].username, 1)
    assert entry["initialConnectionAt"] == entry["lastUsedAt"] and entry["initialConnectionAt"].endswith("Z")
    assert set(entry) == {"accessTokenFormat", "appDeveloperName", "appIdentifier", "initialConnectionAt",
                          "lastUsedAt", "revocationUrl", "useCount", "userIdentifier", "username"}

    async def refresh(refresh_token: str) -> tuple[int, dict]:
        return await sf.token(fake.login_url, {"grant_type": "refresh_token", "refresh_token": refresh_token,
                                               "client_id": "ecaKey000002", "client_secret": "ecaSecret0002"})

    assert (await refresh(issued[users[1].username]))[0] == 200
    status, body = await sf.rest(base, token, f"apps/oauth/usage/{app_id}/{users[1].id}/tokens")
    assert body["tokens"][0]["useCount"] == 2 and body["tokens"][0]["lastUsedAt"] > entry["initialConnectionAt"]
    # one token by its id, one user's tokens, every token of the app: 204, and the tokens stop working
    token_id = entry["revocationUrl"].rsplit("/", 1)[1]
    assert (await sf.rest(base, token, f"apps/oauth/usage/tokens/{token_id}", method="DELETE"))[0] == 204
    assert (await refresh(issued[users[1].username]))[1]["error"] == "invalid_grant"
    assert (await sf.rest(base, token, f"apps/oauth/usage/tokens/{token_id}", method="DELETE"))[0] == 404
    assert (await sf.rest(base, token, f"apps/oauth/usage/{app_id}/{users[2].id}/tokens", method="DELETE"))[0] == 204
    assert (await refresh(issued[users[2].username]))[1]["error"] == "invalid_grant"
    assert (await refresh(issued[org.admin.username]))[0] == 200
    assert (await sf.rest(base, token, f"apps/oauth/usage/{app_id}/tokens", method="DELETE"))[0] == 204
    assert (await refresh(issued[org.admin.username]))[1]["error"] == "invalid_grant"
    status, body = await sf.rest(base, token, f"apps/oauth/usage/{app_id}/users")
    assert (status, body["users"]) == (200, [])
    # Connected Apps are not served here; reading is not deleting
    legacy = org.component_meta("ConnectedApp", "LegacyApp")
    assert legacy is not None
    assert (await sf.rest(base, token, f"apps/oauth/usage/{legacy.id}/users"))[0] == 404
    assert (await sf.rest(base, token, f"apps/oauth/usage/{app_id}/users", method="DELETE"))[0] == 405
    org.admin.permissions -= {"ManageExternalClientApps", "CustomizeApplication", "ModifyAllData"}
    status, body = await sf.rest(base, token, f"apps/oauth/usage/{app_id}/users")
    assert status == 403 and body[0]["errorCode"] == "INSUFFICIENT_ACCESS"


# -------------------------------------------------------------------------------- fault injection


async def test_rest_fault_injection(fake: FakeSalesforce, sf: SalesforceDriver, admin: Tokens) -> None:
    org = fake.orgs[0]
    soql = "SELECT Id FROM Organization"
    org.fail_next_call("query", count=2)
    for _ in range(2):
        assert await sf.query(org.my_domain_url, admin.access_token, soql) == (
            403,
            [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
        )
    assert (await sf.query(org.my_domain_url, admin.access_token, soql))[0] == 200

    fake.inject_http("/services/data", status=503)
    async with sf.session.get(
        f"{org.my_domain_url}/services/data/v63.0/query",
        params={"q": soql},
        headers={"Authorization": f"Bearer {admin.access_token}"},
    ) as resp:
        assert resp.status == 503
    assert (await sf.query(org.my_domain_url, admin.access_token, soql))[0] == 200

    # a dropped connection: aiohttp retries idempotent requests once by itself, so a GET survives one drop...
    fake.inject_disconnect("/services/data")
    assert (await sf.query(org.my_domain_url, admin.access_token, soql))[0] == 200
    assert [r.status for r in fake.requests[-2:]] == [499, 200]
    # ...while a POST sees it
    fake.inject_disconnect("/services/oauth2/token")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await sf.token(
            fake.login_url,
            {
                "grant_type": "refresh_token",
                "refresh_token": admin.refresh_token or "",
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
            },
        )

    fake.inject_delay("/services/data", seconds=0.2)
    with pytest.raises(asyncio.TimeoutError):
        async with sf.session.get(
            f"{org.my_domain_url}/services/data/v63.0/query",
            params={"q": soql},
            headers={"Authorization": f"Bearer {admin.access_token}"},
            timeout=aiohttp.ClientTimeout(total=0.05),
        ) as resp:
            await resp.read()
    assert (await sf.query(org.my_domain_url, admin.access_token, soql))[0] == 200
    queries = [r for r in fake.requests if r.operation == "query"]
    assert [r.status for r in queries[:3]] == [403, 403, 200]
    assert all(r.role == "mydomain" and r.org == "Acme" for r in queries)


async def test_a_held_request_waits_until_released(fake: FakeSalesforce, sf: SalesforceDriver, admin: Tokens) -> None:
    org = fake.orgs[0]
    soql = "SELECT Id FROM Organization"
    hold = fake.inject_hold("/services/data", body_contains=None, skip=1)
    assert (await sf.query(org.my_domain_url, admin.access_token, soql))[0] == 200, "skip lets the first through"
    parked = asyncio.create_task(sf.query(org.my_domain_url, admin.access_token, soql))
    await hold.wait_arrived()
    assert not parked.done()
    hold.release()
    assert (await parked)[0] == 200
    assert (await sf.query(org.my_domain_url, admin.access_token, soql))[0] == 200, "a hold is used once"


# -------------------------------------------------------------------------------- staged credentials


async def test_staged_credentials_rotate_and_the_grant_honours_exactly_the_valid_ones(
    fake: FakeSalesforce, sf: SalesforceDriver, admin: Tokens, clock: ManualClock
) -> None:
    org = fake.orgs[0]
    runner = org.add_user(username="runner@acme.example", api_only=True)
    org.seed_external_client_app("QualityClouds", consumer_key="oldKey000001", consumer_secret="oldSecret0001",
                                 pkce_required=False, client_credentials_user=runner.username)
    org.client_secret_rest_access = True
    org.seed_permission_set("QC_Read", permissions=ECA_CREDENTIAL_PERMISSIONS, assignee=org.admin)
    base, token = org.my_domain_url, admin.access_token
    app_id = org.eca_id("QualityClouds")

    async def sign_in(key: str, secret: str) -> str:
        status, body = await sf.token(base, {"grant_type": "client_credentials", "client_id": key,
                                             "client_secret": secret})
        return "ok" if status == 200 else body["error"]

    status, body = await sf.rest(base, token, f"apps/oauth/credentials/{app_id}", version="65.0")
    consumer = body["consumers"][0]
    staged_path = consumer["stagedCredentialsUrl"].removeprefix("/services/data/v65.0/")
    assert staged_path == f"apps/oauth/credentials/{app_id}/{consumer['id']}/staged"
    assert (await sf.rest(base, token, staged_path, version="63.0"))[0] == 404  # staged: 65.0+
    assert await sf.rest(base, token, staged_path, version="65.0") == (200, {"stagedCredentials": []})
    status, body = await sf.rest(base, token, staged_path, version="65.0", method="POST", json={})
    assert status == 201
    [new] = body["stagedCredentials"]
    assert new["state"] == "Active" and new["key"] != "oldKey000001"
    # one staged set per consumer
    status, body = await sf.rest(base, token, staged_path, version="65.0", method="POST", json={})
    assert status == 400 and body[0]["errorCode"] == "DUPLICATE_VALUE"
    # staged but not promoted: only the primary signs in
    assert await sign_in(new["key"], new["secret"]) == "invalid_client_id"
    assert await sign_in("oldKey000001", "oldSecret0001") == "ok"
    one = f"{staged_path}/{new['id']}"
    status, former = await sf.rest(base, token, one, version="65.0", method="PATCH", json={"command": "rotate"})
    assert status == 200 and former["state"] == "Rotated" and former["key"] == "oldKey000001"
    assert org.external_client_apps["QualityClouds"]["ExtlClntAppGlobalOauthSettings"]["consumerKey"] == new["key"]
    assert (await sf.rest(base, token, one, version="65.0", method="PATCH", json={"command": "rotate"}))[0] == 400
    # the new set propagates; the former stays valid; a wrong secret never works
    assert await sign_in(new["key"], new["secret"]) == "invalid_client_id"
    clock.advance(org.credentials_propagation)
    assert await sign_in(new["key"], new["secret"]) == "ok"
    assert await sign_in("oldKey000001", "oldSecret0001") == "ok"
    assert await sign_in("oldKey000001", new["secret"]) == "invalid_client"
    # ...for 30 days
    clock.advance(timedelta(days=30))
    assert await sign_in("oldKey000001", "oldSecret0001") == "invalid_client_id"
    token = (await sf.login(fake.login_url)).access_token  # the admin's session ended meanwhile
    status, body = await sf.rest(base, token, staged_path, version="65.0")
    assert body["stagedCredentials"][0]["state"] == "Expired"
    # DELETE ends a set at once
    assert (await sf.rest(base, token, one, version="65.0", method="DELETE"))[0] == 204
    status, body = await sf.rest(base, token, staged_path, version="65.0", method="POST", json={})
    second = body["stagedCredentials"][0]
    status, _ = await sf.rest(base, token, f"{staged_path}/{second['id']}", version="65.0", method="PATCH",
                              json={"command": "rotate"})
    clock.advance(org.credentials_propagation)
    assert await sign_in(new["key"], new["secret"]) == "ok"
    assert (await sf.rest(base, token, f"{staged_path}/{second['id']}", version="65.0", method="DELETE"))[0] == 204
    assert await sign_in(new["key"], new["secret"]) == "invalid_client_id"
    assert await sign_in(second["key"], second["secret"]) == "ok"
    # the gating of the credentials resources applies
    org.client_secret_rest_access = False
    status, body = await sf.rest(base, token, staged_path, version="65.0", method="POST", json={})
    assert status == 403 and body[0]["errorCode"] == "FUNCTIONALITY_NOT_ENABLED"
    org.client_secret_rest_access = True
    org.permission_sets["QC_Read"]["userPermissions"] = [{"enabled": True, "name": "ExternalClientAppViewer"}]
    status, body = await sf.rest(base, token, staged_path, version="65.0", method="POST", json={})
    assert status == 403 and body[0]["errorCode"] == "INSUFFICIENT_ACCESS"
