"""The objects handlers work with, built once per process by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.clock import Clock
from bot.config import Settings
from bot.connect.journey import ConnectJourney
from bot.connect.reauthorize import Reauthorizer
from bot.connect.reveal import CredentialReveal
from bot.orgs.dashboard import Dashboard
from bot.orgs.disconnect import Disconnector
from bot.orgs.revocation import TokenRevoker
from bot.orgs.rotation import Rotator
from bot.slack.authorize import InstallationAuthorize
from bot.slack.outbox import SlackDelivery
from bot.slack.permissions import Permissions
from bot.slack.rate_limits import RateLimiter
from bot.watch.drift import DriftWatch
from bot.watch.report import CheckReport
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
    limiter: RateLimiter
    check_report: CheckReport
    drift: DriftWatch
    rotator: Rotator
    revoker: TokenRevoker
    authorization: InstallationAuthorize | None = None
    """Multi-workspace mode's memory of installations, which forgets a workspace the moment it is uninstalled."""


SERVICES_KEY = web.AppKey("qc_bot_services", Services)
