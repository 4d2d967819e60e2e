"""`QC_LOG_FORMAT=json`: one JSON object per line, redacted exactly like the text format (SPEC §10)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.config import InvalidConfiguration, load_settings
from bot.redaction import MASK, Secret, configure_logging
from tests.support.stack import BOT_CLIENT_SECRET, FAST_PROCESS, SIGNING_SECRET, Stack


@pytest.fixture
def json_log():
    """The root logger writing JSON lines into a buffer, as `qc-bot serve` does with QC_LOG_FORMAT=json."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(level="DEBUG", log_format="json", stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def records(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_time_level_logger_and_message(json_log):
    logging.getLogger("qc.test").warning("Org %s has %d warning(s)", "Acme", 2)
    [record] = records(json_log)
    assert record.keys() == {"time", "level", "logger", "message"}
    assert (record["level"], record["logger"], record["message"]) == ("WARNING", "qc.test", "Org Acme has 2 warning(s)")
    assert record["time"].endswith("+00:00") and "T" in record["time"]


def test_a_secret_never_reaches_json_output_neither_in_the_message_nor_in_the_exception(json_log):
    secret = Secret("json-log-secret-value-0123456789")
    try:
        raise RuntimeError(f"Salesforce said no to {secret.reveal()}")
    except RuntimeError:
        logging.getLogger("qc.test").exception("Refresh with %s failed; refresh_token=5Aep861abcdefghijkl",
                                               secret.reveal())
    output = json_log.getvalue()
    assert secret.reveal() not in output and "5Aep861abcdefghijkl" not in output
    [record] = records(json_log)
    assert MASK in record["message"]
    assert "Traceback" in record["exception"] and "RuntimeError: Salesforce said no to" in record["exception"]
    assert secret.reveal() not in record["exception"]


def test_control_characters_cannot_start_a_line_of_their_own(json_log):
    logging.getLogger("qc.test").info("user typed %s", 'x\n{"level": "ERROR", "message": "forged"}\x1b[2J')
    lines = json_log.getvalue().splitlines()
    assert len(lines) == 1
    [record] = records(json_log)
    assert "\\n" in record["message"] and "\\x1b" in record["message"]


def test_an_unknown_log_format_is_a_configuration_error():
    with pytest.raises(InvalidConfiguration) as refused:
        load_settings(environ={"QC_LOG_FORMAT": "xml"}, dotenv=None)
    assert any(problem.variable == "QC_LOG_FORMAT" for problem in refused.value.problems)


async def test_serve_with_json_logs_writes_only_json_lines_and_no_secret(tmp_path):
    stack = Stack(tmp_path, env={"QC_LOG_FORMAT": "json", **FAST_PROCESS})
    await stack.start(in_process=False)
    try:
        await stack.connect()
        await stack.status_message()
    finally:
        await stack.stop()
    lines = stack.process_log().splitlines()
    assert len(lines) > 20
    logged = [json.loads(line) for line in lines]  # every line, library records included
    assert {"Delivered Slack message" in record["message"] for record in logged} == {True, False}
    everything = stack.process_log()
    secrets = [SIGNING_SECRET, BOT_CLIENT_SECRET, stack.slack.team.bot_token, stack.encryption_key,
               *stack.salesforce_tokens()]
    assert [secret for secret in secrets if secret in everything] == []
