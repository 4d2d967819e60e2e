"""The app factory: one aiohttp `Application` that serves Slack (through Bolt), the Salesforce OAuth routes
and `/healthz`, and owns the background work (outbox delivery, resumed journeys, periodic maintenance, and
the scheduler of token syncs and expiry scans).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from typing import cast

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger import get_bolt_logger
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

import handlers
from bot.clock import Clock, SystemClock
from bot.config import Settings, shown_database
from bot.connect.journey import ConnectJourney
from bot.connect.reauthorize import Reauthorizer
from bot.connect.reveal import CredentialReveal
from bot.leases import Leases
from bot.ops.metrics import METRICS_KEY, Metrics
from bot.ops.retention import Pruner
from bot.orgs.access import org_access
from bot.orgs.dashboard import Dashboard
from bot.orgs.disconnect import Disconnector
from bot.orgs.revocation import TokenRevoker
from bot.orgs.rotation import Rotator
from bot.redaction import install_log_redaction, redact
from bot.server import StartupFailed, run_until_stopped
from bot.services import SERVICES_KEY, Services
from bot.slack.authorize import InstallationAuthorize, SingleWorkspaceAuthorize
from bot.slack.clients import ResponseUrlReply, SingleWorkspaceClients, outbox_clients, slack_retry_handlers
from bot.slack.inbound import MAX_BODY_BYTES, REFUSED, SlackRequestGate
from bot.slack.install import oauth_settings
from bot.slack.manifest import SLACK_EVENTS_PATH
from bot.slack.outbox import SlackDelivery
from bot.slack.permissions import Permissions
from bot.slack.rate_limits import CommandRateLimit, RateLimiter, RateLimits
from bot.slack.refusals import record_rate_limited
from bot.slack.replays import SharedReplays
from bot.timings import Timings
from bot.watch.drift import DriftWatch
from bot.watch.expiry import ExpiryScanner
from bot.watch.org_check import org_checker
from bot.watch.report import CheckReport
from bot.watch.scheduler import Scheduler
from handlers.commands import ConnectOrgAcknowledgement
from storage.crypto import SecretBox
from storage.database import Store

logger = logging.getLogger(__name__)

class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query strings (links, codes and states travel in them). Answered requests log at
    DEBUG and refused or failed ones at INFO: every Slack event at INFO is noise that costs the ack path.
    Requests the Slack gate refused are counted and summarised by the gate, so they log at DEBUG too: a
    flood must not grow the log by a line per request."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        refused_by_gate = isinstance(request, web.Request) and REFUSED in request
        level = logging.INFO if response.status >= 400 and not refused_by_gate else logging.DEBUG
        if self.logger.isEnabledFor(level):
            self.logger.log(level, "%s %s %s %.0fms", request.method, request.path, response.status, time * 1000)


class _ReplyThroughSharedSession(AsyncMiddleware):
    """Gives listeners a `respond` that uses the app's shared HTTP session and retry handlers. A middleware
    class rather than a function: Bolt inspects a function middleware's arguments on every request."""

    def __init__(self, *, session: aiohttp.ClientSession, retry_handlers: list[AsyncRetryHandler]) -> None:
        self._session = session
        self._retry_handlers = retry_handlers

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        if req.context.response_url:
            req.context["respond"] = ResponseUrlReply(response_url=req.context.response_url, session=self._session,
                                                      retry_handlers=self._retry_handlers)
        return await next()


