"""The baseline of SPEC §8: a bare Bolt AsyncApp on aiohttp whose `/qc` listener only acknowledges.

Usage: python benchmarks/bare_bolt_app.py PORT (configuration from SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN,
SLACK_API_URL)."""

from __future__ import annotations

import os
import sys

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def main() -> None:
    client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    bolt = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    @bolt.command("/qc")
    async def acknowledge(ack):  # type: ignore[no-untyped-def]
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", lambda request: web.json_response({"status": "ok"}))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
