"""`qc-bot` as an operator runs it: a real process, real configuration errors, a real server."""

import asyncio
import json
import subprocess
import time
from datetime import UTC, datetime

import aiohttp
from cryptography.fernet import Fernet

from bot.cli import main
from bot.redaction import Secret
from storage.crypto import SecretBox
from storage.database import Store, sqlite_url
from tests.storage.test_installations import installation
from tests.support.cli import QC_BOT, clean_environment, run, run_async
from tests.support.ports import free_port


def test_keygen_prints_a_fernet_key(capsys):
    assert main(["keygen"]) == 0
    Fernet(capsys.readouterr().out.strip().encode())


def test_serve_without_configuration_stops_with_one_line_per_variable(tmp_path):
    result = run(["serve"], clean_environment(), tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    named = {line.split(": ")[2] for line in lines}
    assert {"QC_PUBLIC_URL", "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET", "QC_ENCRYPTION_KEYS",
            "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"} <= named
    assert all(line.startswith("qc-bot: configuration error: ") for line in lines)


def test_configuration_is_read_from_dotenv(tmp_path):
    (tmp_path / ".env").write_text("QC_PUBLIC_URL=https://qc.example.com\nPORT=nonsense\n", encoding="utf-8")
    result = run(["serve"], clean_environment(), tmp_path)
    assert "QC_PUBLIC_URL" not in result.stderr
    assert "PORT: expected a TCP port number" in result.stderr


async def test_serve_answers_healthz_and_stops_cleanly(tmp_path):
    port = free_port()
    environment = clean_environment(
        SLACK_SIGNING_SECRET="signing", SLACK_BOT_TOKEN="xoxb-1-2", QC_PUBLIC_URL=f"http://127.0.0.1:{port}",
        SALESFORCE_CLIENT_ID="id", SALESFORCE_CLIENT_SECRET="secret", QC_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        QC_DB_PATH=str(tmp_path / "qc.db"), PORT=str(port),
    )
    process = await asyncio.create_subprocess_exec(*QC_BOT, "serve", env=environment, cwd=tmp_path,
                                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        assert response.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    assert time.monotonic() < deadline, "qc-bot serve did not come up"
                    await asyncio.sleep(0.05)
    finally:
        process.terminate()
        output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    assert (tmp_path / "qc.db").exists()


async def test_rotate_keys_re_encrypts_every_stored_secret_with_the_first_key(tmp_path):
    old_key, new_key = (Secret(Fernet.generate_key().decode()) for _ in range(2))
    store = Store(url=sqlite_url(tmp_path / "qc.db"), secret_box=SecretBox(keys=[old_key]))
    await store.open()
    await store.run(lambda repos: repos.installations.save(installation(bot_refresh_token=Secret("xoxe-1-refresh"))))
    await store.close()
    environment = clean_environment(
        SLACK_SIGNING_SECRET="signing", SLACK_BOT_TOKEN="xoxb-1-2", QC_PUBLIC_URL="https://qc.example.com",
        SALESFORCE_CLIENT_ID="id", SALESFORCE_CLIENT_SECRET="secret", QC_DB_PATH=str(tmp_path / "qc.db"),
        QC_ENCRYPTION_KEYS=f"{new_key.reveal()},{old_key.reveal()}",
    )
    result = await run_async(["rotate-keys"], environment, tmp_path)
    assert result[:2] == (0, "Re-encrypted 2 stored secret(s) with the first key of QC_ENCRYPTION_KEYS.\n"), result
    only_new = Store(url=sqlite_url(tmp_path / "qc.db"), secret_box=SecretBox(keys=[new_key]))
    await only_new.open()
    try:
        stored = await only_new.run(lambda repos: repos.installations.find(enterprise_id=None, team_id="T1"))
    finally:
        await only_new.close()
    assert stored.bot_token.reveal() == installation().bot_token.reveal()
    assert stored.bot_refresh_token.reveal() == "xoxe-1-refresh"


async def test_prune_and_audit_export_as_an_operator_runs_them(tmp_path):
    key = Secret(Fernet.generate_key().decode())
    store = Store(url=sqlite_url(tmp_path / "qc.db"), secret_box=SecretBox(keys=[key]))
    await store.open()
    old, recent = datetime(2025, 1, 10, tzinfo=UTC), datetime.now(UTC)
    await store.run(lambda repos: repos.installations.issue_state(state=Secret("install-state"), expires_at=old))
    for at in (old, recent):
        await store.run(lambda repos, at=at: repos.audit.append(at=at, team_id="T1", actor="U1", action="connect",
                                                                 outcome="connected"))
    await store.close()
    environment = clean_environment(
        SLACK_SIGNING_SECRET="signing", SLACK_BOT_TOKEN="xoxb-1-2", QC_PUBLIC_URL="https://qc.example.com",
        SALESFORCE_CLIENT_ID="id", SALESFORCE_CLIENT_SECRET="secret", QC_DB_PATH=str(tmp_path / "qc.db"),
        QC_ENCRYPTION_KEYS=key.reveal(), QC_RETENTION_DAYS="10")

    status, output, _ = await run_async(["prune"], environment, tmp_path)
    assert status == 0 and output.startswith("Pruned what ended more than 10 day(s) ago: ")
    assert "1 install_states" in output and "0 connections" in output

    status, output, _ = await run_async(["audit-export", "--before", "2025-02-01", "--to", "old.jsonl"],
                                        environment, tmp_path)
    assert status == 0 and "Exported audit entries #1–#1 (1)" in output, output
    assert [json.loads(line)["at"] for line in (tmp_path / "old.jsonl").read_text().splitlines()] == [
        "2025-01-10T00:00:00.000000Z"]
    status, output, errors = await run_async(["audit-export", "--before", "2025-02-01", "--to", "old.jsonl"],
                                             environment, tmp_path)
    assert (status, output) == (0, "No audit entry was written before 2025-02-01T00:00:00Z; nothing exported.\n")
    status, _, errors = await run_async(["audit-export", "--before", "2099-01-01", "--to", "old.jsonl"],
                                        environment, tmp_path)
    assert status == 1 and "cannot create old.jsonl" in errors and "no audit entry was deleted" in errors
