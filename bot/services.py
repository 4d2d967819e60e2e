"""The objects handlers work with, built once per process by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.clock import Clock
from bot.config import Settings
from bot.dashboard import Dashboard
from bot.delivery import SlackDelivery
from bot.disconnect import Disconnector
from bot.journey import ConnectJourney
from bot.permissions import Permissions
from bot.reauthorize import Reauthorizer
from bot.reveal import CredentialReveal
from storage.database import Store


@dataclass(frozen=True)
class Services:
    settings: Settings
    clock: Clock
    store: Store
    journey: ConnectJourney
    reveals: CredentialReveal
    delivery: SlackDelivery
    permissions: Permissions
    dashboard: Dashboard
    disconnector: Disconnector
    reauthorizer: Reauthorizer


SERVICES_KEY = web.AppKey("qc_bot_services", Services)
