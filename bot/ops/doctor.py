"""`qc-bot doctor`: checks the configuration and what it points at, one line per check with the fix.

First every configured value (format, Fernet keys, URLs, which Slack mode the values add up to, the
database and whether its stored secrets still decrypt), then reachability: Slack (`auth.test` and the
granted scopes, the app-level token of Socket Mode, the OAuth client of multi-workspace mode) and the
Salesforce login hosts (their OpenID configuration, and whether the token endpoint accepts the bot's
consumer key and secret). Nothing is changed anywhere; the exit status is non-zero when a check fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import VARIABLES, InvalidConfiguration, Settings, load_settings, shown_database
from bot.errors import ConfigError
from bot.redaction import mask
from bot.retry import Backoff
from bot.salesforce.errors import SalesforceError
from bot.salesforce.hosts import is_loopback_host
from bot.salesforce.http import SalesforceHttp
from bot.slack.clients import slack_retry_handlers
from bot.slack.manifest import BOT_SCOPES, CONVENIENCE_SCOPES
from storage.crypto import SecretBox
from storage.database import database_files, normalised_url
from storage.key_rotation import StoredSecrets, UnreadableDatabase, check_stored_secrets

Status = Literal["ok", "warn", "fail", "skip"]
SECRET_VARIABLES = frozenset({"SALESFORCE_CLIENT_SECRET", "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN",
                              "SLACK_CLIENT_SECRET", "SLACK_APP_TOKEN", "QC_METRICS_TOKEN"})
# A code no Salesforce org issued: the token endpoint checks the client before it looks at the code.
PROBE_CODE = "qc-bot-doctor-probe"
# One quick retry at most: a doctor reports what it sees instead of waiting out an outage.
DOCTOR_RETRY = Backoff(initial=0.2, maximum=0.5, jitter=0.2, deadline=1.0)
REINSTALL = ("reinstall the Slack app (OAuth & Permissions → Reinstall to Workspace) and put its Bot User OAuth "
             "Token in SLACK_BOT_TOKEN")


@dataclass(frozen=True)
class Finding:
    status: Status
    check: str
    detail: str
    fix: str | None = None

    def line(self) -> str:
        fix = f" → fix: {self.fix}" if self.fix else ""
        return f"{self.status.upper():<4}  {self.check}: {self.detail}{fix}"


async def diagnose(*, values: Mapping[str, str], timeout_seconds: float = 10.0) -> list[Finding]:
    """Every finding for the configuration in `values` (the environment overlaid on `.env`)."""
    try:
        settings = load_settings(environ=values, dotenv=None)
    except InvalidConfiguration as exc:
        findings = _variable_findings(values, exc.problems)
        return [*findings, Finding("skip", "Slack and Salesforce", "not contacted until the configuration is "
                                   "valid", "fix the lines marked FAIL above")]
    findings = [*_variable_findings(values, []), *_mode_findings(settings), *_database_findings(settings, values)]
    timeout = aiohttp.ClientTimeout(total=timeout_seconds)
    async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": "qc-bot doctor"}) as session:
        findings += await _slack_findings(settings, timeout_seconds)
        findings += await _salesforce_findings(settings, session, timeout_seconds)
    return findings


def report(findings: list[Finding]) -> tuple[str, int]:
    """The printed report and the exit status (1 when anything failed)."""
    failures = sum(finding.status == "fail" for finding in findings)
    lines = [finding.line() for finding in findings]
    lines.append(f"{failures} check(s) failed." if failures else "All checks passed.")
    return "\n".join(lines) + "\n", 1 if failures else 0


# -- configuration ---------------------------------------------------------------------------------------------

def _variable_findings(values: Mapping[str, str], problems: list[ConfigError]) -> list[Finding]:
    """One line per variable that is set or wrong, in the README's order; unknown look-alikes are flagged."""
    findings = []
    for name in VARIABLES:
        wrong = [problem for problem in problems if problem.variable == name]
        findings += [Finding("fail", name, problem.expected) for problem in wrong]
        value = (values.get(name) or "").strip()
        if value and not wrong:
            findings.append(Finding("ok", name, _shown_value(name, value)))
    for name in sorted(values):
        if name.startswith(("SLACK_", "SALESFORCE_", "QC_")) and name not in VARIABLES and values[name].strip():
            findings.append(Finding("warn", name, "not a qc-bot variable; it is ignored",
                                    "check the spelling against the README's configuration table"))
    return findings


