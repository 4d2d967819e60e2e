"""Socket Mode: ``apps.connections.open`` tickets, the ``/link/`` websocket and envelope delivery."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from .models import FakeSlackError, SocketAck
from .state import SlackState

TICKET_TTL_SECONDS = 30.0


class SocketModeServer:
    """Tickets are single use and must be redeemed within 30 s (fake clock) of issue."""

    def __init__(self, state: SlackState) -> None:
        self.state = state
        self.tickets: dict[str, float] = {}
        self.connections: list[web.WebSocketResponse] = []
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.hello_count = 0

    def issue_url(self) -> str:
        ticket = secrets.token_hex(16)
        self.tickets[ticket] = self.state.now()
        ws_base = self.state.base_url.replace("http://", "ws://", 1)
        return f"{ws_base}/link/?ticket={ticket}&app_id={self.state.app_id}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        issued = self.tickets.pop(ticket, None)
        if issued is None or self.state.now() - issued > TICKET_TTL_SECONDS:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections.append(ws)
        self.hello_count += 1
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self.connections),
                    "debug_info": {
                        "host": "applink-fake-1",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": self.state.app_id},
                }
            )
        )
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                self.state.log_raw(msg.data.encode())
                self._on_text(msg.data)
        finally:
            if ws in self.connections:
                self.connections.remove(ws)
        return ws

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        future = self.pending.get(message["envelope_id"])
        if future is not None and not future.done():
            future.set_result(message)

    async def send(
        self,
        *,
        type: str,
        payload: dict[str, Any],
        accepts_response_payload: bool | None,
        timeout: float,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> dict[str, Any] | None:
        live = [ws for ws in self.connections if not ws.closed]
        if not live:
            raise FakeSlackError("no Socket Mode connection is open (did the client connect?)")
        envelope_id = str(uuid.uuid4())
        if accepts_response_payload is None:
            accepts_response_payload = type == "slash_commands" or (
                type == "interactive" and payload.get("type") in ("view_submission", "block_suggestion")
            )
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": type,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[envelope_id] = future
        try:
            await live[-1].send_str(json.dumps(envelope))
            try:
                ack = await asyncio.wait_for(future, timeout)
            except TimeoutError as exc:
                raise TimeoutError(f"no ack for {type} envelope {envelope_id} within {timeout} s") from exc
        finally:
            self.pending.pop(envelope_id, None)
        ack_payload = ack.get("payload")
        self.state.socket_acks.append(
            SocketAck(
                envelope_id=envelope_id,
                type=type,
                payload=ack_payload,
                raw=json.dumps(ack),
                at=self.state.now(),
            )
        )
        return ack_payload

    async def disconnect(self, reason: str) -> None:
        """Ask clients to reconnect, as Slack does before recycling a connection."""
        for ws in list(self.connections):
            if not ws.closed:
                await ws.send_str(
                    json.dumps(
                        {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}}
                    )
                )

    async def close_all(self) -> None:
        for ws in list(self.connections):
            await ws.close()
        self.connections.clear()
