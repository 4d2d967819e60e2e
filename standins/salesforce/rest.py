"""REST API on My Domain hosts: ``/services/data/v<NN>.0/...``.

Served: the version list, ``query``, and the Connect REST OAuth resources
``apps/oauth/usage`` (59.0+), ``apps/oauth/credentials/<appId>`` and
``apps/oauth/credentials/<appId>/<consumerId>?part=key|secret|keyandsecret`` (60.0+), and an
External Client App's OAuth Usage: ``apps/oauth/usage/<appId>/users``,
``apps/oauth/usage/<appId>/<userId>/tokens`` (GET, DELETE), ``apps/oauth/usage/<appId>/tokens`` and
``apps/oauth/usage/tokens/<tokenId>`` (DELETE, 204).  Deleted tokens stop working at once.  Staged
credentials (65.0+): ``apps/oauth/credentials/<appId>/<consumerId>/staged`` (GET; POST ``{}`` stages a new set)
and ``.../staged/<stagedId>`` (GET; PATCH ``{"command": "rotate"}`` promotes it and leaves the former primary in
the slot as ``Rotated``, valid 30 days; DELETE ends the set at once, 204).

Choices where Salesforce is UNCONFIRMED:

* Only External Client Apps appear in ``apps/oauth/usage`` and resolve under
  ``apps/oauth/credentials`` (Connected Apps answer 404 NOT_FOUND there).
* A usage user entry is ``{"userIdentifier", "username"}``; a user's tokens come as ``{"tokens": [...]}``
  with the documented token fields, paged like the users (``nextPageUrl`` on every page, as documented).
* ``apps/oauth/usage`` lists every ECA of the org that has global OAuth settings, as
  ``{"developerName", "identifier", "name"}`` plus paging keys.
* Setting off (``org.client_secret_rest_access = False``, the default) -> every credentials resource
  answers 403 ``[{"errorCode": "FUNCTIONALITY_NOT_ENABLED", "message": "This feature is not currently
  enabled for this user."}]``.
* Listing ``apps/oauth/usage`` needs ManageExternalClientApps, CustomizeApplication or ModifyAllData.
  The credentials resources need one of ``ECA_VIEW_PERMISSIONS``; ``part=secret``/``keyandsecret``
  also ViewClientSecret (reference §5.1: a System Administrator holds none of them until a permission
  set grants them).  Missing -> 403 INSUFFICIENT_ACCESS ``You don't have permission to view consumer
  secrets of this app.`` (or ``... view external client app credentials.``).
* ``sobjects/PermissionSetAssignment`` (POST ``{"AssigneeId", "PermissionSetId"}`` -> 201
  ``{"id", "success": true, "errors": []}``; GET/DELETE ``.../<id>``) needs AssignPermissionSets or
  ManageUsers; without -> 400 ``INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY``.
* Staged credentials: one set per consumer, whatever its state; a second POST -> 400 ``DUPLICATE_VALUE``
  (``Staged credentials already exist for this consumer...``); an empty POST body -> 400 ``JSON_PARSER_ERROR``
  (sfdx-hardis reports a hang; refusing is the conservative reading); PATCH of a set that is not ``Active`` ->
  400 ``INVALID_OPERATION``. The same setting and permissions as ``part=secret`` (they return secrets).
  ``stagedCredentialsUrl`` appears in credential bodies of 65.0+ only.
* Tokens on a login host, of another org, expired or revoked -> 401 INVALID_SESSION_ID; a token
  without the ``api``/``full`` scope -> 403 INVALID_SESSION_ID ``This session is not valid for use
  with the REST API``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import web

from .clock import xsd_datetime
from .common import fake_of, json_response, rest_error, role_of, set_operation
from .ids import same_id
from .org import ECA_HEADER, ECA_VIEW_PERMISSIONS, FakeOrg, FakeUser, StagedCredential
from .soql import SoqlError, execute

MIN_VERSION = 20
MAX_VERSION = 65
_VERSION = re.compile(r"v(\d+)\.0")
_SEASONS = ("Spring", "Summer", "Winter")


def version_label(n: int) -> str:
    season = _SEASONS[n % 3]
    spring_version = n - n % 3 if season != "Winter" else n + 1
    year = 25 - (63 - spring_version) // 3  # v63 is Spring '25
    return f"{season} '{year:02d}"


def not_found() -> web.Response:
    return rest_error(404, "NOT_FOUND", "The requested resource does not exist")


async def versions(request: web.Request) -> web.Response:
    set_operation(request, "versions")
    return json_response(
        [
            {"label": version_label(n), "url": f"/services/data/v{n}.0", "version": f"{n}.0"}
            for n in range(MIN_VERSION, MAX_VERSION + 1)
        ]
    )


def _authenticate(request: web.Request) -> tuple[FakeOrg, FakeUser] | web.Response:
    fake = fake_of(request)
    role = role_of(request)
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() not in ("bearer", "oauth"):
        value = ""
    value = value.strip()
    access = fake.tokens.active_access(value, fake.now())
    if access is None or role.kind != "mydomain" or access.org is not role.org:
        return rest_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    if not {"api", "full"} & set(access.scopes):
        return rest_error(403, "INVALID_SESSION_ID", "This session is not valid for use with the REST API")
    return access.org, access.user


async def data(request: web.Request) -> web.Response:
    m = _VERSION.fullmatch(request.match_info["version"])
    tail = request.match_info.get("tail", "").strip("/")
    set_operation(request, tail.split("?")[0] or "resources")
    if not m or not MIN_VERSION <= int(m[1]) <= MAX_VERSION:
        return not_found()
    version = int(m[1])
    auth = _authenticate(request)
    if isinstance(auth, web.Response):
        return auth
    org, user = auth
    parts = tail.split("/") if tail else []
    route = _route_name(parts)
    if (
        route is None
        or (route.startswith("apps/oauth/usage") and version < 59)
        or (route.startswith("apps/oauth/credentials") and version < 60)
        or (route.startswith("apps/oauth/credentials/consumer/staged") and version < 65)
    ):
        return not_found()
    set_operation(request, route)
    failure = org.take_call_failure(tail)
    if failure is not None:  # injected faults reach every resource, the permission set assignments included
        return rest_error(403, failure.fault, failure.message)
    if route.startswith("sobjects/PermissionSetAssignment"):
        return await _permission_set_assignment(request, org, user, parts, v=f"{version}.0")
    allowed = _METHODS.get(route, ("GET", "HEAD"))
    if request.method not in allowed:
        return rest_error(
            405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(allowed)}"
        )
    v = f"{version}.0"
    if route == "resources":
        base = f"/services/data/v{v}"
        return json_response(
            {
                "sobjects": f"{base}/sobjects",
                "query": f"{base}/query",
                "connect": f"{base}/connect",
                "apps": f"{base}/apps",
            }
        )
    if route == "query":
        q = request.query.get("q")
        if q is None:
            return rest_error(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            result = execute(q, org=org, user=user, version=v)
        except SoqlError as exc:
            return rest_error(400, exc.error_code, exc.message)
        return json_response(_first_batch(org, result, v))
    if route == "query/more":
        batch = _next_batch(org, parts[1], v)
        if batch is None:
            return rest_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return json_response(batch)
    if not user.has_any("ManageExternalClientApps", "CustomizeApplication", "ModifyAllData"):
        return rest_error(
            403, "INSUFFICIENT_ACCESS", "You don't have permission to view external client apps."
        )
    if route == "apps/oauth/usage":
        return _usage(request, org, v)
    if route in _USAGE_ROUTES:
        return _app_usage(request, org, route, parts, v)
    if not org.client_secret_rest_access:
        return rest_error(
            403, "FUNCTIONALITY_NOT_ENABLED", "This feature is not currently enabled for this user."
        )
    if not user.has_any(*ECA_VIEW_PERMISSIONS):
        return rest_error(
            403, "INSUFFICIENT_ACCESS", "You don't have permission to view external client app credentials."
        )
    app_name = _eca_by_id(org, parts[3])
    if app_name is None:
        return not_found()
    if route == "apps/oauth/credentials":
        return _consumers(org, app_name, parts[3], v, version=version)
    if route.startswith("apps/oauth/credentials/consumer/staged"):
        return await _staged(request, org, user, app_name, parts, v)
    return _credential(request, org, user, app_name, parts[3], parts[4], v)


def _route_name(parts: list[str]) -> str | None:
    if not parts:
        return "resources"
    if parts == ["query"]:
        return "query"
    if len(parts) == 2 and parts[0] == "query":
        return "query/more"
    if parts == ["apps", "oauth", "usage"]:
        return "apps/oauth/usage"
    if parts[:3] == ["apps", "oauth", "usage"] and len(parts) == 5:
        if parts[3] == "tokens":
            return "apps/oauth/usage/tokens/token"
        return {"users": "apps/oauth/usage/app/users", "tokens": "apps/oauth/usage/app/tokens"}.get(parts[4])
    if parts[:3] == ["apps", "oauth", "usage"] and len(parts) == 6 and parts[5] == "tokens":
        return "apps/oauth/usage/app/user/tokens"
    if parts[:3] == ["apps", "oauth", "credentials"] and len(parts) == 4:
        return "apps/oauth/credentials"
    if parts[:3] == ["apps", "oauth", "credentials"] and len(parts) == 5:
        return "apps/oauth/credentials/consumer"
    if parts[:3] == ["apps", "oauth", "credentials"] and len(parts) in (6, 7) and parts[5] == "staged":
        return "apps/oauth/credentials/consumer/staged" + ("/id" if len(parts) == 7 else "")
    if parts[:2] == ["sobjects", "PermissionSetAssignment"] and len(parts) in (2, 3):
        return "/".join(parts[:2]) + ("/id" if len(parts) == 3 else "")
    return None


_METHODS = {
    "apps/oauth/usage/tokens/token": ("DELETE",),
    "apps/oauth/usage/app/tokens": ("DELETE",),
    "apps/oauth/usage/app/user/tokens": ("GET", "HEAD", "DELETE"),
    "apps/oauth/credentials/consumer/staged": ("GET", "HEAD", "POST"),
    "apps/oauth/credentials/consumer/staged/id": ("GET", "HEAD", "PATCH", "DELETE"),
}
_USAGE_ROUTES = ("apps/oauth/usage/app/users", *(route for route in _METHODS if route.startswith("apps/oauth/usage")))


async def _permission_set_assignment(
    request: web.Request, org: FakeOrg, user: FakeUser, parts: list[str], *, v: str
) -> web.Response:
    allowed = ("POST",) if len(parts) == 2 else ("GET", "HEAD", "DELETE")
    if request.method not in allowed:
        return rest_error(
            405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(allowed)}"
        )
    if request.method != "GET" and not user.has_any("AssignPermissionSets", "ManageUsers"):
        return rest_error(400, "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
                          "insufficient access rights on cross-reference id")
    if len(parts) == 3:
        found = next((a for a in org.permission_set_assignments if same_id(a.id, parts[2])), None)
        if found is None:
            return rest_error(404, "NOT_FOUND", "The requested resource does not exist")
        if request.method == "DELETE":
            org.permission_set_assignments.remove(found)
            return web.Response(status=204)
        return json_response({
            "attributes": {"type": "PermissionSetAssignment",
                           "url": f"/services/data/v{v}/sobjects/PermissionSetAssignment/{found.id}"},
            "Id": found.id, "AssigneeId": found.assignee_id, "PermissionSetId": found.permission_set_id,
        })
    try:
        body = await request.json()
    except ValueError:
        return rest_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
    if not isinstance(body, dict):
        return rest_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    assignee = org.user_by_id(str(body.get("AssigneeId") or ""))
    permission_set_id = str(body.get("PermissionSetId") or "")
    if assignee is None or org.permission_set_by_id(permission_set_id) is None:
        return rest_error(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    if any(same_id(a.assignee_id, assignee.id) and same_id(a.permission_set_id, permission_set_id)
           for a in org.permission_set_assignments):
        return rest_error(400, "DUPLICATE_VALUE", f"Duplicate PermissionSetAssignment. Assignee: {assignee.id}; "
                                                  f"Permission Set: {permission_set_id}")
    assignment = org.assign_permission_set(user=assignee, permission_set_id=permission_set_id)
    return json_response({"id": assignment.id, "success": True, "errors": []}, status=201)


def _first_batch(org: FakeOrg, result: dict[str, Any], version: str) -> dict[str, Any]:
    """Salesforce answers at most `org.query_batch_size` records per request (2,000 by default); the rest wait
    behind a query locator in `nextRecordsUrl`."""
    records = result["records"]
    if len(records) <= org.query_batch_size:
        return result
    locator = org.new_query_locator(records)
    return _page(org, locator, 0, version, total=result["totalSize"])


def _next_batch(org: FakeOrg, locator_and_offset: str, version: str) -> dict[str, Any] | None:
    locator, _, offset = locator_and_offset.partition("-")
    if locator not in org.query_locators or not offset.isdigit():
        return None
    return _page(org, locator, int(offset), version, total=len(org.query_locators[locator]))


def _page(org: FakeOrg, locator: str, offset: int, version: str, *, total: int) -> dict[str, Any]:
    records = org.query_locators[locator]
    end = offset + org.query_batch_size
    page: dict[str, Any] = {"totalSize": total, "done": end >= len(records), "records": records[offset:end]}
    if end < len(records):
        page["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
    else:
        del org.query_locators[locator]
    return page


def _eca_by_id(org: FakeOrg, app_id: str) -> str | None:
    for name in org.external_client_apps:
        eca_id = org.eca_id(name)
        if eca_id and same_id(eca_id, app_id):
            return name
    return None


def _usage(request: web.Request, org: FakeOrg, v: str) -> web.Response:
    try:
        page = int(request.query.get("page", "0"))
        size = int(request.query.get("pageSize", "100"))
    except ValueError:
        return rest_error(400, "ILLEGAL_QUERY_PARAMETER_VALUE", "page and pageSize must be integers")
    if page < 0 or not 1 <= size <= 100:
        return rest_error(400, "ILLEGAL_QUERY_PARAMETER_VALUE", "page must be >= 0 and pageSize 1..100")
    apps = []
    for name, parts in org.external_client_apps.items():
        if "ExtlClntAppGlobalOauthSettings" not in parts or ECA_HEADER not in parts:
            continue
        apps.append(
            {
                "developerName": name,
                "identifier": org.eca_id(name),
                "name": parts[ECA_HEADER].get("label", name),
            }
        )
    chunk = apps[page * size : (page + 1) * size]
    base = f"/services/data/v{v}/apps/oauth/usage"
    more = (page + 1) * size < len(apps)
    return json_response(
        {
            "apps": chunk,
            "currentPageUrl": f"{base}?page={page}&pageSize={size}",
            "nextPageUrl": f"{base}?page={page + 1}&pageSize={size}" if more else None,
        }
    )


def _consumers(org: FakeOrg, app_name: str, app_id: str, v: str, *, version: int) -> web.Response:
    parts = org.external_client_apps[app_name]
    glob = parts.get("ExtlClntAppGlobalOauthSettings")
    consumers = []
    consumer_id = org.eca_consumer_id(app_name)
    if glob is not None and consumer_id:
        consumers.append(
            {
                "id": consumer_id,
                "key": glob.get("consumerKey"),
                "name": parts.get(ECA_HEADER, {}).get("label", app_name),
                "url": f"/services/data/v{v}/apps/oauth/credentials/{app_id}/{consumer_id}",
            }
        )
        if version >= 65:
            consumers[-1]["stagedCredentialsUrl"] = consumers[-1]["url"] + "/staged"
    return json_response({"consumers": consumers})


def _credential(
    request: web.Request, org: FakeOrg, user: FakeUser, app_name: str, app_id: str, consumer: str, v: str
) -> web.Response:
    consumer_id = org.eca_consumer_id(app_name)
    if not consumer_id or not same_id(consumer_id, consumer):
        return not_found()
    part = request.query.get("part", "key")
    if part not in ("key", "secret", "keyandsecret"):
        return rest_error(400, "ILLEGAL_QUERY_PARAMETER_VALUE", f"Invalid value for parameter part: {part}")
    if part != "key" and not user.has_any("ViewClientSecret"):
        return rest_error(
            403, "INSUFFICIENT_ACCESS", "You don't have permission to view consumer secrets of this app."
        )
    parts = org.external_client_apps[app_name]
    glob = parts["ExtlClntAppGlobalOauthSettings"]
    out: dict[str, object] = {"id": consumer_id}
    if part in ("key", "keyandsecret"):
        out["key"] = glob.get("consumerKey")
    out["name"] = parts.get(ECA_HEADER, {}).get("label", app_name)
    if part in ("secret", "keyandsecret"):
        out["secret"] = org.consumer_secret(app_name)
    out["url"] = f"/services/data/v{v}/apps/oauth/credentials/{app_id}/{consumer_id}"
    if int(float(v)) >= 65:
        out["stagedCredentialsUrl"] = f"{out['url']}/staged"
    return json_response(out)


async def _staged(
    request: web.Request, org: FakeOrg, user: FakeUser, app_name: str, parts: list[str], v: str
) -> web.Response:
    """A consumer's staged credentials: list, stage, promote (``rotate``), delete."""
    consumer_id = org.eca_consumer_id(app_name)
    if not consumer_id or not same_id(consumer_id, parts[4]):
        return not_found()
    if not user.has_any("ViewClientSecret"):
        return rest_error(
            403, "INSUFFICIENT_ACCESS", "You don't have permission to view consumer secrets of this app."
        )
    base = f"/services/data/v{v}/{'/'.join(parts[:6])}"
    now = fake_of(request).now()
    staged = org.staged.get(app_name)
    if len(parts) == 6:
        if request.method == "POST":
            if not (await request.read()).strip():
                return rest_error(400, "JSON_PARSER_ERROR", "The request body is empty")
            staged = org.stage_credentials(app_name, user=user)
            if staged is None:
                return rest_error(400, "DUPLICATE_VALUE", "Staged credentials already exist for this consumer. "
                                                          "Delete them before you create new ones.")
            return json_response({"stagedCredentials": [_staged_body(staged, base, now, org)]}, status=201)
        return json_response({"stagedCredentials": [_staged_body(staged, base, now, org)] if staged else []})
    if staged is None or not same_id(staged.id, parts[6]):
        return not_found()
    if request.method == "DELETE":
        del org.staged[app_name]
        return web.Response(status=204)
    if request.method == "PATCH":
        try:
            body = await request.json()
        except ValueError:
            return rest_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
        if not isinstance(body, dict) or body.get("command") != "rotate":
            return rest_error(400, "INVALID_INPUT", "command must be rotate")
        former = org.promote_staged(app_name, user=user)
        if former is None:
            return rest_error(400, "INVALID_OPERATION", "Only active staged credentials can be rotated.")
        staged = former
    return json_response(_staged_body(staged, base, now, org))


