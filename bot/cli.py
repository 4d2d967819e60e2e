"""`qc-bot`: the command line. Each subcommand's help text is what the README documents."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.clock import SystemClock
from bot.config import InvalidConfiguration, Settings, configured_values, load_settings, normalise_public_url
from bot.errors import ConfigError
from bot.ops import doctor
from bot.ops.retention import ExportNotWritten, Pruner, export_audit
from bot.redaction import configure_logging, install_log_redaction
from bot.slack.manifest import render_manifest
from storage.crypto import SecretBox, new_fernet_key
from storage.database import Store
from storage.retention import Pruned

DESCRIPTION = "qc-bot connects Salesforce orgs to Quality Clouds from Slack."
HELP_WIDTH = 100  # fixed, so `--help` reads the same in every terminal and in the README


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=HELP_WIDTH)


class _SubcommandParser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _formatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qc-bot", description=DESCRIPTION, formatter_class=_formatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_SubcommandParser)
    commands.add_parser(
        "serve", help="run the HTTP server (Slack events, Salesforce OAuth callback, /healthz, /readyz, /metrics)",
        description="Run the HTTP server on PORT: POST /slack/events, GET /salesforce/oauth/start, "
                    "GET /salesforce/oauth/callback, GET /healthz, GET /readyz, GET /metrics (with QC_METRICS_TOKEN). "
                    "It also checks each org (tokens, the app's "
                    "sign-in, the app's settings against changes made in Setup) every QC_TOKEN_SYNC_MINUTES, scans "
                    "for expiry warnings every QC_EXPIRY_SCAN_MINUTES and prunes what outlived QC_RETENTION_DAYS "
                    "every hour. Configuration comes from the environment and ./.env. A start-up that cannot go on "
                    "(the database, a bot token Slack refuses, the port) says why in one line and exits with 1; "
                    "SIGTERM answers the requests in flight, lets journeys settle and exits with 0.",
    )
    commands.add_parser(
        "keygen", help="print a new encryption key for QC_ENCRYPTION_KEYS",
        description="Print a new Fernet key. Put it first in QC_ENCRYPTION_KEYS (comma-separated); "
                    "keep older keys after it until every stored secret was re-encrypted.",
    )
    commands.add_parser(
        "rotate-keys", help="re-encrypt every stored secret with the first key of QC_ENCRYPTION_KEYS",
        description="Re-encrypt every stored secret with the first key of QC_ENCRYPTION_KEYS. Safe while "
                    "the server runs; afterwards the older keys can be removed from the list.",
    )
    commands.add_parser(
        "demo",
        help="rehearse /qc connect-org here, with built-in stand-ins for Slack and Salesforce",
        description="Run the real bot on 127.0.0.1 between built-in stand-ins for Slack and Salesforce, play a "
                    "workspace admin through /qc connect-org (slash command, browser, provisioning, reveal), print "
                    "what the channel and the admin see (the org's card through its stages, the hand-off to Quality "
                    "Clouds, a first expiry warning in the card's thread) and the expiry warnings of the next 90 "
                    "days, then delete the temporary database. Reads no configuration and needs no network.",
    )
    commands.add_parser(
        "doctor",
        help="check the configuration, Slack and Salesforce: one line per check, with the fix",
        description="Check every configured value (format, Fernet keys, URLs, Slack mode, the database and its "
                    "stored secrets), then reach Slack (auth.test and scopes, the Socket Mode token, the OAuth "
                    "client) and the Salesforce login hosts (OpenID configuration, the bot's consumer key and "
                    "secret). Changes nothing. Exits with 1 when a check fails.",
    )
    manifest = commands.add_parser(
        "manifest", help="print the Slack app manifest (YAML) for QC_PUBLIC_URL",
        description="Print the Slack app manifest: paste it at api.slack.com/apps → Create New App → From a "
                    "manifest. HTTP mode points Slack at QC_PUBLIC_URL/slack/events; Socket Mode (chosen when "
                    "SLACK_APP_TOKEN is set, or with --socket-mode) needs no public URL.",
    )
    manifest.add_argument("--public-url", metavar="URL", help="the bot's public base URL (default: QC_PUBLIC_URL)")
    manifest.add_argument("--socket-mode", action="store_true",
                          help="a manifest for Socket Mode (default when SLACK_APP_TOKEN is set)")
    check_expiry = commands.add_parser(
        "check-expiry", help="check every org now, then scan for expiry warnings (for cron) and print them",
        description="Check every org as `qc-bot serve` does on its schedule (refresh qc-bot's token, so a revoked "
                    "connection is announced now; read the app's tokens; repeat the app's sign-in), skipping "
                    "orgs another qc-bot process is checking at that moment; then run one expiry scan and print "
                    "each warning it sends (or would send). Nothing is ever sent twice, also while `qc-bot "
                    "serve` runs.",
    )
    check_expiry.add_argument(
        "--at", metavar="ISO-8601", type=_moment,
        help="scan as if it were this moment (e.g. 2026-03-01T09:00:00Z; no zone means UTC). In the future it "
             "sends warnings early (they are then not sent again when the time comes); in the past it sends "
             "only what was already due by then and is still unsent. Default: now",
    )
    check_expiry.add_argument(
        "--dry-run", action="store_true",
        help="only print what would be sent, from what the last check stored: no org is checked (a token "
             "refresh is a write in Salesforce), nothing is queued, recorded or posted to Slack",
    )
    commands.add_parser(
        "prune", help="delete now what outlived QC_RETENTION_DAYS (qc-bot serve does it every hour)",
        description="Delete the links, OAuth and install states and reveal grants that expired, the Slack messages "
                    "that were sent or given up, and the journeys that ended, more than QC_RETENTION_DAYS ago, "
                    "as `qc-bot serve` does every hour. Connected orgs, their tokens, each org's latest "
                    "journey, expiry warnings whose expiry is not that old yet and the audit log are kept.",
    )
    audit_export = commands.add_parser(
        "audit-export", help="move audit entries older than a date into a file (the audit log's retention)",
        description="Write every audit log entry up to the last one before --before to a new file (JSON Lines, "
                    "readable by its owner only), check the file, then delete exactly those entries from the "
                    "database and record the export (range, count, SHA-256, file) there. The only way entries "
                    "ever leave the audit log; the export itself is audited.",
    )
    audit_export.add_argument("--before", metavar="ISO-8601", type=_moment, required=True,
                              help="export the entries written before this moment (no zone means UTC)")
    audit_export.add_argument("--to", metavar="FILE", type=Path, required=True,
                              help="the file to create; an existing file is never overwritten")
    return parser


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date and time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _print_manifest(arguments: argparse.Namespace) -> int:
    values = {key: value.strip() for key, value in configured_values().items() if value.strip()}
    socket_mode = arguments.socket_mode or "SLACK_APP_TOKEN" in values
    public_url = arguments.public_url or values.get("QC_PUBLIC_URL")
    try:
        if public_url:
            public_url = normalise_public_url(public_url)
        elif not socket_mode:
            raise ConfigError(variable="QC_PUBLIC_URL", expected="missing; the bot's public base URL, e.g. "
                              "https://qc-bot.example.com (or use --socket-mode)")
    except ConfigError as exc:
        print(f"qc-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    print(render_manifest(public_url=public_url, socket_mode=socket_mode), end="")
    return 0


async def _rotate_keys(settings: Settings) -> int:
    box = SecretBox(keys=settings.encryption_keys)
    store = Store(url=settings.database, secret_box=box)
    await store.open()
    try:
        return await store.rotate_encryption()
    finally:
        await store.close()


async def _prune(settings: Settings) -> Pruned:
    store = Store(url=settings.database, secret_box=SecretBox(keys=settings.encryption_keys))
    await store.open()
    try:
        return await Pruner(store=store, retention=settings.retention).prune(now=SystemClock().now())
    finally:
        await store.close()


async def _export_audit(settings: Settings, *, before: datetime, destination: Path) -> int:
    store = Store(url=settings.database, secret_box=SecretBox(keys=settings.encryption_keys))
    await store.open()
    try:
        export = await export_audit(store=store, clock=SystemClock(), before=before, destination=destination)
    except ExportNotWritten as exc:
        print(f"qc-bot: {exc}; no audit entry was deleted", file=sys.stderr)
        return 1
    finally:
        await store.close()
    if export is None:
        print(f"No audit entry was written before {before:%Y-%m-%dT%H:%M:%SZ}; nothing exported.")
    else:
        print(f"Exported audit entries #{export.exported.first_id}–#{export.exported.last_id} "
              f"({export.exported.entries}) to {export.destination} (SHA-256 {export.sha256}) and deleted them "
              "from the database.")
    return 0


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except InvalidConfiguration as exc:
        for problem in exc.problems:
            print(f"qc-bot: configuration error: {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.command == "keygen":
        print(new_fernet_key())
        return 0
    if arguments.command == "manifest":
        return _print_manifest(arguments)
    if arguments.command == "demo":
        from bot.ops.demo import main as demo

        return demo()
    if arguments.command == "doctor":
        install_log_redaction()
        text, status = doctor.report(asyncio.run(doctor.diagnose(values=configured_values())))
        print(text, end="")
        return status
    settings = _settings_or_exit()
    configure_logging(level=settings.log_level, log_format=settings.log_format)
    if arguments.command == "serve":
        from bot.app import serve
        from bot.server import StartupFailed

        try:
            serve(settings)
        except StartupFailed as exc:
            print(f"qc-bot: cannot start: {exc}", file=sys.stderr)
            return 1
    elif arguments.command == "rotate-keys":
        rewritten = asyncio.run(_rotate_keys(settings))
        print(f"Re-encrypted {rewritten} stored secret(s) with the first key of QC_ENCRYPTION_KEYS.")
    elif arguments.command == "prune":
        pruned = asyncio.run(_prune(settings))
        print(f"Pruned what ended more than {settings.retention.days} day(s) ago: "
              + ", ".join(f"{count} {table}" for table, count in pruned.counts().items()))
    elif arguments.command == "audit-export":
        return asyncio.run(_export_audit(settings, before=arguments.before, destination=arguments.to))
    elif arguments.command == "check-expiry":
        from bot.watch.check_expiry import check_expiry

        return asyncio.run(check_expiry(settings, at=arguments.at, dry_run=arguments.dry_run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