async def create_web_app(
    settings: Settings, *, clock: Clock | None = None, timings: Timings | None = None,
    limits: RateLimits | None = None,
) -> web.Application:
    # Whoever runs the app (the CLI, the demo, a test), no log record it causes may carry a secret.
    install_log_redaction()
    clock = clock or SystemClock()
    timings = timings or settings.timings
    secret_box = SecretBox(keys=settings.encryption_keys)
    store = Store(url=settings.database, secret_box=secret_box)
    metrics = Metrics()
    # One HTTP session for every Slack Web API call (Bolt hands it to each request's client too): a new
    # session per call would pay for a new connection each time. The template client has no token: each
    # request's client gets its workspace's token from the authorization.
    slack_session = aiohttp.ClientSession(trace_configs=[metrics.slack_trace()])
    retry_handlers = slack_retry_handlers(timings.slack_retry)
    slack_client = AsyncWebClient(base_url=settings.slack_api_url, session=slack_session,
                                  retry_handlers=retry_handlers)
    slack_clients = outbox_clients(settings=settings, store=store, template=slack_client)
    # Remembered on the app's clock: a test that freezes it keeps what is remembered until it is forgotten.
    installations = (InstallationAuthorize(store=store, now=lambda: clock.now().timestamp())
                     if settings.multi_workspace else None)
    slack_oauth = (oauth_settings(settings=settings, store=store, clock=clock, authorization=installations)
                   if installations is not None else None)
    authorize: Callable[..., Awaitable[AuthorizeResult]] | None = None
    bot_identity: SingleWorkspaceAuthorize | None = None
    # Bolt takes an AsyncAuthorize instance as it is (its annotation names only plain functions).
    if isinstance(slack_clients, SingleWorkspaceClients):
        bot_identity = SingleWorkspaceAuthorize(client=slack_clients.client)
        authorize = cast(Callable[..., Awaitable[AuthorizeResult]], bot_identity)
    elif installations is not None:
        authorize = cast(Callable[..., Awaitable[AuthorizeResult]], installations)
    _quiet_bolt_token_warning()
    bolt = AsyncApp(
        client=slack_client,
        signing_secret=settings.slack_signing_secret.reveal() if settings.slack_signing_secret else "",
        # The gate of /slack/events verifies every signature before Bolt sees the request (Bolt would log each
        # refused body in full); over Socket Mode Slack's requests arrive only through the websocket.
        request_verification_enabled=False,
        oauth_settings=slack_oauth,
        installation_store_bot_only=True if slack_oauth else None,
        authorize=authorize,
        process_before_response=False,
        # qc-bot defines no workflow steps (Slack functions): their token middleware would be one more layer
        # every acknowledgement passes through for nothing.
        attaching_function_token_enabled=False,
    )
    http_session = aiohttp.ClientSession(headers={"User-Agent": "qc-bot"}, trace_configs=[metrics.salesforce_trace()])
    # Every claim and lease of this process is held under its instance id (SPEC §10: several replicas).
    leases = Leases(store=store, clock=clock, holder=settings.instance_id, timings=timings)
    delivery = SlackDelivery(store=store, clients=slack_clients, clock=clock, timings=timings,
                             sender=settings.instance_id, metrics=metrics)
    access = org_access(settings, session=http_session, timings=timings, store=store, clock=clock, leases=leases)
    journey = ConnectJourney(settings=settings, store=store, secret_box=secret_box, clock=clock, access=access,
                             delivery=delivery, slack_clients=slack_clients, timings=timings, metrics=metrics,
                             leases=leases,
                             reply_to=lambda url: ResponseUrlReply(response_url=url, session=slack_session,
                                                                   retry_handlers=retry_handlers))
    drift = DriftWatch(settings=settings, store=store, clock=clock, access=access, delivery=delivery, journey=journey)
    checker = org_checker(settings, store=store, clock=clock, access=access, delivery=delivery, timings=timings,
                          process=f"{settings.instance_id}/scheduled", on_demand=False, drift=drift)
    rotator = Rotator(settings=settings, store=store, clock=clock, access=access, delivery=delivery, timings=timings,
                      leases=leases)
    scheduler = Scheduler(
        checker=checker,
        scanner=ExpiryScanner(store=store, warn_days=settings.expiry_warn_days), delivery=delivery, clock=clock,
        scan_interval=settings.expiry_scan_interval, tick_seconds=timings.scheduler_tick_seconds,
        pruner=Pruner(store=store, retention=settings.retention), prune_interval=timings.prune_interval,
        metrics=metrics,
        leases=leases,
    )
    services = Services(settings=settings, clock=clock, store=store, journey=journey,
                        reveals=CredentialReveal(store=store, clock=clock, desired_app=settings.desired_app),
                        delivery=delivery,
                        permissions=Permissions(admin_users=settings.admin_users, clock=clock),
                        dashboard=Dashboard(settings=settings, store=store, clock=clock),
                        disconnector=Disconnector(settings=settings, store=store, clock=clock, access=access,
                                                  delivery=delivery, leases=leases),
                        reauthorizer=Reauthorizer(settings=settings, store=store, journey=journey),
                        drift=drift,
                        limiter=RateLimiter(limits=limits or RateLimits(), clock=clock),
                        check_report=CheckReport(store=store, clock=clock, checker=org_checker(
                            settings, store=store, clock=clock, access=access, delivery=delivery, timings=timings,
                            process=f"{settings.instance_id}/on-demand", on_demand=True, drift=drift)),
                        rotator=rotator,
                        revoker=TokenRevoker(settings=settings, store=store, clock=clock, access=access,
                                             delivery=delivery),
                        authorization=installations)

    bolt.use(CommandRateLimit(services.limiter))
    # The acknowledgement of the commonest command, before the listeners (handlers/commands.py says why).
    bolt.use(ConnectOrgAcknowledgement(services))
    bolt.use(_ReplyThroughSharedSession(session=slack_session, retry_handlers=retry_handlers))

    web_app = web.Application(client_max_size=MAX_BODY_BYTES)
    web_app[SERVICES_KEY] = services
    web_app[METRICS_KEY] = metrics

    # Replicas share PostgreSQL, and must share what they have admitted; one SQLite process remembers it itself.
    shared_replays = (SharedReplays(store=store, answer_seconds=timings.replay_check_seconds)
                      if store.engine_name == "postgresql" else None)
    if settings.slack_signing_secret is not None:
        gate = SlackRequestGate(signing_secret=settings.slack_signing_secret.reveal(),
                                body_seconds=timings.request_body_seconds, shared=shared_replays)

        async def slack_events(request: web.Request) -> web.StreamResponse:
            return await gate.handle(request, dispatch=bolt.async_dispatch)

        web_app.router.add_post(SLACK_EVENTS_PATH, slack_events)
    handlers.register(bolt, web_app, services)
    socket_mode = (AsyncSocketModeHandler(bolt, app_token=settings.slack_app_token.reveal())
                   if settings.slack_app_token else None)

    maintenance: list[asyncio.Task[None]] = []

    async def on_startup(app: web.Application) -> None:
        try:
            await start()
        except BaseException:
            await on_cleanup(app)  # aiohttp runs on_cleanup only after a complete start-up
            raise

    async def start() -> None:
        try:
            await store.open()
        except Exception as exc:
            where = shown_database(settings.database_url or settings.db_path)
            raise StartupFailed(f"the database {where} cannot be opened: {_reason(exc)}") from None
        if bot_identity is not None:
            await _check_bot_token(bot_identity, timeout_seconds=timings.startup_slack_check_seconds)
        delivery.start()
        maintenance.append(asyncio.create_task(_adopt(journey, rotator, timings), name="adoption"))
        maintenance.append(asyncio.create_task(_maintain(services, timings, replays=shared_replays),
                                               name="maintenance"))
        scheduler.start()
        if socket_mode is not None:
            await socket_mode.connect_async()
            logger.info("Connected to Slack in Socket Mode")
        # Everything built so far lives as long as the process: keep it out of every later garbage collection,
        # so collections triggered by request traffic stay short and do not stall acknowledgements; and collect
        # the young generation after 10,000 new objects rather than 700: a request allocates hundreds, and few of
        # them survive it.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)

    async def on_cleanup(_: web.Application) -> None:
        if socket_mode is not None:
            await socket_mode.close_async()
        for task in maintenance:
            task.cancel()
        await asyncio.gather(*maintenance, return_exceptions=True)
        await scheduler.stop()
        # Journeys under way get a moment to finish; what is then cancelled resumes at the next start from its
        # last committed step.
        await journey.close(grace_seconds=timings.shutdown_grace_seconds)
        await drift.close()
        await rotator.close()
        await delivery.stop()
        await http_session.close()
        await slack_session.close()
        await store.close()

    web_app.on_startup.append(on_startup)
    web_app.on_cleanup.append(on_cleanup)
    return web_app


