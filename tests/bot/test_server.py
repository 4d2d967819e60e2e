"""`qc-bot serve` as an operator runs it (SPEC §10): a start-up that cannot go on says why in one line on stderr
and exits non-zero, never a traceback; SIGTERM answers what is in flight and exits 0."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet

from bot.config import shown_database
from standins.slack import FakeSlack
from tests.support.cli import clean_environment, run_async
from tests.support.ports import free_port
from tests.support.stack import SIGNING_SECRET, Stack


def serve_environment(tmp_path: Path, **values: str) -> dict[str, str]:
    """A complete configuration; its Slack is out of reach (a closed port) unless `SLACK_API_URL` is given."""
    port = free_port()
    return clean_environment(**{
        "SLACK_SIGNING_SECRET": "signing", "SLACK_BOT_TOKEN": "xoxb-1-2", "QC_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SALESFORCE_CLIENT_ID": "id", "SALESFORCE_CLIENT_SECRET": "secret",
        "QC_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "QC_DB_PATH": str(tmp_path / "qc.db"),
        "PORT": str(port), "SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/", **values})


@pytest.fixture
async def slack():
    fake = FakeSlack(signing_secret=SIGNING_SECRET)
    await fake.start()
    yield fake
    await fake.stop()


async def refused_start(tmp_path: Path, slack: FakeSlack, *, before_start: Callable[[], None] | None = None,
                        **values: str) -> str:
    """Run `qc-bot serve` (its Slack token valid unless `values` say otherwise), expect it to stop at once with
    status 1, and return its one line of stderr."""
    environment = serve_environment(tmp_path, **{"SLACK_API_URL": slack.api_url,
                                                 "SLACK_BOT_TOKEN": slack.team.bot_token, **values})
    status, output, errors = await run_async(["serve"], environment, tmp_path, before_start=before_start)
    assert status == 1, (output, errors)
    lines = errors.splitlines()
    assert len(lines) == 1 and "Traceback" not in errors, errors
    return lines[0]


# -- start-up failures ---------------------------------------------------------------------------------------------

async def test_a_missing_database_folder_is_one_line(tmp_path, slack):
    database = tmp_path / "not-created" / "qc.db"
    line = await refused_start(tmp_path, slack, QC_DB_PATH=str(database))
    assert line == f"qc-bot: cannot start: the database {database} cannot be opened: No such file or directory"


async def test_a_database_path_through_a_file_is_one_line(tmp_path, slack):
    (tmp_path / "a-file").write_text("not a folder")
    database = tmp_path / "a-file" / "qc.db"
    line = await refused_start(tmp_path, slack, QC_DB_PATH=str(database))
    assert line == f"qc-bot: cannot start: the database {database} cannot be opened: Not a directory"


def without_root_file_override() -> None:
    """Give up root's power to ignore file permissions (CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, from the
    bounding set, so the exec'd process never has them): an unwritable folder is then unwritable for root too,
    as it is for the unprivileged user a real deployment runs as. Runs in the child, before qc-bot starts."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 24, 1, 2


async def test_an_unwritable_database_folder_is_one_line(tmp_path, slack):
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o500)
    line = await refused_start(tmp_path, slack, QC_DB_PATH=str(folder / "qc.db"),
                               before_start=without_root_file_override if os.geteuid() == 0 else None)
    assert line == f"qc-bot: cannot start: the database {folder / 'qc.db'} cannot be opened: Permission denied"
    assert list(folder.iterdir()) == []


async def test_a_file_that_is_not_a_database_is_one_line(tmp_path, slack):
    database = tmp_path / "qc.db"
    database.write_bytes(b"these are the minutes of the meeting, not a database\n" * 100)
    line = await refused_start(tmp_path, slack, QC_DB_PATH=str(database))
    assert line == f"qc-bot: cannot start: the database {database} cannot be opened: file is not a database"
    assert database.read_bytes().startswith(b"these are the minutes")  # and nothing was written over it


async def test_a_bot_token_slack_refuses_is_one_line(tmp_path, slack):
    line = await refused_start(tmp_path, slack, SLACK_BOT_TOKEN="xoxb-0000-not-issued")
    assert [call.method for call in slack.calls] == ["auth.test"]
    assert line == "qc-bot: cannot start: Slack refused SLACK_BOT_TOKEN: auth.test answered invalid_auth"


async def test_a_revoked_bot_token_is_one_line(tmp_path, slack):
    slack.revoke_token(slack.team.bot_token)
    line = await refused_start(tmp_path, slack)
    assert line == "qc-bot: cannot start: Slack refused SLACK_BOT_TOKEN: auth.test answered token_revoked"


async def test_a_port_in_use_is_one_line(tmp_path, slack):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = await refused_start(tmp_path, slack, PORT=str(port))
    assert line == f"qc-bot: cannot start: cannot listen on port {port}: Address already in use"


def test_a_database_url_is_shown_without_its_password():
    assert shown_database("postgresql://qc:s3cr3t-pass@db.example.com:5432/qcbot?sslmode=require&password=x") \
        == "postgresql://qc@db.example.com:5432/qcbot"
    assert shown_database(Path("/var/lib/qc-bot/qc.db")) == "/var/lib/qc-bot/qc.db"


async def test_slack_out_of_reach_at_start_up_is_no_reason_not_to_serve(tmp_path):
    stack = Stack(tmp_path, env={"SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/"})
    await stack.start(in_process=False)  # returns once /healthz answers
    process = stack._process
    assert process is not None
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), timeout=30)
    stack._process = None
    await stack.stop()
    assert process.returncode == 0, stack.process_log()
    assert "Could not reach Slack to check SLACK_BOT_TOKEN (ClientConnectorError); starting anyway" in \
        stack.process_log()


# -- SIGTERM ---------------------------------------------------------------------------------------------------------

async def test_sigterm_answers_the_request_in_flight_and_exits_0(tmp_path):
    stack = Stack(tmp_path)
    await stack.start(in_process=False)
    try:
        link = await stack.request_link()
        # The browser's callback waits on Salesforce's token endpoint while the process is told to stop.
        exchange = stack.salesforce.inject_hold("/services/oauth2/token")
        visit = asyncio.create_task(stack.browse(link))
        await exchange.wait_arrived()
        process = stack._process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        await stack.slack.wait_for(lambda: "Stopping: no new connections" in stack.process_log(),
                                   what="the server to stop listening")
        with pytest.raises(aiohttp.ClientConnectionError):  # no new connection is taken any more
            async with aiohttp.ClientSession() as fresh, fresh.get(stack.bot_url + "/healthz"):
                pass
        exchange.release()
        answered = (await asyncio.wait_for(visit, timeout=30)).final
        began = time.monotonic()
        await asyncio.wait_for(process.wait(), timeout=30)
        stack._process = None
    finally:
        await stack.stop()
    assert answered.status == 200 and "Return to Slack" in answered.body, answered.body[:500]
    assert process.returncode == 0, stack.process_log()
    assert time.monotonic() - began < 25  # bounded by the shutdown grace and the outbox drain, not by the journey
    log = stack.process_log()
    assert "Traceback" not in log and "Task was destroyed" not in log and "Unclosed" not in log, log
    assert "Stopped" in log
    # The journey it started is durable: committed as far as it got, resumed by the next start, never lost.
    assert stack.query("SELECT status FROM connections")[0][0] in ("authorized", "provisioning", "provisioned")
