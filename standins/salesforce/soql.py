"""The little SOQL the fake understands.

Grammar (keywords and field names case-insensitive)::

    SELECT field [, field ...] FROM object
        [WHERE field = literal [AND field = literal ...]]
        [LIMIT n]

``literal`` is a single-quoted string (``\\'`` and ``\\\\`` escapes), ``true``/``false``, ``null`` or
an integer.  Objects and fields:

* ``Organization``: Id, Name, IsSandbox, InstanceName, OrganizationType
* ``User``: Id, Username, Name, FirstName, LastName, Email, IsActive, UserType and
  ``Profile.PermissionsApiUserOnly`` (the API-only flag; returned nested as
  ``"Profile": {"attributes": {...}, "PermissionsApiUserOnly": true}``, as Salesforce returns
  relationship fields)
* ``OauthToken``: Id, AppName, CreatedDate, LastUsedDate, UseCount, UserId, DeleteToken
* ``PermissionSet``: Id, Name, Label
* ``PermissionSetAssignment``: Id, AssigneeId, PermissionSetId

Errors (HTTP 400): syntax -> ``MALFORMED_QUERY``; unknown object -> ``INVALID_TYPE``; unknown field ->
``INVALID_FIELD`` (Salesforce's own codes for these cases).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .clock import soql_datetime
from .ids import same_id

if TYPE_CHECKING:
    from .org import FakeOrg, FakeUser, OauthTokenRow


class SoqlError(Exception):
    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<sym>[,=*()]))"
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos:].split()[0]}'")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


@dataclass
class Query:
    obj: str
    fields: list[str]
    where: list[tuple[str, Any]]
    limit: int | None


def parse(text: str) -> Query:
    tokens = _tokenize(text)
    i = 0

    def peek_word() -> str:
        return tokens[i][1].upper() if i < len(tokens) and tokens[i][0] == "word" else ""

    def expect_word(word: str) -> None:
        nonlocal i
        if peek_word() != word:
            got = tokens[i][1] if i < len(tokens) else "<end of query>"
            raise SoqlError("MALFORMED_QUERY", f"expecting '{word}', unexpected token: '{got}'")
        i += 1

    expect_word("SELECT")
    fields: list[str] = []
    while True:
        if i >= len(tokens) or tokens[i][0] != "word" or tokens[i][1].upper() == "FROM":
            got = tokens[i][1] if i < len(tokens) else "<end of query>"
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{got}'")
        fields.append(tokens[i][1])
        i += 1
        if i < len(tokens) and tokens[i] == ("sym", ","):
            i += 1
            continue
        break
    expect_word("FROM")
    if i >= len(tokens) or tokens[i][0] != "word" or "." in tokens[i][1]:
        raise SoqlError("MALFORMED_QUERY", "unexpected token after FROM")
    obj = tokens[i][1]
    i += 1
    where: list[tuple[str, Any]] = []
    if peek_word() == "WHERE":
        i += 1
        while True:
            if i + 2 >= len(tokens):
                raise SoqlError("MALFORMED_QUERY", "incomplete WHERE clause")
            if tokens[i][0] != "word" or tokens[i + 1] != ("sym", "="):
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{tokens[i][1]}'")
            field, (kind, raw) = tokens[i][1], tokens[i + 2]
            where.append((field, _literal(kind, raw)))
            i += 3
            if peek_word() == "AND":
                i += 1
                continue
            break
    limit = None
    if peek_word() == "LIMIT":
        i += 1
        if i >= len(tokens) or tokens[i][0] != "num" or int(tokens[i][1]) < 0:
            raise SoqlError("MALFORMED_QUERY", "LIMIT needs a non-negative integer")
        limit = int(tokens[i][1])
        i += 1
    if i != len(tokens):
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{tokens[i][1]}'")
    return Query(obj, fields, where, limit)


def _literal(kind: str, raw: str) -> Any:
    if kind == "str":
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    if kind == "num":
        return int(raw)
    if kind == "word" and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if kind == "word" and raw.lower() == "null":
        return None
    raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{raw}'")


# ------------------------------------------------------------------------------------- execution

Getter = Callable[[Any], Any]
ID_FIELDS = frozenset({"Id", "UserId", "AssigneeId", "PermissionSetId"})


def _org_fields(org: FakeOrg) -> dict[str, Getter]:
    return {
        "Id": lambda o: o.id,
        "Name": lambda o: o.name,
        "IsSandbox": lambda o: o.is_sandbox,
        "InstanceName": lambda o: o.instance_name,
        "OrganizationType": lambda o: o.edition,
    }


USER_FIELDS: dict[str, Getter] = {
    "Id": lambda u: u.id,
    "Username": lambda u: u.username,
    "Name": lambda u: u.name,
    "FirstName": lambda u: u.first_name,
    "LastName": lambda u: u.last_name,
    "Email": lambda u: u.email,
    "IsActive": lambda u: u.active,
    "UserType": lambda u: u.user_type,
    "Profile.PermissionsApiUserOnly": lambda u: u.api_only,
}


@dataclass
class _PermissionSetRow:
    id: str
    name: str
    label: str


PERMISSION_SET_FIELDS: dict[str, Getter] = {
    "Id": lambda p: p.id,
    "Name": lambda p: p.name,
    "Label": lambda p: p.label,
}
ASSIGNMENT_FIELDS: dict[str, Getter] = {
    "Id": lambda a: a.id,
    "AssigneeId": lambda a: a.assignee_id,
    "PermissionSetId": lambda a: a.permission_set_id,
}


def _permission_sets(org: FakeOrg) -> list[_PermissionSetRow]:
    return [
        _PermissionSetRow(org.permission_set_id(name) or "", name, str(data.get("label", name)))
        for name, data in org.permission_sets.items()
    ]


def _token_fields() -> dict[str, Getter]:
    return {
        "Id": lambda r: r.id,
        "AppName": lambda r: r.app_name,
        "CreatedDate": lambda r: soql_datetime(r.created),
        "LastUsedDate": lambda r: soql_datetime(r.last_used) if r.last_used else None,
        "UseCount": lambda r: r.use_count,
        "UserId": lambda r: r.user_id,
        "DeleteToken": lambda r: r.delete_token,
    }


def execute(text: str, *, org: FakeOrg, user: FakeUser, version: str) -> dict[str, Any]:
    """Run a query as ``user``; returns the REST response body."""
    query = parse(text)
    objects: dict[str, tuple[str, dict[str, Getter], list[Any]]] = {
        "organization": ("Organization", _org_fields(org), [org]),
        "user": ("User", USER_FIELDS, list(org.users)),
        "oauthtoken": ("OauthToken", _token_fields(), _visible_tokens(org, user)),
        "permissionset": ("PermissionSet", PERMISSION_SET_FIELDS, _permission_sets(org)),
        "permissionsetassignment": ("PermissionSetAssignment", ASSIGNMENT_FIELDS,
                                    list(org.permission_set_assignments)),
    }
    entry = objects.get(query.obj.lower())
    if entry is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{query.obj}' is not supported. If you are attempting to use a custom object, "
            "be sure to append the '__c' after the entity name.",
        )
    obj_name, getters, rows = entry
    by_lower = {name.lower(): name for name in getters}

    def canonical(name: str) -> str:
        found = by_lower.get(name.lower())
        if found is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{obj_name}'.")
        return found

    fields = [canonical(f) for f in query.fields]
    conditions = [(canonical(f), value) for f, value in query.where]
    selected = [r for r in rows if all(_equal(f, getters[f](r), v) for f, v in conditions)]
    if query.limit is not None:
        selected = selected[: query.limit]
    records = []
    for row in selected:
        record: dict[str, Any] = {
            "attributes": {"type": obj_name, "url": f"/services/data/v{version}/sobjects/{obj_name}/{row.id}"}
        }
        for name in dict.fromkeys(fields):
            value = getters[name](row)
            if "." in name:
                rel, sub = name.split(".", 1)
                nested = record.setdefault(rel, {"attributes": {"type": rel, "url": None}})
                nested[sub] = value
            else:
                record[name] = value
        records.append(record)
    return {"totalSize": len(records), "done": True, "records": records}


def _equal(field: str, actual: Any, expected: Any) -> bool:
    if field in ID_FIELDS and isinstance(actual, str) and isinstance(expected, str):
        return same_id(actual, expected)
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.lower() == expected.lower()  # SOQL string comparison is case-insensitive
    return actual == expected


def _visible_tokens(org: FakeOrg, user: FakeUser) -> list[OauthTokenRow]:
    if user.has_any("CustomizeApplication"):
        return list(org.oauth_tokens)
    return [row for row in org.oauth_tokens if row.user_id == user.id]
