"""The operator's endpoints: `GET /healthz` (the process and its database answer), `GET /readyz` (ready for
traffic: the database answers and its schema is this version's) and `GET /metrics` (Prometheus text format,
behind the bearer token QC_METRICS_TOKEN: it shares its port with Slack's public endpoints)."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.ops.metrics import METRICS_KEY
from bot.services import SERVICES_KEY

logger = logging.getLogger(__name__)

_NO_STORE = {"Cache-Control": "no-store"}
# For operators and their probes, like the CLI's lines (bot/messages holds what Slack users read).
NOT_READY_DATABASE = "the database does not answer"
NOT_READY_SCHEMA = "the database's schema is not this version's (migrations pending)"
METRICS_OFF = "metrics are off: set QC_METRICS_TOKEN and scrape with that bearer token\n"


def register(web_app: web.Application) -> None:
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    web_app.router.add_get("/metrics", metrics)


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    await services.store.ping()
    return web.json_response({"status": "ok"}, headers=_NO_STORE)


async def readyz(request: web.Request) -> web.Response:
    store = request.app[SERVICES_KEY].store
    try:
        await store.ping()
        current = await store.schema_is_current()
    except Exception as exc:
        logger.warning("Not ready: the database does not answer (%s)", exc.__class__.__name__)
        return _not_ready(NOT_READY_DATABASE)
    if not current:
        logger.warning("Not ready: the database's schema is not this version's")
        return _not_ready(NOT_READY_SCHEMA)
    return web.json_response({"status": "ready"}, headers=_NO_STORE)


def _not_ready(reason: str) -> web.Response:
    return web.json_response({"status": "not ready", "reason": reason}, status=503, headers=_NO_STORE)


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    token = services.settings.metrics_token
    if token is None:
        return web.Response(status=404, text=METRICS_OFF, headers=_NO_STORE)
    presented = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(presented, f"Bearer {token.reveal()}".encode()):
        return web.Response(status=401, headers={**_NO_STORE, "WWW-Authenticate": 'Bearer realm="qc-bot metrics"'})
    body = await request.app[METRICS_KEY].exposition(store=services.store)
    return web.Response(body=body, headers={**_NO_STORE, "Content-Type": CONTENT_TYPE_LATEST})
