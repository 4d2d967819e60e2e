"""The Web API (``POST /api/<method>``): auth, scopes, fault injection and the methods qc-bot uses."""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from .blocks import (
    MESSAGE_MAX_BLOCKS,
    VIEW_MAX_BYTES,
    validate_attachments,
    validate_blocks,
    validate_view,
    view_size,
)
from .models import CallRecord, Channel, Team, TokenInfo, View
from .state import TRIGGER_TTL_SECONDS, SlackState

if TYPE_CHECKING:
    from .oauth import OAuthServer
    from .socket_mode import SocketModeServer

MAX_TEXT_CHARS = 40_000
MAX_ATTACHMENTS = 100


class ApiError(Exception):
    """Answer ``{"ok": false, "error": code, ...extra}`` with HTTP 200."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def invalid_arguments(*messages: str) -> ApiError:
    return ApiError("invalid_arguments", response_metadata={"messages": list(messages)})


@dataclass(eq=False)
class Fault:
    """One queued failure for a method (see ``FakeSlack.fail_next``)."""

    method: str
    status: int
    error: str | None
    retry_after: int
    drop: bool
    remaining: int


@dataclass(eq=False)
class ApiCall:
    """What a method handler sees."""

    method: str
    params: dict[str, Any]
    record: CallRecord
    token: TokenInfo | None = None
    team: Team | None = None
    basic_auth: tuple[str, str] | None = None
    warnings: list[str] = field(default_factory=list)


Handler = Callable[[ApiCall], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class MethodSpec:
    handler: Handler
    auth: str  # "bot", "app" or "client"
    scope: str | None = None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1")) or value == 1


class WebApi:
    """Parses requests like Slack, refuses like Slack, records everything."""

    JSON_FIELDS = ("blocks", "attachments", "view", "metadata")

    def __init__(self, state: SlackState) -> None:
        self.state = state
        self.faults: list[Fault] = []
        self.oauth: OAuthServer | None = None
        self.socket_mode: SocketModeServer | None = None
        self.methods: dict[str, MethodSpec] = {
            "auth.test": MethodSpec(self.auth_test, "bot"),
            "chat.postMessage": MethodSpec(self.chat_post_message, "bot", "chat:write"),
            "chat.postEphemeral": MethodSpec(self.chat_post_ephemeral, "bot", "chat:write"),
            "chat.update": MethodSpec(self.chat_update, "bot", "chat:write"),
            "views.open": MethodSpec(self.views_open, "bot"),
            "views.publish": MethodSpec(self.views_publish, "bot"),
            "views.update": MethodSpec(self.views_update, "bot"),
            "users.info": MethodSpec(self.users_info, "bot", "users:read"),
            "conversations.info": MethodSpec(self.conversations_info, "bot"),
            "oauth.v2.access": MethodSpec(self.oauth_v2_access, "client"),
            "apps.connections.open": MethodSpec(self.apps_connections_open, "app", "connections:write"),
        }

    # --- fault injection ---------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        self.faults.append(fault)

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in (method, "*") and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    # --- HTTP entry point --------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        body = await request.read()
        headers = dict(request.headers)
        self.state.log_raw(_raw_request(request, body))
        record = CallRecord(
            method=method,
            http_method=request.method,
            params={},
            headers=headers,
            body=body,
            token=None,
            team_id=None,
            at=self.state.now(),
            monotonic=self.state.monotonic(),
        )
        self.state.calls.append(record)

        fault = self._take_fault(method)
        if fault is not None and fault.drop:
            record.status = 0
            record.response = {"ok": False, "error": "(connection dropped by fault injection)"}
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        if fault is not None and fault.error is None:
            return self._fault_response(record, fault)

        call: ApiCall | None = None
        try:
            call = self._parse(method, request, body, record)
            if fault is not None:
                raise ApiError(fault.error or "fatal_error")
            spec = self.methods.get(method)
            if spec is None:
                raise ApiError("unknown_method", req_method=method)
            self._authenticate(call, request, spec)
            result = await spec.handler(call)
            payload: dict[str, Any] = {"ok": True, **result}
        except ApiError as exc:
            payload = {"ok": False, "error": exc.code, **exc.extra}
        call_warnings = call.warnings if call is not None else []
        if call_warnings:
            payload["warning"] = ",".join(call_warnings)
            payload.setdefault("response_metadata", {})["warnings"] = call_warnings
        record.response = payload
        return web.json_response(payload, headers=self._scope_headers(call))

    @staticmethod
    def _scope_headers(call: ApiCall | None) -> dict[str, str]:
        """Slack names the token's granted scopes on every authenticated answer (``x-oauth-scopes``)."""
        if call is None or call.token is None or call.token.kind != "bot" or call.team is None:
            return {}
        return {"X-OAuth-Scopes": ",".join(sorted(call.team.scopes))}

    def _fault_response(self, record: CallRecord, fault: Fault) -> web.Response:
        record.status = fault.status
        if fault.status == 429:
            payload = {"ok": False, "error": "ratelimited"}
            record.response = payload
            return web.json_response(payload, status=429, headers={"Retry-After": str(fault.retry_after)})
        payload = {"ok": False, "error": "internal_error" if fault.status == 500 else "service_unavailable"}
        record.response = payload
        return web.json_response(payload, status=fault.status)

    def _parse(self, method: str, request: web.Request, body: bytes, record: CallRecord) -> ApiCall:
        params: dict[str, Any] = dict(request.query)
        form_token: str | None = params.get("token")
        content_type = request.headers.get("Content-Type", "")
        mime = content_type.split(";")[0].strip().lower()
        warnings: list[str] = []
        if request.method == "POST" and body:
            if not mime:
                raise ApiError("missing_post_type")
            if mime == "application/json":
                if "charset" not in content_type.lower():
                    warnings.append("missing_charset")
                try:
                    parsed = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise ApiError("invalid_json") from exc
                if not isinstance(parsed, dict):
                    raise ApiError("invalid_json")
                # Slack ignores a token inside a JSON body: it must come as a Bearer header.
                parsed.pop("token", None)
                params.update(parsed)
            elif mime == "application/x-www-form-urlencoded":
                try:
                    form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
                except UnicodeDecodeError as exc:
                    raise ApiError("invalid_form_data") from exc
                params.update(dict(form))
                form_token = params.get("token", form_token)
            else:
                raise ApiError("invalid_post_type")
        params.pop("token", None)
        record.params = params
        call = ApiCall(method=method, params=params, record=record, warnings=warnings)
        auth_header = request.headers.get("Authorization", "")
        if auth_header.startswith("Bearer "):
            record.token = auth_header[len("Bearer ") :].strip()
        elif auth_header.startswith("Basic "):
            try:
                decoded = base64.b64decode(auth_header[len("Basic ") :]).decode()
                client_id, _, secret = decoded.partition(":")
                call.basic_auth = (client_id, secret)
            except (binascii.Error, UnicodeDecodeError):
                call.basic_auth = None
        if record.token is None and form_token:
            record.token = form_token
        return call

    def _authenticate(self, call: ApiCall, request: web.Request, spec: MethodSpec) -> None:
        if spec.auth == "client":
            return
        token = call.record.token
        if not token:
            raise ApiError("not_authed")
        info = self.state.tokens.get(token)
        if info is None:
            raise ApiError("invalid_auth")
        if info.revoked:
            raise ApiError("token_revoked")
        if info.kind != spec.auth and not (
            spec.auth == "bot" and info.kind == "user" and call.method == "auth.test"
        ):
            raise ApiError("not_allowed_token_type")
        call.token = info
        if info.team_id is not None:
            call.team = self.state.teams[info.team_id]
            call.record.team_id = info.team_id
        if spec.scope and info.kind == "bot":
            self._require_scope(call, spec.scope)

    def _require_scope(self, call: ApiCall, scope: str) -> None:
        assert call.team is not None
        if scope not in call.team.scopes:
            raise ApiError("missing_scope", needed=scope, provided=",".join(sorted(call.team.scopes)))

    # --- argument helpers -------------------------------------------------------------------------

    def _json_field(self, call: ApiCall, name: str, *, error: str) -> Any:
        value = call.params.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise (
                    invalid_arguments(f"[ERROR] invalid JSON [json-pointer:/{name}]")
                    if error == "invalid_arguments"
                    else ApiError(error)
                ) from exc
            call.params[name] = value
        return value

    def _message_content(self, call: ApiCall, *, require: bool = True) -> tuple[str | None, Any, Any]:
        text = call.params.get("text")
        if text is not None and not isinstance(text, str):
            text = str(text)
        blocks = self._json_field(call, "blocks", error="invalid_blocks_format")
        attachments = self._json_field(call, "attachments", error="invalid_attachments")
        if require and not text and not blocks and not attachments:
            raise ApiError("no_text")
        if text is not None and len(text) > MAX_TEXT_CHARS:
            raise ApiError("msg_too_long")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise ApiError("invalid_blocks_format")
            problems = validate_blocks(blocks, max_blocks=MESSAGE_MAX_BLOCKS)
            if problems:
                raise ApiError(
                    "invalid_blocks",
                    errors=[p.removeprefix("[ERROR] ") for p in problems],
                    response_metadata={"messages": problems},
                )
        if attachments is not None:
            if isinstance(attachments, list) and len(attachments) > MAX_ATTACHMENTS:
                raise ApiError("too_many_attachments")
            problems = validate_attachments(attachments)
            if problems:
                raise ApiError("invalid_attachments", response_metadata={"messages": problems})
        return text, blocks, attachments

    def _postable_channel(self, call: ApiCall) -> Channel:
        team = call.team
        assert team is not None
        channel = self.state.find_channel(team, call.params.get("channel"))
        if channel is None:
            raise ApiError("channel_not_found")
        if channel.is_archived:
            raise ApiError("is_archived")
        if not channel.bot_is_member:
            if channel.is_private:
                # Private conversations are invisible to non-members.
                raise ApiError("channel_not_found")
            if "chat:write.public" not in team.scopes:
                raise ApiError("not_in_channel")
        return channel

    # --- methods ---------------------------------------------------------------------------------

    async def auth_test(self, call: ApiCall) -> dict[str, Any]:
        team, info = call.team, call.token
        assert team is not None and info is not None
        user = team.users.get(info.user_id or "")
        result: dict[str, Any] = {
            "url": team.url,
            "team": team.name,
            "user": user.name if user else "",
            "team_id": team.team_id,
            "user_id": info.user_id,
        }
        if info.kind == "bot":
            result["bot_id"] = team.bot_id
        result["is_enterprise_install"] = False
        return result

    async def chat_post_message(self, call: ApiCall) -> dict[str, Any]:
        team = call.team
        assert team is not None
        channel = self._postable_channel(call)
        text, blocks, attachments = self._message_content(call)
        thread_ts = self._thread_of(channel.channel_id, call.params.get("thread_ts") or None)
        message = self.state.post_message(
            team,
            channel,
            text=text or "",
            blocks=blocks,
            attachments=attachments,
            via="chat.postMessage",
            thread_ts=thread_ts,
            params=call.params,
            reply_broadcast=_truthy(call.params.get("reply_broadcast")),
        )
        return {"channel": channel.channel_id, "ts": message.ts, "message": message.to_payload()}

    def _thread_of(self, channel_id: str, thread_ts: Any) -> str | None:
        """The thread a reply goes in: its parent's ts (a reply to a reply joins the parent's thread)."""
        if thread_ts is None:
            return None
        parent = self.state.find_message(channel_id, str(thread_ts))
        if parent is None or parent.deleted:
            if self.state.orphan_replies == "refuse":
                raise ApiError("thread_not_found")
            return None
        return parent.thread_ts or parent.ts

    async def chat_post_ephemeral(self, call: ApiCall) -> dict[str, Any]:
        team = call.team
        assert team is not None
        channel = self._postable_channel(call)
        user_id = call.params.get("user")
        if not user_id or user_id not in team.users:
            raise ApiError("user_not_found")
        if user_id not in channel.members:
            raise ApiError("user_not_in_channel")
        text, blocks, attachments = self._message_content(call)
        ephemeral = self.state.post_ephemeral(
            team,
            channel,
            user_id,
            text=text or "",
            blocks=blocks,
            attachments=attachments,
            via="chat.postEphemeral",
        )
        return {"message_ts": ephemeral.ts}

    async def chat_update(self, call: ApiCall) -> dict[str, Any]:
        team = call.team
        assert team is not None
        channel_id = call.params.get("channel")
        if not isinstance(channel_id, str) or channel_id not in team.channels:
            raise ApiError("channel_not_found")
        ts = call.params.get("ts")
        message = self.state.find_message(channel_id, ts) if isinstance(ts, str) else None
        if message is None or message.deleted:
            raise ApiError("message_not_found")
        if message.bot_id != team.bot_id:
            raise ApiError("cant_update_message")
        text, blocks, attachments = self._message_content(call)
        self.state.update_message(message, text=text, blocks=blocks, attachments=attachments)
        return {
            "channel": channel_id,
            "ts": message.ts,
            "text": message.text,
            "message": message.to_payload(),
        }

    def _checked_view(self, call: ApiCall, *, expected_type: str | None) -> dict[str, Any]:
        view = self._json_field(call, "view", error="invalid_arguments")
        if view is None:
            raise invalid_arguments("[ERROR] missing required field: view")
        if view_size(view) > VIEW_MAX_BYTES:
            raise ApiError("view_too_large")
        problems = validate_view(view, expected_type=expected_type)
        if problems:
            raise invalid_arguments(*problems)
        return view

    def _stored_view(
        self, team: Team, user_id: str, view: dict[str, Any], *, view_id: str, root_view_id: str | None = None
    ) -> dict[str, Any]:
        stored: dict[str, Any] = {
            "id": view_id,
            "team_id": team.team_id,
            "type": view["type"],
            "blocks": self.state.normalise(view.get("blocks")),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(self.state.now())}.{self.state.ids.short_block_id()}{self.state.new_block_id()}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": None,
            "submit": None,
            "previous_view_id": None,
            "root_view_id": root_view_id or view_id,
            "app_id": team.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": team.team_id,
            "bot_id": team.bot_id,
        }
        for key in ("title", "submit", "close"):
            if view.get(key) is not None:
                text_obj = copy.deepcopy(view[key])
                text_obj.setdefault("emoji", True)
                stored[key] = text_obj
        if view["type"] == "modal":
            stored["submit_disabled"] = bool(view.get("submit_disabled", False))
        return stored

    def _check_external_id(self, team: Team, view: dict[str, Any], *, own_view_id: str | None) -> None:
        external_id = view.get("external_id")
        if not external_id:
            return
        for existing in self.state.views.values():
            if (
                existing.team_id == team.team_id
                and existing.external_id == external_id
                and existing.view_id != own_view_id
            ):
                raise ApiError("duplicate_external_id")

    async def views_open(self, call: ApiCall) -> dict[str, Any]:
        team = call.team
        assert team is not None
        trigger_id = call.params.get("trigger_id") or call.params.get("interactivity_pointer")
        if not trigger_id:
            raise invalid_arguments("[ERROR] missing required field: trigger_id")
        trigger = self.state.triggers.get(trigger_id)
        if trigger is None or trigger.team_id != team.team_id:
            raise invalid_arguments("invalid `trigger_id`")
        if trigger.used:
            raise ApiError("exchanged_trigger_id")
        if self.state.now() - trigger.issued_at > TRIGGER_TTL_SECONDS:
            raise ApiError("expired_trigger_id")
        view = self._checked_view(call, expected_type="modal")
        self._check_external_id(team, view, own_view_id=None)
        trigger.used = True
        view_id = self.state.ids.next_id("V")
        record = View(
            view_id=view_id,
            team_id=team.team_id,
            user_id=trigger.user_id,
            type="modal",
            view=self._stored_view(team, trigger.user_id, view, view_id=view_id),
            opened_at=self.state.now(),
            trigger_id=trigger_id,
        )
        self.state.views[view_id] = record
        self.state.opened_views.append(record)
        return {"view": copy.deepcopy(record.view)}

    async def views_publish(self, call: ApiCall) -> dict[str, Any]:
        team = call.team
        assert team is not None
        user_id = call.params.get("user_id")
        if not user_id:
            raise invalid_arguments("[ERROR] missing required field: user_id")
        if user_id not in team.users or team.users[user_id].is_bot:
            raise ApiError("user_not_found")
        view = self._checked_view(call, expected_type="home")
        existing = self.state.home_views.get(user_id)
        expected_hash = call.params.get("hash")
        if expected_hash and (existing is None or existing.hash != expected_hash):
            raise ApiError("hash_conflict")
        self._check_external_id(team, view, own_view_id=existing.view_id if existing else None)
        if existing is None:
            view_id = self.state.ids.next_id("V")
            existing = View(
                view_id=view_id,
                team_id=team.team_id,
                user_id=user_id,
                type="home",
                view={},
                opened_at=self.state.now(),
            )
            self.state.views[view_id] = existing
            self.state.home_views[user_id] = existing
        else:
            existing.history.append(existing.view)
        existing.view = self._stored_view(team, user_id, view, view_id=existing.view_id)
        return {"view": copy.deepcopy(existing.view)}

    async def views_update(self, call: ApiCall) -> dict[str, Any]:
        team = call.team
        assert team is not None
        view_id, external_id = call.params.get("view_id"), call.params.get("external_id")
        if not view_id and not external_id:
            raise invalid_arguments("[ERROR] view_id or external_id is required")
        target = None
        for candidate in self.state.views.values():
            if candidate.team_id != team.team_id:
                continue
            if (view_id and candidate.view_id == view_id) or (
                not view_id and external_id and candidate.external_id == external_id
            ):
                target = candidate
                break
        if target is None:
            raise ApiError("not_found")
        expected_hash = call.params.get("hash")
        if expected_hash and expected_hash != target.hash:
            raise ApiError("hash_conflict")
        view = self._checked_view(call, expected_type=target.type)
        self._check_external_id(team, view, own_view_id=target.view_id)
        target.history.append(target.view)
        target.view = self._stored_view(
            team, target.user_id, view, view_id=target.view_id, root_view_id=target.view.get("root_view_id")
        )
        return {"view": copy.deepcopy(target.view)}

    async def users_info(self, call: ApiCall) -> dict[str, Any]:
        team = call.team
        assert team is not None
        user = team.users.get(call.params.get("user") or "")
        if user is None:
            raise ApiError("user_not_found")
        profile: dict[str, Any] = {
            "real_name": user.real_name,
            "display_name": user.name,
            "real_name_normalized": user.real_name,
            "display_name_normalized": user.name,
            "team": team.team_id,
        }
        if user.email and "users:read.email" in team.scopes:
            profile["email"] = user.email
        if user.is_bot:
            profile["bot_id"] = team.bot_id
        return {
            "user": {
                "id": user.user_id,
                "team_id": user.team_id,
                "name": user.name,
                "deleted": user.deleted,
                "real_name": user.real_name,
                "tz": user.tz,
                "tz_label": user.tz_label,
                "tz_offset": user.tz_offset,
                "profile": profile,
                "is_admin": user.is_admin,
                "is_owner": user.is_owner,
                "is_primary_owner": user.is_primary_owner,
                "is_restricted": False,
                "is_ultra_restricted": False,
                "is_bot": user.is_bot,
                "is_app_user": False,
                "updated": int(self.state.now()),
            }
        }

    async def conversations_info(self, call: ApiCall) -> dict[str, Any]:
        team = call.team
        assert team is not None
        channel = team.channels.get(call.params.get("channel") or "")
        if channel is None or (channel.is_private and not channel.is_im and not channel.bot_is_member):
            raise ApiError("channel_not_found")
        scope = "im:read" if channel.is_im else "groups:read" if channel.is_private else "channels:read"
        self._require_scope(call, scope)
        info: dict[str, Any] = {
            "id": channel.channel_id,
            "created": channel.created,
            "is_archived": channel.is_archived,
            "is_im": channel.is_im,
            "is_org_shared": False,
            "context_team_id": team.team_id,
        }
        if channel.is_im:
            info["user"] = next(iter(channel.members))
        else:
            info.update(
                {
                    "name": channel.name,
                    "name_normalized": channel.name,
                    "is_channel": not channel.is_private,
                    "is_group": False,
                    "is_private": channel.is_private,
                    "is_general": channel.name == "general",
                    "is_shared": False,
                    "is_ext_shared": False,
                    "is_member": channel.bot_is_member,
                }
            )
            if _truthy(call.params.get("include_num_members")):
                info["num_members"] = len(channel.members) + (1 if channel.bot_is_member else 0)
        return {"channel": info}

    async def oauth_v2_access(self, call: ApiCall) -> dict[str, Any]:
        if self.oauth is None:
            raise ApiError("invalid_client_id")
        return self.oauth.exchange(call)

    async def apps_connections_open(self, call: ApiCall) -> dict[str, Any]:
        if self.socket_mode is None:
            raise ApiError("internal_error")
        return {"url": self.socket_mode.issue_url()}


def _raw_request(request: web.Request, body: bytes) -> bytes:
    head = f"{request.method} {request.path_qs} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in request.headers.items()
    )
    return head.encode("utf-8", "replace") + b"\r\n" + body