class _BoltTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment itself and warns, at every start, that it uses the client
    qc-bot built from that same token instead: true, expected, and noise in front of whatever comes next."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_BOLT_TOKEN_WARNING = _BoltTokenWarning()


def _quiet_bolt_token_warning() -> None:
    bolt_logger = get_bolt_logger(AsyncApp)
    if _BOLT_TOKEN_WARNING not in bolt_logger.filters:
        bolt_logger.addFilter(_BOLT_TOKEN_WARNING)


async def _check_bot_token(bot_identity: SingleWorkspaceAuthorize, *, timeout_seconds: float) -> None:
    """Refuse to start with a bot token Slack refuses (a typo, a revoked token), rather than start quietly and
    fail every message. Slack out of reach is no reason not to start: the outbox retries what it could not send.
    The check is single-workspace authorize's own `auth.test`, so its answer also serves the first requests."""
    try:
        async with asyncio.timeout(timeout_seconds):
            await bot_identity.answer(enterprise_id=None, team_id=None)
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        if error is None:
            logger.warning("Slack did not answer auth.test (HTTP %s); starting anyway", exc.response.status_code)
            return
        raise StartupFailed(f"Slack refused SLACK_BOT_TOKEN: auth.test answered {error}") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("Could not reach Slack to check SLACK_BOT_TOKEN (%s); starting anyway",
                       exc.__class__.__name__)


