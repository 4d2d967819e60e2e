"""A throwaway PostgreSQL cluster for the test session, from Debian's server binaries.

One cluster serves the whole run, all pytest-xdist workers included: the controlling pytest process names an
empty folder for it (`PostgresHome.create`), the first worker that needs PostgreSQL starts the cluster there under
a file lock (initdb costs about a second of CPU, starting the server about 0.1 s), the others find it running,
and the controlling process stops it at the end of the run, failed or not. Each test gets a database of its own.

PostgreSQL refuses to run as root, so when the tests run as root (CI does) the server runs as the `postgres`
user Debian's package creates (or a throwaway user when there is none), which owns the cluster's folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support.ports import free_port

SERVER_ROOT = Path("/usr/lib/postgresql")
"""Debian puts each major version's server binaries in /usr/lib/postgresql/<version>/bin, not on PATH."""

HOME_VARIABLE = "QC_TEST_POSTGRES_HOME"
"""Names the run's cluster folder for the xdist workers, which inherit the controlling process's environment."""

SERVER_USER = "postgres"
THROWAWAY_USER = "qc-test-postgres"
SUPERUSER = "postgres"
# The run's durability is worthless and its speed is not; max_connections leaves room for several workers each
# running a bot with a connection pool, and two `serve` processes in the scale-out test. Autovacuum off: a test's
# database lives for seconds, and a vacuum in the middle would change its bytes while the test compares them.
# Commits stay synchronous (free without fsync): an asynchronous commit's rows get their hint bits only on a read
# after the WAL is flushed, so reading would change the stored bytes again later.
SERVER_SETTINGS = {"fsync": "off", "full_page_writes": "off", "max_connections": "300",
                   "autovacuum": "off"}
START_ATTEMPTS = 3


class PostgresUnavailable(Exception):
    """PostgreSQL's server binaries are not installed here."""


class PostgresStartFailed(Exception):
    """initdb or the server refused to start; the message carries its log."""


def server_binaries() -> Path:
    """The newest installed major version's bin folder."""
    installed = [path.parent for path in SERVER_ROOT.glob("*/bin/initdb") if (path.parent / "pg_ctl").exists()]
    if not installed:
        raise PostgresUnavailable(
            f"Debian's postgresql is not installed (no initdb under {SERVER_ROOT}/<version>/bin; "
            "apt-get install postgresql; .ci/run installs it)")
    return max(installed, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)


@dataclass(frozen=True)
class Cluster:
    """A running cluster, reachable over loopback TCP as the trusted superuser."""

    port: int
    socket_dir: str

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` (psycopg 3)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @contextmanager
    def fresh_database(self, *, copy_of: str = "template0") -> Iterator[str]:
        """A new database for one test, empty or a copy of the database `copy_of` (nobody may be connected to
        it), dropped afterwards together with any connection still open on it (a killed `serve` process's, say);
        yields its URL."""
        name = f"qc_test_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self._conninfo(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{copy_of}" STRATEGY FILE_COPY')
        try:
            yield self.url(name)
        finally:
            with psycopg.connect(self._conninfo(), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    def _conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres"


class PostgresHome:
    """The run's cluster folder: `data/` (the cluster), `server.log`, the unix socket, and `cluster.json` once it
    runs. Every process of the run opens it from `HOME_VARIABLE`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = path.parent / f"{path.name}.lock"  # a root-owned file beside the folder the server owns
        self._state = path / "cluster.json"

    @classmethod
    def create(cls) -> PostgresHome:
        """A new empty folder for this run, under /tmp (which every user can reach, unlike pytest's temp folders)
        and owned by the user the server will run as."""
        home = cls(Path(tempfile.mkdtemp(prefix="qc-pg-")))
        if os.geteuid() == 0:
            user = pwd.getpwnam(_server_user())
            os.chown(home.path, user.pw_uid, user.pw_gid)
        return home

    @classmethod
    def of_this_run(cls) -> PostgresHome | None:
        named = os.environ.get(HOME_VARIABLE)
        return cls(Path(named)) if named else None

    def cluster(self) -> Cluster:
        """The running cluster, started by whichever process of the run asks first."""
        with self._locked():
            if self._state.exists():
                return Cluster(**json.loads(self._state.read_text()))
            if (self.path / "data").exists():  # another worker's start failed; it reported why
                raise PostgresStartFailed(f"the run's PostgreSQL in {self.path} did not start: {self._log_tail()}")
            cluster = self._start()
            self._state.write_text(json.dumps({"port": cluster.port, "socket_dir": cluster.socket_dir}))
            return cluster

    def remove(self) -> None:
        """Stop the cluster if it was started, and delete everything it wrote."""
        with self._locked():
            if (self.path / "data" / "postmaster.pid").exists():
                # Immediate: nothing in a throwaway cluster is worth a clean shutdown's checkpoint.
                _run(["pg_ctl", "--pgdata", str(self.path / "data"), "--mode", "immediate", "--wait", "stop"])
            shutil.rmtree(self.path, ignore_errors=True)
        self._lock.unlink(missing_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _start(self) -> Cluster:
        data = self.path / "data"
        _run(["initdb", "--pgdata", str(data), "--auth=trust", "--no-sync", "--locale=C.UTF-8", "--encoding=UTF8",
              f"--username={SUPERUSER}"])
        for attempt in range(1, START_ATTEMPTS + 1):
            port = free_port()  # free when probed; another process may still take it before the server binds it
            options = " ".join([f"-c listen_addresses=127.0.0.1 -c port={port}",
                                f"-c unix_socket_directories={self.path}",
                                *(f"-c {name}={value}" for name, value in SERVER_SETTINGS.items())])
            try:
                _run(["pg_ctl", "--pgdata", str(data), "--log", str(self.path / "server.log"), "--options", options,
                      "--wait", "start"])
                return Cluster(port=port, socket_dir=str(self.path))
            except PostgresStartFailed as failure:
                if attempt == START_ATTEMPTS:
                    raise PostgresStartFailed(f"{failure}\n{self._log_tail()}") from None
        raise PostgresStartFailed("no attempt to start the server was made")


    def _log_tail(self) -> str:
        log = self.path / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no server log)"


def _server_user() -> str:
    """The non-root user the server runs as when the tests run as root: Debian's `postgres`, or a throwaway
    system user created once for the purpose."""
    try:
        pwd.getpwnam(SERVER_USER)
        return SERVER_USER
    except KeyError:
        pass
    created = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                              THROWAWAY_USER], capture_output=True, text=True, check=False)
    if created.returncode not in (0, 9):  # 9: another worker created it a moment ago
        raise PostgresStartFailed(f"useradd {THROWAWAY_USER} failed: {created.stderr.strip()}")
    return THROWAWAY_USER


def _run(command: list[str]) -> None:
    """Run one of the server's programs, as the server's user when we are root."""
    program = [str(server_binaries() / command[0]), *command[1:]]
    if os.geteuid() == 0:
        program = ["runuser", "-u", _server_user(), "--", *program]
    finished = subprocess.run(program, capture_output=True, text=True, check=False, cwd="/")
    if finished.returncode != 0:
        raise PostgresStartFailed(f"{command[0]} failed ({finished.returncode}): "
                                  f"{finished.stdout.strip()} {finished.stderr.strip()}")


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster of its own, outside pytest (the benchmarks): started from Debian's binaries, stopped and
    deleted afterwards."""
    home = PostgresHome.create()
    try:
        yield home.cluster()
    finally:
        home.remove()