def _shown_value(name: str, value: str) -> str:
    if name in SECRET_VARIABLES:
        return f"set ({mask(value)})"
    if name == "QC_ENCRYPTION_KEYS":
        count = len([key for key in value.split(",") if key.strip()])
        return f"{count} Fernet key(s); the first encrypts, all decrypt"
    if name == "DATABASE_URL":
        return shown_database(value)  # without the password it may carry
    return value


def _mode_findings(settings: Settings) -> list[Finding]:
    transport = "Socket Mode" if settings.socket_mode else "HTTP mode"
    workspaces = "many workspaces (Slack OAuth install)" if settings.multi_workspace else "a single workspace"
    findings = [Finding("ok", "Slack mode", f"{transport}, {workspaces}")]
    if settings.multi_workspace and settings.slack_bot_token is not None:
        findings.append(Finding("warn", "SLACK_BOT_TOKEN", "ignored in multi-workspace mode (each workspace's "
                                "token comes from its installation)", "remove SLACK_BOT_TOKEN"))
    slack_is_local = _is_loopback_url(settings.slack_api_url)
    if not settings.socket_mode and _is_loopback_url(settings.public_url) and not slack_is_local:
        findings.append(Finding("warn", "QC_PUBLIC_URL", f"Slack cannot reach {settings.public_url} in HTTP mode",
                                "use Socket Mode for local development (SLACK_APP_TOKEN) or a public https URL"))
    return findings


def _postgresql_findings(settings: Settings, url: str) -> list[Finding]:
    where = shown_database(url)
    try:
        secrets = check_stored_secrets(normalised_url(url), SecretBox(keys=settings.encryption_keys))
    except (UnreadableDatabase, ValueError) as exc:
        return [Finding("fail", "Database", f"{where} cannot be read ({exc})",
                        "check DATABASE_URL, that the server is reachable and that the user may read the database")]
    return [_secrets_finding(secrets, where=where)]


_ENCRYPTING_SSL_MODES = frozenset({"require", "verify-ca", "verify-full"})


def _encryption_findings(url: str, values: Mapping[str, str]) -> list[Finding]:
    """A database across a network carries the encrypted secrets, and the session that reads them, in its
    traffic: libpq's default (`sslmode=prefer`) falls back to plaintext when the server, or someone between, says
    so. The URL's `sslmode` counts, else libpq's `PGSSLMODE`."""
    parsed = normalised_url(url)
    hosts = [host for host in str(parsed.query.get("host") or parsed.host or "").split(",") if host]
    if all(host.startswith("/") or is_loopback_host(host.strip("[]")) for host in hosts):
        return []  # a Unix socket (no host at all means one too) or this machine: nothing to listen in on
    mode = str(parsed.query.get("sslmode") or values.get("PGSSLMODE") or "prefer")
    if mode in _ENCRYPTING_SSL_MODES:
        return [Finding("ok", "Database encryption", f"the connection requires TLS (sslmode={mode})")]
    return [Finding("warn", "Database encryption", f"the connection to {', '.join(hosts)} may fall back to "
                    f"plaintext (sslmode={mode})",
                    "set PGSSLMODE=require (or verify-full with the server's CA), or add ?sslmode=require to "
                    "DATABASE_URL; on Heroku set PGSSLMODE, since Heroku rewrites DATABASE_URL when it rotates the "
                    "database's credentials")]


def _secrets_finding(secrets: StoredSecrets, *, where: object) -> Finding:
    if secrets.undecryptable:
        return Finding("fail", "Database", f"{secrets.undecryptable} of {secrets.stored} stored secret(s) in "
                       f"{where} cannot be decrypted with QC_ENCRYPTION_KEYS",
                       "put back the key they were encrypted with (after the new one) and run `qc-bot rotate-keys`")
    return Finding("ok", "Database", f"{where}: all {secrets.stored} stored secret(s) decrypt with QC_ENCRYPTION_KEYS")


def _is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def _database_findings(settings: Settings, values: Mapping[str, str]) -> list[Finding]:
    if settings.database_url is not None:
        return [*_postgresql_findings(settings, settings.database_url),
                *_encryption_findings(settings.database_url, values)]
    path = settings.db_path
    if not path.exists():
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            return [Finding("fail", "Database", f"folder {folder} does not exist",
                            "create it (on a persistent disk) or change QC_DB_PATH")]
        if not os.access(folder, os.W_OK):
            return [Finding("fail", "Database", f"folder {folder} is not writable",
                            "let the bot's user write there or change QC_DB_PATH")]
        return [Finding("ok", "Database", f"{path} will be created at the first start")]
    try:
        secrets = check_stored_secrets(path, SecretBox(keys=settings.encryption_keys))
    except UnreadableDatabase as exc:
        return [Finding("fail", "Database", f"{path} cannot be read ({exc})",
                        "check the file's permissions, or point QC_DB_PATH at the right file")]
    finding = _secrets_finding(secrets, where=path)
    return [finding] if finding.status == "fail" else [finding, *_permission_findings(path)]