def _reason(exc: BaseException) -> str:
    """An exception's first line, redacted (an operator reads it; a driver may quote its configuration)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    lines = str(exc).strip().splitlines()
    return redact(lines[0]) if lines else exc.__class__.__name__


async def _adopt(journey: ConnectJourney, rotator: Rotator, timings: Timings) -> None:
    """Take over the journeys and rotations whose replica died (their lease lapsed): at once, then every few
    seconds. The first round also takes back what this replica's previous process held under the same claim id
    (`QC_INSTANCE_ID`), without waiting for its leases to lapse; later rounds leave this process's own leases
    alone, whatever holds them now is running here."""
    first = True
    while True:
        try:
            await journey.adopt_unfinished(reclaim_own=first)
            await rotator.adopt_unfinished(reclaim_own=first)
            first = False
        except Exception:
            logger.exception("Looking for unfinished journeys failed; it runs again shortly")
        await asyncio.sleep(timings.adopt_interval_seconds)


async def _maintain(services: Services, timings: Timings, *, replays: SharedReplays | None) -> None:
    while True:
        try:
            await services.journey.expire_abandoned()
            await record_rate_limited(store=services.store, clock=services.clock,
                                      counts=services.limiter.drain_refusals())
            if replays is not None:
                await replays.prune()
        except Exception:
            logger.exception("Periodic maintenance failed; it runs again shortly")
        await asyncio.sleep(timings.maintenance_interval_seconds)


def serve(settings: Settings) -> None:
    """Run the HTTP server until interrupted (`qc-bot serve`)."""
    timings = settings.timings
    asyncio.run(run_until_stopped(create_web_app(settings, timings=timings), port=settings.port, timings=timings,
                                  access_log_class=PathOnlyAccessLogger))
