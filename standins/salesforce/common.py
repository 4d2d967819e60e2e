"""Shared request plumbing: which host a request hit, and small response helpers."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

if TYPE_CHECKING:
    from .org import FakeOrg
    from .server import FakeSalesforce

RoleKind = Literal["login", "sandbox", "mydomain"]


@dataclass(frozen=True)
class Role:
    """What a listening port stands for."""

    kind: RoleKind
    base_url: str
    org: FakeOrg | None = None

    def serves(self, org: FakeOrg) -> bool:
        """True when this host may handle OAuth for ``org``."""
        if self.kind == "mydomain":
            return self.org is org
        return org.is_sandbox == (self.kind == "sandbox")


FAKE_KEY: web.AppKey[FakeSalesforce] = web.AppKey("fake_salesforce", object)  # type: ignore[arg-type]
_RequestKey: Any = getattr(web, "RequestKey", None)  # aiohttp >= 3.14; plain strings before
ROLE_KEY: Any = _RequestKey("sf_role", object) if _RequestKey else "sf_role"
OPERATION_KEY: Any = _RequestKey("sf_operation", object) if _RequestKey else "sf_operation"


def fake_of(request: web.Request) -> FakeSalesforce:
    return request.app[FAKE_KEY]


def role_of(request: web.Request) -> Role:
    return request[ROLE_KEY]


def set_operation(request: web.Request, operation: str) -> None:
    request[OPERATION_KEY] = operation


def json_response(data: Any, status: int = 200, *, no_store: bool = False) -> web.Response:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"} if no_store else None
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        content_type="application/json",
        charset="UTF-8",
        headers=headers,
    )


def rest_error(status: int, error_code: str, message: str) -> web.Response:
    return json_response([{"message": message, "errorCode": error_code}], status)


def html_page(title: str, body_html: str, status: int = 200) -> web.Response:
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


def esc(text: str) -> str:
    return html.escape(text, quote=True)