def _permission_findings(path: Path) -> list[Finding]:
    """The database holds encrypted secrets, the audit log and who connected what: its owner's alone (SPEC §6).
    A folder others may enter or change lets them read file names, or replace the database and its WAL."""
    findings = []
    for file in database_files(path):
        if file.exists() and file.stat().st_mode & 0o077:
            findings.append(Finding("warn", "Database permissions",
                                    f"{file} is {_mode(file)}: others on this machine may read it",
                                    f"chmod 600 {file} (qc-bot serve also narrows it at start)"))
    folder = path.absolute().parent
    if folder.stat().st_mode & 0o077:
        findings.append(Finding("warn", "Database folder permissions",
                                f"{folder} is {_mode(folder)}: others on this machine may list or change it",
                                f"chmod 700 {folder}, or keep QC_DB_PATH in a folder of its own"))
    return findings


def _mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)[2:].zfill(4)


# -- Slack -------------------------------------------------------------------------------------------------------

async def _slack_findings(settings: Settings, timeout_seconds: float) -> list[Finding]:
    client = AsyncWebClient(base_url=settings.slack_api_url, timeout=int(max(timeout_seconds, 1)),
                            retry_handlers=slack_retry_handlers(DOCTOR_RETRY, connection_errors=1, rate_limits=0,
                                                                server_errors=0))
    findings: list[Finding] = []
    if settings.multi_workspace:
        findings.append(await _slack_oauth_client(settings, client))
    elif settings.slack_bot_token is not None:
        findings += await _slack_bot_token(settings, client)
    if settings.slack_app_token is not None:
        findings.append(await _slack_app_token(settings, client))
    return findings


async def _slack_bot_token(settings: Settings, client: AsyncWebClient) -> list[Finding]:
    assert settings.slack_bot_token is not None
    try:
        response = await client.auth_test(token=settings.slack_bot_token.reveal())
    except SlackApiError as exc:
        return [Finding("fail", "Slack auth.test", f"Slack refused SLACK_BOT_TOKEN ({_slack_error(exc)})", REINSTALL)]
    except (aiohttp.ClientError, TimeoutError) as exc:
        return [_slack_unreachable(settings, exc)]
    findings = [Finding("ok", "Slack auth.test", f"bot @{response.get('user')} in workspace {response.get('team')} "
                        f"({response.get('team_id')})")]
    granted = response.headers.get("x-oauth-scopes")
    if granted is not None:
        missing = [scope for scope in BOT_SCOPES if scope not in {s.strip() for s in granted.split(",")}]
        fix = "add them under OAuth & Permissions (or recreate the app from `qc-bot manifest`) and reinstall the app"
        if set(missing) - CONVENIENCE_SCOPES:
            findings.append(Finding("fail", "Slack scopes", f"the bot token lacks {', '.join(missing)}", fix))
        elif missing:
            findings.append(Finding("warn", "Slack scopes", f"the bot token lacks {', '.join(missing)}, so every "
                                    "connect-org asks its requester to confirm in Slack who authorized", fix))
        else:
            findings.append(Finding("ok", "Slack scopes", ", ".join(BOT_SCOPES)))
    return findings


async def _slack_app_token(settings: Settings, client: AsyncWebClient) -> Finding:
    assert settings.slack_app_token is not None
    try:
        await client.apps_connections_open(app_token=settings.slack_app_token.reveal())
    except SlackApiError as exc:
        return Finding("fail", "Slack Socket Mode", f"Slack refused SLACK_APP_TOKEN ({_slack_error(exc)})",
                       "create an app-level token with the connections:write scope (Basic Information → App-Level "
                       "Tokens), enable Socket Mode, and put the token in SLACK_APP_TOKEN")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return _slack_unreachable(settings, exc)
    return Finding("ok", "Slack Socket Mode", "SLACK_APP_TOKEN opens a websocket URL")


