"""`GET /healthz`: the process serves HTTP and its database answers."""

from __future__ import annotations

from aiohttp import web

from bot.services import SERVICES_KEY


def register(web_app: web.Application) -> None:
    web_app.router.add_get("/healthz", healthz)


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    await services.store.ping()
    return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})
