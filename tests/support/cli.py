"""Running `qc-bot` as an operator does: a real process, this checkout's code, no stray configuration."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
QC_BOT = [sys.executable, "-m", "bot.cli"]


def clean_environment(**values: str) -> dict[str, str]:
    """This process's environment without any qc-bot configuration, running this checkout's code."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("SLACK_", "SALESFORCE_", "QC_"))}
    environment["PYTHONPATH"] = str(REPO_ROOT)  # this checkout, not whatever is installed
    environment.update(values)
    return environment


def run(arguments: list[str], environment: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(QC_BOT + arguments, env=dict(environment), cwd=cwd, capture_output=True, text=True,
                          timeout=60)


async def run_async(arguments: list[str], environment: Mapping[str, str], cwd: Path, *,
                    before_start: Callable[[], None] | None = None) -> tuple[int, str, str]:
    """`qc-bot <arguments>` without blocking the event loop the stand-ins it talks to run on; `before_start` runs
    in the child just before qc-bot does."""
    process = await asyncio.create_subprocess_exec(*QC_BOT, *arguments, env=dict(environment), cwd=cwd,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                   preexec_fn=before_start)
    output, errors = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode(), errors.decode()


async def qc_bot(stack, *arguments: str) -> tuple[int, str, str]:
    """`qc-bot <arguments>` against a running test stack's database and stand-ins."""
    return await run_async(list(arguments), clean_environment(**stack.bot_environment()), stack.tmp_path)


def iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"