async def _slack_oauth_client(settings: Settings, client: AsyncWebClient) -> Finding:
    assert settings.slack_client_id is not None and settings.slack_client_secret is not None
    install_url = settings.public_url + "/slack/install"
    try:
        await client.oauth_v2_access(client_id=settings.slack_client_id,
                                     client_secret=settings.slack_client_secret.reveal(), code=PROBE_CODE)
    except SlackApiError as exc:
        error = _slack_error(exc)
        if error in ("invalid_code", "invalid_grant_type"):
            return Finding("ok", "Slack OAuth client", f"SLACK_CLIENT_ID and SLACK_CLIENT_SECRET not refused; "
                           f"workspaces install at {install_url}")
        return Finding("fail", "Slack OAuth client", f"Slack refused the client id or secret ({error})",
                       "copy Client ID and Client Secret from the app's Basic Information page")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return _slack_unreachable(settings, exc)
    return Finding("warn", "Slack OAuth client", "Slack accepted a made-up authorization code",
                   "check SLACK_API_URL: it should be Slack's Web API")


def _slack_error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or f"HTTP {exc.response.status_code}")


def _slack_unreachable(settings: Settings, exc: BaseException) -> Finding:
    return Finding("fail", "Slack", f"cannot reach {settings.slack_api_url} ({exc.__class__.__name__})",
                   "check SLACK_API_URL and this machine's network or proxy")


# -- Salesforce -------------------------------------------------------------------------------------------------

async def _salesforce_findings(
    settings: Settings, session: aiohttp.ClientSession, timeout_seconds: float
) -> list[Finding]:
    http = SalesforceHttp(session=session, host_policy=settings.host_policy, timeout_seconds=timeout_seconds,
                          retry=DOCTOR_RETRY)
    hosts = {"SALESFORCE_LOGIN_URL": settings.salesforce_login_url,
             "SALESFORCE_SANDBOX_LOGIN_URL": settings.salesforce_sandbox_login_url}
    findings = []
    reachable = {}
    for variable, url in hosts.items():
        finding = await _login_host(http, variable, url)
        reachable[variable] = finding.status == "ok"
        findings.append(finding)
    if reachable["SALESFORCE_LOGIN_URL"]:
        findings.append(await _salesforce_client(http, settings))
    return findings


async def _login_host(http: SalesforceHttp, variable: str, url: str) -> Finding:
    check = f"Salesforce login host ({variable})"
    try:
        response = await http.request("GET", url + "/.well-known/openid-configuration", what="OpenID configuration",
                                      headers={"Accept": "application/json"})
    except SalesforceError as exc:
        return Finding("fail", check, f"{url} did not answer: {exc.message}",
                       f"check {variable} and that this machine can reach it (firewall, proxy, DNS)")
    try:
        document = json.loads(response.body) if response.status == 200 else {}
    except ValueError:
        document = {}
    if not isinstance(document, dict) or "token_endpoint" not in document:
        return Finding("fail", check, f"{url} answered HTTP {response.status} without an OAuth configuration",
                       f"point {variable} at a Salesforce login host, e.g. https://login.salesforce.com")
    return Finding("ok", check, f"{url} answers (issuer {document.get('issuer')})")


async def _salesforce_client(http: SalesforceHttp, settings: Settings) -> Finding:
    check = "Salesforce OAuth client"
    url = settings.salesforce_login_url + "/services/oauth2/token"
    form = {"grant_type": "authorization_code", "code": PROBE_CODE, "client_id": settings.salesforce_client_id,
            "client_secret": settings.salesforce_client_secret.reveal(), "redirect_uri": settings.oauth_callback_url}
    try:
        response = await http.request("POST", url, what="token", data=form, idempotent=False,
                                      headers={"Accept": "application/json"})
    except SalesforceError as exc:
        return Finding("fail", check, f"the token endpoint did not answer: {exc.message}",
                       "check SALESFORCE_LOGIN_URL and the network")
    try:
        answer = json.loads(response.body)
    except ValueError:
        answer = {}
    error = str(answer.get("error") or "") if isinstance(answer, dict) else ""
    if error == "invalid_grant":
        return Finding("ok", check, f"consumer key and secret accepted by {settings.salesforce_login_url}")
    if error == "invalid_client_id":
        return Finding("fail", check, "Salesforce does not know SALESFORCE_CLIENT_ID",
                       "copy the consumer key of the bot's own External Client App (a new app can take up to 10 "
                       "minutes to work everywhere)")
    if error == "invalid_client":
        return Finding("fail", check, "Salesforce refused SALESFORCE_CLIENT_SECRET for this consumer key",
                       "copy the consumer secret of the bot's own External Client App")
    if error == "redirect_uri_mismatch":
        return Finding("fail", check, f"{settings.oauth_callback_url} is not a callback URL of the bot's app",
                       "add it to the app's OAuth settings (Callback URL)")
    return Finding("warn", check, f"unexpected answer from the token endpoint (HTTP {response.status} {error})".strip(),
                   "check the bot's External Client App in Salesforce")
