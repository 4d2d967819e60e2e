"""Thin listeners: Slack commands and actions (Bolt) and the browser routes (aiohttp).

`register` is the one seam through which the app factory wires them all.
"""

from __future__ import annotations

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.services import Services
from handlers import actions, commands, drift, health, home, salesforce_oauth, slack_install, workspace_events


def register(app: AsyncApp, web_app: web.Application, services: Services) -> None:
    commands.register(app, services)
    actions.register(app, services)
    drift.register(app, services)
    home.register(app, services)
    workspace_events.register(app, services)
    if app.oauth_flow is not None:
        slack_install.register(web_app, app.oauth_flow, services.limiter)
    salesforce_oauth.register(web_app)
    health.register(web_app)
