"""Several real `qc-bot serve` processes on one database, behind a round-robin proxy: a scaled-out deployment on
loopback.

The stack's stand-ins are shared (one fake Slack, one fake Salesforce); Slack's request URL and the bot's public
URL are the proxy's, so commands, clicks and the admins' browsers reach whichever replica is next, as they would
behind a load balancer. Each replica has its own port, its own claim id (`QC_INSTANCE_ID`) and its own log file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.config import load_settings
from tests.support.cli import REPO_ROOT
from tests.support.ports import free_port
from tests.support.postgres import throwaway_cluster
from tests.support.proxy import RoundRobinProxy
from tests.support.stack import Stack

STARTUP_SECONDS = 30.0


@dataclass
class Replica:
    name: str
    """Its `QC_INSTANCE_ID`."""
    url: str
    log: Path
    process: asyncio.subprocess.Process | None = None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


class ReplicaSet(Stack):
    """A `Stack` whose bot is `count` `qc-bot serve` processes behind `self.proxy`; `bot_url` is the proxy's."""

    def __init__(self, tmp_path: Path, *, database_url: str, count: int = 2, env: dict[str, str] | None = None,
                 log_level: str = "INFO") -> None:
        super().__init__(tmp_path, database_url=database_url, env=env)
        self.count = count
        self.log_level = log_level
        self.replicas: list[Replica] = []
        self.proxy: RoundRobinProxy | None = None

    async def start_bot_process(self, *, log_level: str = "", open_files: int | None = None) -> None:
        """Start the proxy, then every replica, and return once each answers /healthz on its own port."""
        assert open_files is None, "the replicas run with the machine's file limit"
        ports = [free_port() for _ in range(self.count)]
        self.replicas = [Replica(name=f"replica-{number}", url=f"http://127.0.0.1:{port}",
                                 log=self.tmp_path / f"serve-{number}.log") for number, port in enumerate(ports)]
        self.proxy = await RoundRobinProxy(backends=[replica.url for replica in self.replicas]).start()
        self.bot_url = self.proxy.url
        self.settings = load_settings(environ=self.bot_environment(), dotenv=None)
        self._register_bot_client()
        await asyncio.gather(*(self._spawn(replica, log_level=log_level or self.log_level)
                               for replica in self.replicas))

    async def _spawn(self, replica: Replica, *, log_level: str) -> None:
        port = replica.url.rsplit(":", 1)[1]
        environment = {**os.environ, **self.bot_environment(), "PORT": port, "QC_INSTANCE_ID": replica.name,
                       "QC_LOG_LEVEL": log_level, "PYTHONPATH": str(REPO_ROOT)}
        with open(replica.log, "ab") as log:
            replica.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "serve", env=environment, cwd=self.tmp_path, stdout=log,
                stderr=subprocess.STDOUT)
        browser = self.browser
        assert browser is not None

        async def serving() -> bool:
            assert replica.process is not None and replica.process.returncode is None, replica.log_text()
            try:
                async with browser.get(replica.url + "/healthz") as response:
                    return response.status == 200
            except aiohttp.ClientConnectionError:
                return False

        await self.slack.wait_for(serving, timeout=STARTUP_SECONDS, interval=0.05, what=f"{replica.name} to serve")

    def replica_named(self, name: str) -> Replica:
        return next(replica for replica in self.replicas if replica.name == name)

    def running(self) -> list[Replica]:
        return [replica for replica in self.replicas if replica.process is not None]

    async def kill(self, replica: Replica) -> None:
        """SIGKILL: no shutdown handler runs, exactly like a crash or an OOM kill. The proxy is not told; it finds
        out when the port refuses, as a load balancer would."""
        assert replica.process is not None, f"{replica.name} is not running"
        replica.process.send_signal(signal.SIGKILL)
        await replica.process.wait()
        replica.process = None

    async def stop(self) -> None:
        for replica in self.running():
            await self.kill(replica)
        if self.proxy is not None:
            await self.proxy.stop()
        await super().stop()

    def process_log(self) -> str:
        return "".join(f"--- {replica.name}\n{replica.log_text()}" for replica in self.replicas)


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """The URL of an empty database in a PostgreSQL cluster of its own, outside pytest (the benchmarks): started
    from Debian's binaries, stopped and deleted afterwards."""
    with throwaway_cluster() as cluster, cluster.fresh_database() as url:
        yield url
