"""How long `qc-bot check-expiry` takes to check 1,000 orgs, and how many Salesforce requests each org costs.

One org is connected through the real journey (the Salesforce stand-in provisions its External Client App and the
live proof passes); the database is then given 999 more workspaces connected to the same stand-in org, each with
a refresh token of its own, as 1,000 customers would be. Then `qc-bot check-expiry` runs as a real process with
production timings (10 orgs at a time): each org's token refreshed, its app's tokens read (OAuth Usage and
`OauthToken`), its app's sign-in repeated, then the expiry scan. The stand-in runs in this process and answers
over loopback HTTP, so the time includes its own work: a lower bound on what real Salesforce latency costs.

    python benchmarks/org_check.py               # 1,000 orgs
    python benchmarks/org_check.py --orgs 200
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.redaction import Secret
from storage.crypto import SecretBox
from tests.support.cli import qc_bot
from tests.support.stack import BOT_CLIENT_ID, Stack


def clone_workspaces(stack: Stack, *, count: int) -> None:
    """`count` more workspaces connected to the stand-in org, each with its own qc-bot refresh token."""
    box = SecretBox(keys=[Secret(stack.encryption_key)])
    db = sqlite3.connect(stack.db_path)
    db.row_factory = sqlite3.Row
    org = dict(db.execute("SELECT * FROM orgs").fetchone())
    sync = dict(db.execute("SELECT * FROM token_syncs").fetchone())
    connection = dict(db.execute("SELECT * FROM connections WHERE status = 'provisioned'").fetchone())
    fake_org = stack.org
    with db:
        for index in range(count):
            team = f"TBENCH{index:05d}"
            family = stack.salesforce.tokens.new_family(org=fake_org, user=fake_org.admin, client_key=BOT_CLIENT_ID,
                                                        scopes=("api", "refresh_token", "offline_access"),
                                                        now=stack.clock.now())
            rows = (("orgs", {**org, "team_id": team, "refresh_token_enc": box.encrypt(Secret(family.current)),
                              "access_token_enc": None}),
                    ("token_syncs", {**sync, "team_id": team}),
                    ("connections", {**connection, "team_id": team, "id": uuid.uuid4().hex}))
            for table, row in rows:
                db.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                           list(row.values()))
    db.close()


async def main(orgs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        stack = Stack(Path(folder))
        await stack.start()
        try:
            stack.org.credentials_propagation = timedelta(0)
            await stack.connect()
            await stack.slack.wait_for(
                lambda: stack.query("SELECT 1 FROM connections WHERE proof_status = 'proved'"), what="the proof")
            # Quality Clouds signed in once: one user's token to read, as in most orgs.
            stack.org.issue_app_token("QualityClouds", user=stack.org.admin, created=stack.clock.now())
            await stack.token_sync_done()
            await stack.stop_bot()
            clone_workspaces(stack, count=orgs - 1)
            before = len(stack.salesforce.requests)
            started = time.perf_counter()
            code, output, errors = await qc_bot(stack, "check-expiry")
            elapsed = time.perf_counter() - started
            if code != 0:
                raise SystemExit(f"check-expiry failed ({code}):\n{output}\n{errors}")
            requests = stack.salesforce.requests[before:]
            operations = Counter(record.operation for record in requests)
            oauth = sum(number for operation, number in operations.items() if operation.startswith("token:"))
            print(output.strip().splitlines()[1])
            print(f"{orgs} orgs checked by `qc-bot check-expiry` in {elapsed:.1f} s "
                  f"({elapsed / orgs * 1000:.1f} ms per org, process start and expiry scan included)")
            print(f"Salesforce requests: {len(requests)} in all, {len(requests) / orgs:.1f} per org: "
                  f"{(len(requests) - oauth) / orgs:.1f} API requests (REST) and {oauth / orgs:.1f} OAuth token "
                  "requests")
            for operation, number in sorted(operations.items()):
                print(f"  {operation}: {number / orgs:.1f} per org")
        finally:
            await stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=1000)
    asyncio.run(main(parser.parse_args().orgs))
