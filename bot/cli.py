"""`qc-bot`: the command line. Each subcommand's help text is what the README documents."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.config import InvalidConfiguration, Settings, load_settings
from bot.redaction import configure_logging
from storage.crypto import SecretBox, new_fernet_key
from storage.database import Store
from storage.key_rotation import rotate_encryption

DESCRIPTION = "qc-bot connects Salesforce orgs to Quality Clouds from Slack."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qc-bot", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "serve", help="run the HTTP server (Slack events, Salesforce OAuth callback, /healthz)",
        description="Run the HTTP server on PORT: POST /slack/events, GET /salesforce/oauth/start, "
                    "GET /salesforce/oauth/callback, GET /healthz. It also checks each org's tokens every "
                    "QC_TOKEN_SYNC_MINUTES and scans for expiry warnings every QC_EXPIRY_SCAN_MINUTES. "
                    "Configuration comes from the environment and ./.env.",
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
    check_expiry = commands.add_parser(
        "check-expiry", help="run one expiry scan now (or as of --at) and print what it sent or would send",
        description="Run one expiry scan over the tokens qc-bot watches, as `qc-bot serve` does on its schedule, "
                    "and print each warning it sends (or would send). Warnings already sent are never sent "
                    "again. The tokens are as of the last sync by `qc-bot serve`.",
    )
    check_expiry.add_argument(
        "--at", metavar="ISO-8601", type=_moment,
        help="scan as if it were this moment (e.g. 2026-03-01T09:00:00Z; no zone means UTC). In the future it "
             "sends warnings early (they are then not sent again when the time comes); in the past it sends "
             "only what was already due by then and is still unsent. Default: now",
    )
    check_expiry.add_argument(
        "--dry-run", action="store_true",
        help="only print what would be sent: nothing is queued, recorded or posted to Slack",
    )
    return parser


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date and time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _rotate_keys(settings: Settings) -> int:
    store = Store(path=settings.db_path, secret_box=SecretBox(keys=settings.encryption_keys))
    await store.open()
    try:
        box = SecretBox(keys=settings.encryption_keys)
        return await store.run(lambda repos: rotate_encryption(repos.db, box))
    finally:
        await store.close()


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
    settings = _settings_or_exit()
    configure_logging(level=settings.log_level)
    if arguments.command == "serve":
        from bot.app import serve

        serve(settings)
    elif arguments.command == "rotate-keys":
        rewritten = asyncio.run(_rotate_keys(settings))
        print(f"Re-encrypted {rewritten} stored secret(s) with the first key of QC_ENCRYPTION_KEYS.")
    elif arguments.command == "check-expiry":
        from bot.expiry_check import check_expiry

        return asyncio.run(check_expiry(settings, at=arguments.at, dry_run=arguments.dry_run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
