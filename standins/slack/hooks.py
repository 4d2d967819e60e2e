"""Response URLs (``/hooks/commands/...`` and ``/hooks/actions/...``) handed out with commands and actions.

Behaviour (Slack documents "up to 5 times within 30 minutes"; the exact failure answers are not
documented, so these are the fake's choices):

* success: HTTP 200, ``{"ok": true}``; only accepted posts count as a use;
* 6th accepted use: HTTP 404, ``{"ok": false, "error": "used_url"}``;
* more than 30 minutes (fake clock) after issue: HTTP 404, ``{"ok": false, "error": "expired_url"}``;
* unknown URL: HTTP 404, ``{"ok": false, "error": "no_service"}``;
* body not a JSON object: HTTP 400 ``invalid_payload``; bad blocks: HTTP 400 ``invalid_blocks``;
  neither text nor blocks (and not a delete): HTTP 400 ``no_text``.

Effects: ``delete_original`` deletes the source message; ``replace_original`` replaces it (for a slash
command: the last ephemeral this URL posted, else the acknowledgement's ephemeral answer); otherwise
``response_type: in_channel`` posts a channel message and anything else (the default) an ephemeral message to
the user.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .blocks import MESSAGE_MAX_BLOCKS, validate_blocks
from .models import Ephemeral, HookPost, Message
from .state import SlackState

MAX_USES = 5
TTL_SECONDS = 30 * 60


@dataclass(eq=False)
class ResponseUrl:
    url: str
    path: str
    kind: str
    team_id: str
    channel_id: str
    user_id: str
    issued_at: float
    source: Message | Ephemeral | None = None
    last_ephemeral: Ephemeral | None = None
    uses: int = 0


class ResponseUrls:
    """Issues response URLs and serves POSTs to them."""

    def __init__(self, state: SlackState) -> None:
        self.state = state
        self.by_path: dict[str, ResponseUrl] = {}

    def issue(
        self,
        *,
        kind: str,
        team_id: str,
        channel_id: str,
        user_id: str,
        source: Message | Ephemeral | None = None,
    ) -> str:
        number = self.state.ids.counter("hook")
        path = f"/hooks/{kind}/{team_id}/{number:013d}/{secrets.token_urlsafe(18)}"
        url = f"{self.state.base_url}{path}"
        self.by_path[path] = ResponseUrl(
            url=url,
            path=path,
            kind=kind,
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            issued_at=self.state.now(),
            source=source,
        )
        return url

    def answered_with(self, url: str, ephemeral: Ephemeral) -> None:
        """A slash command's acknowledgement showed `ephemeral`: its response URL replaces that one."""
        hook = self.by_path.get(url.removeprefix(self.state.base_url))
        if hook is not None:
            hook.last_ephemeral = ephemeral

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.state.log_raw(
            f"POST {request.path_qs} HTTP/1.1\r\n".encode()
            + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()).encode("utf-8", "replace")
            + b"\r\n"
            + raw
        )
        hook = self.by_path.get(request.path)
        body: dict[str, Any] | None = None
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw else None
            body = parsed if isinstance(parsed, dict) else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        status, answer = self._apply(hook, body)
        self.state.hook_posts.append(
            HookPost(
                url=f"{self.state.base_url}{request.path}",
                kind=hook.kind if hook else "unknown",
                team_id=hook.team_id if hook else "",
                channel_id=hook.channel_id if hook else "",
                user_id=hook.user_id if hook else "",
                body=body,
                raw=raw,
                status=status,
                response=answer,
                at=self.state.now(),
            )
        )
        return web.json_response(answer, status=status)

    def _apply(self, hook: ResponseUrl | None, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        if hook is None:
            return 404, {"ok": False, "error": "no_service"}
        if self.state.now() - hook.issued_at > TTL_SECONDS:
            return 404, {"ok": False, "error": "expired_url"}
        if hook.uses >= MAX_USES:
            return 404, {"ok": False, "error": "used_url"}
        if body is None:
            return 400, {"ok": False, "error": "invalid_payload"}
        text = body.get("text")
        blocks = body.get("blocks")
        deleting = bool(body.get("delete_original"))
        if not deleting and not text and not blocks and not body.get("attachments"):
            return 400, {"ok": False, "error": "no_text"}
        if blocks is not None:
            problems = validate_blocks(blocks, max_blocks=MESSAGE_MAX_BLOCKS)
            if problems:
                return 400, {
                    "ok": False,
                    "error": "invalid_blocks",
                    "response_metadata": {"messages": problems},
                }
        hook.uses += 1
        self._effect(hook, body, text if isinstance(text, str) else "", blocks)
        return 200, {"ok": True}

    def _effect(self, hook: ResponseUrl, body: dict[str, Any], text: str, blocks: Any) -> None:
        state = self.state
        team = state.teams[hook.team_id]
        target: Message | Ephemeral | None = hook.source or hook.last_ephemeral
        if body.get("delete_original"):
            if target is not None:
                target.deleted = True
            return
        if body.get("replace_original") and target is not None and not target.deleted:
            if isinstance(target, Message):
                state.update_message(
                    target, text=text, blocks=blocks or [], attachments=body.get("attachments")
                )
            else:
                state.replace_ephemeral(target, text=text, blocks=blocks)
            return
        channel = team.channels[hook.channel_id]
        if body.get("response_type") == "in_channel":
            state.post_message(
                team,
                channel,
                text=text,
                blocks=blocks,
                attachments=body.get("attachments"),
                via="response_url",
                thread_ts=body.get("thread_ts"),
            )
        else:
            hook.last_ephemeral = state.post_ephemeral(
                team,
                channel,
                hook.user_id,
                text=text,
                blocks=blocks,
                attachments=body.get("attachments"),
                via="response_url",
            )
