"""What `GET /metrics` reports (Prometheus text format), one registry per app.

Labels come from small fixed vocabularies (an outcome, an API kind, a Slack method the bot calls), never from a
URL, an org, a workspace or a person: a label value is a time series for as long as the process lives, and none
may carry a name or a secret. The outbound HTTP of each side is measured where it leaves the process, by a trace
on the one `aiohttp.ClientSession` that side uses, so every call is counted, retries included, whichever client
library makes it.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Literal

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from yarl import URL

from bot.failures import Failure
from storage.database import Store

logger = logging.getLogger(__name__)

SlackDeliveryResult = Literal["sent", "retry", "undeliverable", "compacted"]
ScheduledWork = Literal["expiry_scan", "prune"]

# Seconds: Slack answers in tens of milliseconds, Salesforce's deploys and token endpoint can take seconds.
_CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAG_BUCKETS = (0.1, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

SLACK_METHODS = frozenset({
    "auth.test", "chat.postMessage", "chat.postEphemeral", "chat.update", "views.open", "views.publish",
    "views.update", "users.info", "conversations.info", "oauth.v2.access", "apps.connections.open",
})
"""The Web API methods qc-bot calls; anything else is counted as `other` (a label set that cannot grow)."""

_SALESFORCE_APIS = (
    (re.compile(r"^/services/oauth2/"), "oauth"),
    (re.compile(r"^/\.well-known/"), "oauth"),
    (re.compile(r"^/services/Soap/m/"), "metadata"),
    (re.compile(r"^/services/data/v[\d.]+/tooling/"), "tooling"),
    (re.compile(r"^/services/data/v[\d.]+/metadata/"), "metadata"),
    (re.compile(r"^/services/data/v[\d.]+/connect/"), "connect"),
    (re.compile(r"^/services/data/v[\d.]+/apps/"), "connect"),  # Connect REST's OAuth usage and credentials
    (re.compile(r"^/services/data/"), "rest"),
    (re.compile(r"^/id/"), "identity"),
)

class Metrics:
    """The instruments of one running app, in a registry of its own (tests and several apps in one process
    never share a series)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.journeys = Counter(
            "qcbot_journeys_ended", "connect-org journeys that ended, by outcome (provisioned or the failure code)",
            ["outcome"], registry=registry)
        self.slack_deliveries = Counter(
            "qcbot_slack_deliveries", "outbox messages handed to Slack, by result (sent, retry, undeliverable, "
            "compacted: refused as invalid and sent again as plain text)", ["result"], registry=registry)
        self.outbox_pending = Gauge(
            "qcbot_outbox_pending_messages", "Slack messages waiting in the outbox (read when scraped)",
            registry=registry)
        self.slack_calls, self.slack_errors = _request_instruments(
            registry, side="slack", label="method", what="Slack, by Web API method")
        self.salesforce_calls, self.salesforce_errors = _request_instruments(
            registry, side="salesforce", label="api", what="Salesforce, by API")
        self.scheduler_lag = Histogram(
            "qcbot_scheduler_lag_seconds", "how late a periodic run started after it was due, by work",
            ["work"], buckets=_LAG_BUCKETS, registry=registry)
        self.scheduler_last_run = Gauge(
            "qcbot_scheduler_last_run_timestamp_seconds", "when each periodic work last started (Unix time)",
            ["work"], registry=registry)

    def journey_ended(self, *, outcome: Literal["provisioned", "failed"] | Failure) -> None:
        """`failed` only for an ending without a failure code (every failure names one today)."""
        self.journeys.labels(outcome=str(outcome)).inc()

    def delivery(self, *, result: SlackDeliveryResult) -> None:
        self.slack_deliveries.labels(result=result).inc()

    def scheduled_run(self, *, work: ScheduledWork, lag_seconds: float | None, started_at: float) -> None:
        """A periodic run started at `started_at` (Unix time), `lag_seconds` after it was due (None: it was not
        due, e.g. the first run at start-up)."""
        if lag_seconds is not None:
            self.scheduler_lag.labels(work=work).observe(lag_seconds)
        self.scheduler_last_run.labels(work=work).set(started_at)

    async def exposition(self, *, store: Store) -> bytes:
        """Every metric in the Prometheus text format, the outbox depth read now."""
        try:
            pending: float = await store.run(lambda repos: repos.gauges.pending_messages())
        except Exception as exc:
            # The rest still tell the operator something; a gauge without a value says "unknown".
            logger.warning("Could not count the outbox for /metrics (%s)", exc.__class__.__name__)
            pending = math.nan
        self.outbox_pending.set(pending)
        return generate_latest(self.registry)

    def slack_trace(self) -> aiohttp.TraceConfig:
        """Times every request of the Slack session (Web API and response_url replies)."""
        return _timed_requests(histogram=self.slack_calls, errors=self.slack_errors, label="method",
                               classify=slack_method)

    def salesforce_trace(self) -> aiohttp.TraceConfig:
        """Times every request of the Salesforce session (OAuth, REST, Connect, Tooling, Metadata)."""
        return _timed_requests(histogram=self.salesforce_calls, errors=self.salesforce_errors, label="api",
                               classify=salesforce_api)


METRICS_KEY = web.AppKey("qc_bot_metrics", Metrics)


def slack_method(url: URL) -> str:
    """The Web API method a request calls, `response_url` for a reply to a slash command or click."""
    method = url.path.rsplit("/", 1)[-1]
    if method in SLACK_METHODS:
        return method
    return "response_url" if url.path.startswith(("/commands/", "/actions/")) else "other"


def salesforce_api(url: URL) -> str:
    """The kind of Salesforce API a request speaks."""
    return next((api for pattern, api in _SALESFORCE_APIS if pattern.match(url.path)), "other")


def outcome_of(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "ok"


def _request_instruments(registry: CollectorRegistry, *, side: str, label: str,
                         what: str) -> tuple[Histogram, Counter]:
    """The latency histogram of one side's HTTP requests (each retry counts) and the counter of those that failed
    (429, 5xx, other 4xx, timeout, no answer)."""
    latency = Histogram(f"qcbot_{side}_request_seconds", f"HTTP requests to {what} and outcome",
                        [label, "outcome"], buckets=_CALL_BUCKETS, registry=registry)
    errors = Counter(f"qcbot_{side}_request_errors", f"HTTP requests to {what} and outcome, that failed",
                     [label, "outcome"], registry=registry)
    return latency, errors


def _timed_requests(*, histogram: Histogram, errors: Counter, label: str,
                    classify: Callable[[URL], str]) -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()

    async def started(_: aiohttp.ClientSession, context: SimpleNamespace,
                      params: aiohttp.TraceRequestStartParams) -> None:
        context.started = time.perf_counter()

    def observe(context: SimpleNamespace, url: URL, outcome: str) -> None:
        labels = {label: classify(url), "outcome": outcome}
        histogram.labels(**labels).observe(time.perf_counter() - context.started)
        if outcome != "ok":
            errors.labels(**labels).inc()

    async def ended(_: aiohttp.ClientSession, context: SimpleNamespace,
                    params: aiohttp.TraceRequestEndParams) -> None:
        observe(context, params.url, outcome_of(params.response.status))

    async def failed(_: aiohttp.ClientSession, context: SimpleNamespace,
                     params: aiohttp.TraceRequestExceptionParams) -> None:
        observe(context, params.url, "timeout" if isinstance(params.exception, TimeoutError) else "no_answer")

    trace.on_request_start.append(started)
    trace.on_request_end.append(ended)
    trace.on_request_exception.append(failed)
    return trace
