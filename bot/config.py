"""Configuration (SPEC §5): environment variables, also read from `./.env`; the environment wins.

`load_settings` checks every variable and reports all problems at once, one line per variable,
so an operator fixes a broken deployment in one round instead of one restart per mistake.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet

from bot.errors import ConfigError, LoginHostError
from bot.provisioning.settings import DesiredApp, RefreshTokenPolicy
from bot.redaction import Secret
from bot.salesforce.hosts import HostPolicy
from bot.timings import Timings, fast_process_timings, with_lease_ttl
from storage.database import normalised_url, sqlite_url

AppKindSetting = Literal["auto", "external-client-app", "connected-app"]

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
DEFAULT_SANDBOX_LOGIN_URL = "https://test.salesforce.com"
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_API_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)$")


LogFormat = Literal["text", "json"]
TimingsProfile = Literal["production", "fast"]
MIN_METRICS_TOKEN_LENGTH = 16

VARIABLES = (
    "QC_PUBLIC_URL", "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET",
    "SLACK_APP_TOKEN", "SLACK_API_URL", "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET", "SALESFORCE_LOGIN_URL",
    "SALESFORCE_SANDBOX_LOGIN_URL", "SALESFORCE_ALLOWED_HOSTS", "DATABASE_URL", "QC_DB_PATH", "QC_ENCRYPTION_KEYS",
    "QC_ADMIN_USERS",
    "QC_APP_KIND", "QC_REFRESH_TOKEN_POLICY", "QC_EXPIRY_WARN_DAYS", "SALESFORCE_REFRESH_TOKEN_POLICY",
    "QC_TOKEN_SYNC_MINUTES", "QC_EXPIRY_SCAN_MINUTES", "QC_RETENTION_DAYS", "QC_APP_NAME", "QC_APP_CALLBACK_URL",
    "QC_APP_CONTACT_EMAIL", "QC_APP_CONTACT_PHONE", "QC_APP_DESCRIPTION", "QC_LOG_LEVEL", "QC_LOG_FORMAT",
    "QC_METRICS_TOKEN", "QC_INSTANCE_ID", "QC_LEASE_SECONDS", "QC_TIMINGS", "PORT",
)
"""Every variable qc-bot reads (SPEC §5 and the overrides of §2), in the order the README lists them."""


def process_claim_id() -> str:
    """A claim id no other process has: host, process id and a random part (a restarted process on the same
    host may get the same pid; it must not take its predecessor's claims for its own)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class InvalidConfiguration(Exception):
    """One or more variables are missing or malformed; `problems` holds one `ConfigError` per variable."""

    def __init__(self, problems: list[ConfigError]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@dataclass(frozen=True, kw_only=True)
class Settings:
    public_url: str
    salesforce_client_id: str
    salesforce_client_secret: Secret = field(repr=False)
    encryption_keys: tuple[Secret, ...] = field(repr=False)
    slack_signing_secret: Secret | None = field(default=None, repr=False)
    slack_bot_token: Secret | None = field(default=None, repr=False)
    slack_client_id: str | None = None
    slack_client_secret: Secret | None = field(default=None, repr=False)
    slack_app_token: Secret | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    salesforce_login_url: str = DEFAULT_LOGIN_URL
    salesforce_sandbox_login_url: str = DEFAULT_SANDBOX_LOGIN_URL
    host_policy: HostPolicy = field(default_factory=HostPolicy)
    db_path: Path = Path("qc-bot.db")
    database_url: str | None = field(default=None, repr=False)
    """PostgreSQL (DATABASE_URL, may hold a password); None keeps everything in the SQLite file at `db_path`."""
    admin_users: frozenset[str] = frozenset()
    app_kind: AppKindSetting = "auto"
    desired_app: DesiredApp = field(default_factory=DesiredApp)
    expiry_warn_days: tuple[int, ...] = (30, 7, 1)
    bot_refresh_token_policy: RefreshTokenPolicy = field(default_factory=lambda: RefreshTokenPolicy("infinite"))
    """The refresh token policy of the bot's own OAuth client (SALESFORCE_REFRESH_TOKEN_POLICY)."""
    expiry_scan_interval: timedelta = timedelta(minutes=15)
    token_sync_interval: timedelta = timedelta(minutes=60)
    retention: timedelta = timedelta(days=30)
    """How long used links, states, reveals, finished journeys and sent messages are kept (QC_RETENTION_DAYS)."""
    port: int = 3000
    log_level: str = "INFO"
    log_format: LogFormat = "text"
    metrics_token: Secret | None = field(default=None, repr=False)
    """The bearer token `GET /metrics` requires (QC_METRICS_TOKEN); without one, /metrics is off."""
    instance_id: str = field(default_factory=process_claim_id)
    """Whose claims and leases this process holds (SPEC §10): QC_INSTANCE_ID, else unique to the process."""
    lease_ttl: timedelta | None = None
    """QC_LEASE_SECONDS: the lifetime of `qc-bot serve`'s leases (None: `Timings.lease_ttl`)."""
    timings_profile: TimingsProfile = "production"
    """QC_TIMINGS: `fast` runs a real process on the tests' timings (`fast_process_timings`)."""

    @property
    def oauth_callback_url(self) -> str:
        return self.public_url + "/salesforce/oauth/callback"

    @property
    def oauth_start_url(self) -> str:
        return self.public_url + "/salesforce/oauth/start"

    @property
    def timings(self) -> Timings:
        """What the commands wait for and retry with: QC_TIMINGS's profile, with leases of QC_LEASE_SECONDS."""
        timings = fast_process_timings() if self.timings_profile == "fast" else Timings()
        return timings if self.lease_ttl is None else with_lease_ttl(timings, self.lease_ttl)

    @property
    def database(self) -> str:
        """The URL of the database the bot keeps its state in."""
        return self.database_url or sqlite_url(self.db_path)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def multi_workspace(self) -> bool:
        """Slack OAuth install for many workspaces; `SLACK_BOT_TOKEN` is then not used."""
        return self.slack_client_id is not None


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: `KEY=value` lines, optional `export `, quotes, `#` comments."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, separator, value = line.partition("=")
        if not separator:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def configured_values(
    *, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
) -> dict[str, str]:
    """`./.env` overlaid by the environment: the raw values every command reads its configuration from."""
    values: dict[str, str] = read_dotenv(dotenv) if dotenv is not None else {}
    values.update(os.environ if environ is None else environ)
    return values


def load_settings(*, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
    """Build `Settings` from `./.env` overlaid by the environment; raise `InvalidConfiguration`."""
    reader = _Reader(configured_values(environ=environ, dotenv=dotenv))
    settings = reader.build()
    if reader.problems:
        raise InvalidConfiguration(reader.problems)
    assert settings is not None
    return settings


class _Reader:
    """Reads each variable once, collecting problems instead of stopping at the first."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = {key: value.strip() for key, value in values.items() if value.strip()}
        self.problems: list[ConfigError] = []

    def _get(self, name: str) -> str | None:
        return self._values.get(name)

    def _problem(self, name: str, expected: str) -> None:
        self.problems.append(ConfigError(variable=name, expected=expected))

    def _required(self, name: str, expected: str) -> str:
        value = self._get(name)
        if value is None:
            self._problem(name, f"missing; {expected}")
            return ""
        return value

    def build(self) -> Settings | None:
        host_policy = HostPolicy.from_entries((self._get("SALESFORCE_ALLOWED_HOSTS") or "").split(","))
        self._check_allowed_hosts()
        slack = self._slack()
        public_url = self._public_url()
        client_id = self._required("SALESFORCE_CLIENT_ID", "the consumer key of the bot's own Salesforce OAuth client")
        client_secret = self._required(
            "SALESFORCE_CLIENT_SECRET", "the consumer secret of the bot's own Salesforce OAuth client"
        )
        login_url = self._login_url("SALESFORCE_LOGIN_URL", DEFAULT_LOGIN_URL, host_policy)
        sandbox_url = self._login_url("SALESFORCE_SANDBOX_LOGIN_URL", DEFAULT_SANDBOX_LOGIN_URL, host_policy)
        keys = self._encryption_keys()
        settings_fields: dict[str, Any] = dict(
            admin_users=self._admin_users(),
            app_kind=self._app_kind(),
            desired_app=self._desired_app(),
            expiry_warn_days=self._warn_days(),
            bot_refresh_token_policy=self._refresh_token_policy(
                "SALESFORCE_REFRESH_TOKEN_POLICY", RefreshTokenPolicy("infinite")),
            expiry_scan_interval=self._minutes("QC_EXPIRY_SCAN_MINUTES", 15),
            token_sync_interval=self._minutes("QC_TOKEN_SYNC_MINUTES", 60),
            retention=self._days("QC_RETENTION_DAYS", 30),
            port=self._port(),
            db_path=Path(self._get("QC_DB_PATH") or "qc-bot.db"),
            database_url=self._database_url(),
            log_level=self._log_level(),
            log_format=self._log_format(),
            metrics_token=self._metrics_token(),
            instance_id=self._instance_id(),
            lease_ttl=self._lease_ttl(),
            timings_profile=self._timings_profile(),
        )
        if self.problems:
            return None
        return Settings(
            public_url=public_url,
            salesforce_client_id=client_id,
            salesforce_client_secret=Secret(client_secret, pinned=True),
            encryption_keys=keys,
            salesforce_login_url=login_url,
            salesforce_sandbox_login_url=sandbox_url,
            host_policy=host_policy,
            **slack,
            **settings_fields,
        )

    def _slack(self) -> dict[str, Any]:
        bot_token = self._get("SLACK_BOT_TOKEN")
        client_id = self._get("SLACK_CLIENT_ID")
        client_secret = self._get("SLACK_CLIENT_SECRET")
        app_token = self._get("SLACK_APP_TOKEN")
        signing_secret = self._get("SLACK_SIGNING_SECRET")
        if bot_token is not None and not bot_token.startswith("xoxb-"):
            self._problem("SLACK_BOT_TOKEN", "expected a bot token starting with xoxb-")
        if app_token is not None and not app_token.startswith("xapp-"):
            self._problem("SLACK_APP_TOKEN", "expected an app-level token starting with xapp- (Socket Mode)")
        if bool(client_id) != bool(client_secret):
            missing = "SLACK_CLIENT_SECRET" if client_id else "SLACK_CLIENT_ID"
            self._problem(missing, "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are needed together (multi-workspace)")
        if bot_token is None and client_id is None:
            self._problem(
                "SLACK_BOT_TOKEN",
                "missing; set it (single workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (many workspaces)",
            )
        if signing_secret is None and app_token is None:
            self._problem("SLACK_SIGNING_SECRET", "missing; required in HTTP mode (Basic Information → Signing Secret)")
        api_url = self._get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
        if not _is_http_url(api_url):
            self._problem("SLACK_API_URL", "expected an http(s) URL such as https://slack.com/api/")
        elif not api_url.endswith("/"):
            api_url += "/"
        return dict(
            slack_bot_token=Secret(bot_token, pinned=True) if bot_token else None,
            slack_client_id=client_id,
            slack_client_secret=Secret(client_secret, pinned=True) if client_secret else None,
            slack_app_token=Secret(app_token, pinned=True) if app_token else None,
            slack_signing_secret=Secret(signing_secret, pinned=True) if signing_secret else None,
            slack_api_url=api_url,
        )

    def _public_url(self) -> str:
        value = self._required("QC_PUBLIC_URL", "the bot's public base URL, e.g. https://qc-bot.example.com")
        if not value:
            return ""
        try:
            return normalise_public_url(value)
        except ConfigError as exc:
            self.problems.append(exc)
            return value.rstrip("/")

    def _login_url(self, name: str, default: str, policy: HostPolicy) -> str:
        value = self._get(name) or default
        try:
            return policy.require_salesforce_url(value, what=name)
        except LoginHostError as exc:
            self._problem(name, f"{exc} Add the host to SALESFORCE_ALLOWED_HOSTS if it is really yours.")
            return value

    def _check_allowed_hosts(self) -> None:
        for entry in (self._get("SALESFORCE_ALLOWED_HOSTS") or "").split(","):
            entry = entry.strip()
            if entry and not re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+)(:\d{1,5})?", entry):
                self._problem("SALESFORCE_ALLOWED_HOSTS",
                              f"expected comma-separated host[:port] entries, got {entry!r}")

    def _encryption_keys(self) -> tuple[Secret, ...]:
        value = self._required("QC_ENCRYPTION_KEYS", "comma-separated Fernet keys; create one with `qc-bot keygen`")
        keys: list[Secret] = []
        for position, key in enumerate((part.strip() for part in value.split(",") if part.strip()), start=1):
            try:
                Fernet(key.encode("ascii"))
            except (ValueError, UnicodeEncodeError):
                self._problem(
                    "QC_ENCRYPTION_KEYS",
                    f"key #{position} is not a Fernet key (32 url-safe base64-encoded bytes); "
                    "create one with `qc-bot keygen`",
                )
                return ()
            keys.append(Secret(key, pinned=True))
        return tuple(keys)

    def _admin_users(self) -> frozenset[str]:
        entries = [part.strip() for part in (self._get("QC_ADMIN_USERS") or "").split(",") if part.strip()]
        bad = [entry for entry in entries if not _SLACK_USER_ID.match(entry)]
        if bad:
            self._problem("QC_ADMIN_USERS", f"expected comma-separated Slack user ids like U0123ABCD, got {bad[0]!r}")
        return frozenset(entries)

    def _app_kind(self) -> AppKindSetting:
        value = (self._get("QC_APP_KIND") or "auto").lower()
        if value not in ("auto", "external-client-app", "connected-app"):
            self._problem("QC_APP_KIND", "expected auto, external-client-app or connected-app")
            return "auto"
        return value  # type: ignore[return-value]

    def _refresh_token_policy(self, name: str, default: RefreshTokenPolicy) -> RefreshTokenPolicy:
        raw_policy = self._get(name)
        if raw_policy is None:
            return default
        try:
            return RefreshTokenPolicy.parse(raw_policy)
        except ValueError:
            self._problem(
                name, "expected never, Nh, Nd, Nm (expire after N hours/days/months) or idle:Nd (expire if unused)")
            return default

    def _minutes(self, name: str, default: int) -> timedelta:
        return timedelta(minutes=self._positive(name, default, unit="minutes"))

    def _days(self, name: str, default: int) -> timedelta:
        return timedelta(days=self._positive(name, default, unit="days"))

    def _positive(self, name: str, default: int, *, unit: str) -> int:
        value = self._get(name) or str(default)
        if not value.isdigit() or int(value) <= 0:
            self._problem(name, f"expected a whole number of {unit}, at least 1")
            return default
        return int(value)

    def _desired_app(self) -> DesiredApp:
        policy = self._refresh_token_policy("QC_REFRESH_TOKEN_POLICY", RefreshTokenPolicy("lifetime", 90, "DAYS"))
        overrides: dict[str, Any] = {}
        name = self._get("QC_APP_NAME")
        if name is not None:
            if _API_NAME.match(name) and len(name) <= 40:
                overrides.update(label=name, api_name=name)
            else:
                self._problem("QC_APP_NAME", "expected a Salesforce API name: letters, digits, single underscores")
        callback = self._get("QC_APP_CALLBACK_URL")
        if callback is not None:
            if _is_http_url(callback):
                overrides["callback_url"] = callback
            else:
                self._problem("QC_APP_CALLBACK_URL", "expected an https URL")
        for variable, attribute in (
            ("QC_APP_CONTACT_EMAIL", "contact_email"),
            ("QC_APP_CONTACT_PHONE", "contact_phone"),
            ("QC_APP_DESCRIPTION", "description"),
        ):
            value = self._get(variable)
            if value is not None:
                overrides[attribute] = value
        if "contact_email" in overrides and "@" not in overrides["contact_email"]:
            self._problem("QC_APP_CONTACT_EMAIL", "expected an email address")
        return DesiredApp(refresh_token_policy=policy, **overrides)

    def _warn_days(self) -> tuple[int, ...]:
        value = self._get("QC_EXPIRY_WARN_DAYS") or "30,7,1"
        try:
            days = sorted({int(part) for part in value.split(",") if part.strip()}, reverse=True)
        except ValueError:
            days = []
        if not days or any(day <= 0 for day in days):
            self._problem("QC_EXPIRY_WARN_DAYS", "expected comma-separated positive day counts, e.g. 30,7,1")
            return (30, 7, 1)
        return tuple(days)

    def _port(self) -> int:
        value = self._get("PORT") or "3000"
        if not value.isdigit() or not 0 < int(value) < 65536:
            self._problem("PORT", "expected a TCP port number between 1 and 65535")
            return 3000
        return int(value)

    def _log_format(self) -> LogFormat:
        value = (self._get("QC_LOG_FORMAT") or "text").lower()
        if value == "json":
            return "json"
        if value != "text":
            self._problem("QC_LOG_FORMAT", "expected text or json")
        return "text"

    def _metrics_token(self) -> Secret | None:
        value = self._get("QC_METRICS_TOKEN")
        if value is None:
            return None
        if len(value) < MIN_METRICS_TOKEN_LENGTH or not value.isascii() or not value.isprintable() or " " in value:
            self._problem("QC_METRICS_TOKEN", f"expected at least {MIN_METRICS_TOKEN_LENGTH} printable ASCII "
                          "characters without spaces, e.g. from `openssl rand -hex 32`")
            return None
        return Secret(value, pinned=True)

    def _log_level(self) -> str:
        value = (self._get("QC_LOG_LEVEL") or "INFO").upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            self._problem("QC_LOG_LEVEL", "expected DEBUG, INFO, WARNING or ERROR")
            return "INFO"
        return value

    def _instance_id(self) -> str:
        value = (self._get("QC_INSTANCE_ID") or "").strip()
        if not value:
            return process_claim_id()
        if len(value) > 100 or not value.isprintable():
            self._problem("QC_INSTANCE_ID", "expected a name of at most 100 printable characters, one per replica")
        return value

    def _timings_profile(self) -> TimingsProfile:
        value = (self._get("QC_TIMINGS") or "production").lower()
        if value not in ("production", "fast"):
            self._problem("QC_TIMINGS", "expected production (the default) or fast (for tests and rehearsals only)")
        return "fast" if value == "fast" else "production"

    def _database_url(self) -> str | None:
        value = self._get("DATABASE_URL") or None
        if value is None:
            return None
        try:
            if normalised_url(value).get_backend_name() == "postgresql":
                return value
        except ValueError:
            pass  # the reason names what is wrong only loosely; the message says what is expected
        self._problem("DATABASE_URL", "a PostgreSQL URL, postgresql://user:password@host:5432/database (or "
                                      "postgres://…, as Heroku sets it); unset, qc-bot keeps a SQLite file "
                                      "(QC_DB_PATH)")
        return None

    def _lease_ttl(self) -> timedelta | None:
        if not self._get("QC_LEASE_SECONDS"):
            return None
        return timedelta(seconds=self._positive("QC_LEASE_SECONDS", 15, unit="seconds"))


def normalise_public_url(value: str) -> str:
    """`QC_PUBLIC_URL` without its trailing slash; `ConfigError` unless it is an https (or loopback http) URL."""
    parts = urlsplit(value.strip())
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(variable="QC_PUBLIC_URL", expected="expected an absolute URL such as https://qc-bot.example.com")
    if parts.scheme == "http" and not loopback:
        raise ConfigError(variable="QC_PUBLIC_URL",
                          expected="must use https (plain http is accepted only for localhost)")
    return value.strip().rstrip("/")


def shown_database(location: str | Path) -> str:
    """The database as an operator may read it in a message: a file path as it is, a URL (`DATABASE_URL`)
    without its password and query (which may carry one, e.g. `?password=`)."""
    text = str(location)
    if "://" not in text:
        return text
    parts = urlsplit(text)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{parts.username}@{host}" if parts.username else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