def _staged_body(staged: StagedCredential, base: str, now: datetime, org: FakeOrg) -> dict[str, Any]:
    return {
        "createdBy": staged.created_by.username,
        "createdDate": xsd_datetime(staged.created),
        "expirationDate": xsd_datetime(staged.expires),
        "id": staged.id,
        "key": staged.key,
        "secret": staged.secret,
        "stagedCredentialsUrl": base,
        "state": staged.state(now).lower() if org.staged_states_lowercase else staged.state(now),
        "url": f"{base}/{staged.id}",
    }


def _app_usage(request: web.Request, org: FakeOrg, route: str, parts: list[str], v: str) -> web.Response:
    """An External Client App's OAuth Usage: its users, their refresh tokens, and deleting them (204)."""
    if route == "apps/oauth/usage/tokens/token":
        family = next((f for name in org.external_client_apps for f in org.usage_tokens(name)
                       if f.usage_id and same_id(f.usage_id, parts[4])), None)
        if family is None:
            return not_found()
        fake_of(request).tokens.revoke_family(family)
        return web.Response(status=204)
    app_id = parts[3]
    app_name = _eca_by_id(org, app_id)
    if app_name is None:
        return not_found()  # Connected Apps too: these resources "only work for external client apps"
    live = org.usage_tokens(app_name)
    if route == "apps/oauth/usage/app/users":
        users = {family.user.id: family.user for family in live}
        entries = [{"userIdentifier": user.id, "username": user.username}
                   for user in sorted(users.values(), key=lambda user: user.username)]
        return _usage_page(request, org, "users", entries, f"/services/data/v{v}/{'/'.join(parts)}")
    if route == "apps/oauth/usage/app/user/tokens":
        live = [family for family in live if same_id(family.user.id, parts[4])]
    if request.method == "DELETE":
        for family in live:
            fake_of(request).tokens.revoke_family(family)
        return web.Response(status=204)
    tokens: list[dict[str, Any]] = [
        {
            "accessTokenFormat": "Opaque",
            "appDeveloperName": app_name,
            "appIdentifier": app_id,
            "initialConnectionAt": xsd_datetime(family.created),
            "lastUsedAt": xsd_datetime(family.last_used),
            "revocationUrl": f"/services/data/v{v}/apps/oauth/usage/tokens/{family.usage_id}",
            "useCount": family.use_count,
            "userIdentifier": family.user.id,
            "username": family.user.username,
        }
        for family in live
    ]
    return _usage_page(request, org, "tokens", tokens, f"/services/data/v{v}/{'/'.join(parts)}")


def _usage_page(
    request: web.Request, org: FakeOrg, key: str, entries: list[dict[str, Any]], base: str
) -> web.Response:
    """One page of a usage collection. Salesforce documents `nextPageUrl` "with every page, even the last page
    of items"; following it past the end gives an empty array."""
    try:
        page = int(request.query.get("page", "0"))
        size = int(request.query.get("pageSize", str(org.oauth_usage_page_size)))
    except ValueError:
        return rest_error(400, "ILLEGAL_QUERY_PARAMETER_VALUE", "page and pageSize must be integers")
    if page < 0 or not 1 <= size <= 100:
        return rest_error(400, "ILLEGAL_QUERY_PARAMETER_VALUE", "page must be >= 0 and pageSize 1..100")
    return json_response(
        {
            key: entries[page * size : (page + 1) * size],
            "currentPageUrl": f"{base}?page={page}&pageSize={size}",
            "nextPageUrl": f"{base}?page={page + 1}&pageSize={size}",
        }
    )
