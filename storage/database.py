"""The database: a SQLite file by default, PostgreSQL through `DATABASE_URL` (SPEC §10), one storage layer for both.

Statements are SQLAlchemy `text()` with named parameters, written once in SQL both engines understand. Every
`Store.run` is one transaction on a worker thread, so the event loop never waits on the database. SQLite gets one
thread and one connection (its writes are serialised anyway; WAL mode keeps readers in other processes such as
`qc-bot check-expiry` unblocked); PostgreSQL gets a small pool, one connection per worker thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url, pool, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError

from storage import migrations
from storage.audit import AuditLog
from storage.connections import ConnectionRepository
from storage.crypto import SecretBox
from storage.drift_alerts import DriftAlertRepository
from storage.gauges import GaugeRepository
from storage.installations import InstallationRepository
from storage.key_rotation import rotate_encryption
from storage.leases import LeaseRepository
from storage.migrations import legacy_sqlite
from storage.notifications import NotificationRepository
from storage.oauth_states import OAuthStateRepository
from storage.orgs import OrgRepository
from storage.retention import Retention
from storage.reveals import RevealRepository
from storage.rotations import RotationRepository
from storage.slack_replays import SlackReplayRepository
from storage.sql import Db, EngineName
from storage.temporary_changes import TemporaryChangeRepository
from storage.tracked_tokens import TrackedTokenRepository

T = TypeVar("T")

SIDE_FILE_SUFFIXES = ("-wal", "-shm", "-journal")
"""The files SQLite keeps beside a database; it creates them with the database file's own permissions."""

POSTGRESQL_POOL_SIZE = 8
"""Worker threads, and connections, per process on PostgreSQL."""

SERIALISED = 0x71_63_62_6F_74_02
"""The PostgreSQL advisory lock an `immediate` transaction holds: the counterpart of SQLite's write lock."""


def sqlite_url(path: Path | str) -> str:
    """The database URL of a SQLite file."""
    return f"sqlite:///{path}"


def normalised_url(url: str) -> URL:
    """`url` with the driver qc-bot uses; Heroku and most hosts hand out `postgres://` URLs, which SQLAlchemy
    does not take as they are."""
    try:
        parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    except ArgumentError:
        raise ValueError("not a database URL") from None  # SQLAlchemy's own text quotes it, password and all
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite")
    raise ValueError(f"qc-bot runs on SQLite or PostgreSQL, not {parsed.get_backend_name()}")


def database_files(path: Path) -> list[Path]:
    """The database file and the side files SQLite may keep beside it (they need not exist)."""
    return [path, *(Path(f"{path}{suffix}") for suffix in SIDE_FILE_SUFFIXES)]


def owner_only(path: Path) -> None:
    """Create the database file readable and writable by its owner alone (SPEC §6), whatever the umask, and
    narrow an existing one (and its side files) written by an older version or copied in with wider rights.

    SQLite gives the WAL and shared-memory files it creates later the database file's permissions, so making
    the database file 0600 before SQLite opens it covers them too.
    """
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in database_files(path):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
        except FileNotFoundError:
            continue


@dataclass(frozen=True)
class Repositories:
    """Every repository, bound to the worker thread's connection; only valid inside `Store.run`."""

    db: Db
    connections: ConnectionRepository
    orgs: OrgRepository
    oauth_states: OAuthStateRepository
    reveals: RevealRepository
    notifications: NotificationRepository
    audit: AuditLog
    installations: InstallationRepository
    tracked_tokens: TrackedTokenRepository
    retention: Retention
    temporary_changes: TemporaryChangeRepository
    drift_alerts: DriftAlertRepository
    rotations: RotationRepository
    gauges: GaugeRepository
    leases: LeaseRepository
    slack_replays: SlackReplayRepository


class DatabaseNotReady(Exception):
    """A read-only store found no database, or one whose schema this version would have to migrate."""


class Store:
    """Engines are made with `hide_parameters`: a failed statement's error text (which reaches the logs) names the
    statement, never the values bound to it."""

    def __init__(self, *, url: str, secret_box: SecretBox, read_only: bool = False) -> None:
        self._url = normalised_url(url)
        self._secret_box = secret_box
        self._read_only = read_only
        self.engine_name: EngineName = "postgresql" if self._url.get_backend_name() == "postgresql" else "sqlite"
        self._engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()

    @property
    def location(self) -> str:
        """Where the data lives, without a password: for messages and logs."""
        return self._url.render_as_string(hide_password=True)

    async def open(self) -> None:
        workers = POSTGRESQL_POOL_SIZE if self.engine_name == "postgresql" else 1
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"qc-bot-{self.engine_name}")
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._open_in_thread)
        except BaseException:
            await self.close()
            raise

    def _open_in_thread(self) -> None:
        if self.engine_name == "sqlite":
            self._engine = self._open_sqlite()
        else:
            # No ping before each checkout (a round trip per transaction): a connection the server dropped fails
            # its transaction once and is replaced, and connections are renewed before a proxy's idle cut-off.
            self._engine = create_engine(self._url, pool_size=POSTGRESQL_POOL_SIZE, max_overflow=0,
                                         pool_recycle=1800, connect_args={"connect_timeout": 10},
                                         hide_parameters=True)
            if self._read_only:
                event.listen(self._engine, "connect", _read_only_postgresql)
        with self._engine.connect() as connection:
            if self._read_only:
                if migrations.pending(connection):
                    raise DatabaseNotReady(f"the database at {self.location} needs migrating; run qc-bot serve once")
                return
            connection.info["immediate"] = True
            with connection.begin():
                migrations.upgrade(connection)

    def _open_sqlite(self) -> Engine:
        path = self._url.database or ""
        if self._read_only and not Path(path).is_file():
            raise DatabaseNotReady(f"there is no database at {path}")
        if not self._read_only:
            owner_only(Path(path))
            legacy_sqlite.finish(path)
        # One connection for the one worker thread, kept open for the store's life (StaticPool).
        engine = create_engine(self._url, poolclass=pool.StaticPool, connect_args={"timeout": 30},
                               hide_parameters=True)
        read_only = self._read_only

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            # qc-bot begins every transaction itself (below): Python's sqlite3 would otherwise begin them late,
            # at the first write, and not at all for a transaction that only reads.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            if read_only:
                cursor.execute("PRAGMA query_only = ON")
            else:
                cursor.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL keeps every committed transaction across a crash of the process (the case the
            # journey's crash safety is about) and only syncs at checkpoints; FULL would fsync every commit.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.info.get("immediate") else "BEGIN")

        return engine

    async def ping(self) -> None:
        """Return once the database answered a query (`/healthz`); raise if it cannot."""
        await self.run(lambda repos: repos.db.execute("SELECT 1").fetchone())

    async def schema_is_current(self) -> bool:
        """Whether every migration this version knows has been applied (`/readyz`)."""
        return not await self.run(lambda repos: migrations.pending(repos.db.connection))

    async def rotate_encryption(self) -> int:
        """Re-encrypt every stored secret under the first key (`qc-bot rotate-keys`); return how many."""
        return await self.run(lambda repos: rotate_encryption(repos.db, self._secret_box))

    async def run(self, operation: Callable[[Repositories], T], *, immediate: bool = False) -> T:
        """Run `operation` on a database thread inside one transaction and return its result.

        `immediate` serialises the transaction with every other immediate one, in every process: for
        read-then-write work that another process may do at the same time (the expiry scan), so the second
        waits its turn and then sees the first one's writes, instead of acting on a stale read. SQLite takes its
        write lock before the first read (BEGIN IMMEDIATE); PostgreSQL an advisory lock.
        """
        if self._executor is None:
            raise RuntimeError("Store.open() has not been awaited")
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._in_transaction, operation, immediate)

    async def run_alone(self, operation: Callable[[Repositories], T]) -> T:
        """Run `operation`, which makes one statement: on PostgreSQL that statement commits on its own, with no
        BEGIN and COMMIT around it (one round trip, not three), for the few statements on a hot path (the replay
        check of every Slack request); on SQLite, as `run`."""
        if self.engine_name == "sqlite":
            return await self.run(operation)
        if self._executor is None:
            raise RuntimeError("Store.open() has not been awaited")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._autocommitted, operation)

    def _autocommitted(self, operation: Callable[[Repositories], T]) -> T:
        assert self._engine is not None
        repositories = self._thread_repositories()
        with self._engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            with repositories.db.bound_to(connection):
                return operation(repositories)

    def _in_transaction(self, operation: Callable[[Repositories], T], immediate: bool) -> T:
        assert self._engine is not None
        repositories = self._thread_repositories()
        with self._engine.connect() as connection:
            connection.info["immediate"] = immediate
            with connection.begin():
                if immediate and self.engine_name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": SERIALISED})
                with repositories.db.bound_to(connection):
                    return operation(repositories)

    def _thread_repositories(self) -> Repositories:
        repositories: Repositories | None = getattr(self._local, "repositories", None)
        if repositories is None:
            db = Db(engine=self.engine_name)
            box = self._secret_box
            repositories = Repositories(
                db=db,
                connections=ConnectionRepository(db, box),
                orgs=OrgRepository(db, box),
                oauth_states=OAuthStateRepository(db, box),
                reveals=RevealRepository(db),
                notifications=NotificationRepository(db),
                audit=AuditLog(db),
                installations=InstallationRepository(db, box),
                tracked_tokens=TrackedTokenRepository(db),
                retention=Retention(db),
                temporary_changes=TemporaryChangeRepository(db),
                drift_alerts=DriftAlertRepository(db),
                rotations=RotationRepository(db, box),
                gauges=GaugeRepository(db),
                leases=LeaseRepository(db),
                slack_replays=SlackReplayRepository(db),
            )
            self._local.repositories = repositories
        return repositories

    async def close(self) -> None:
        if self._executor is None:
            return
        if self._engine is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._engine.dispose)
            self._engine = None
        self._executor.shutdown(wait=True)
        self._executor = None


def _read_only_postgresql(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET default_transaction_read_only = on")
    dbapi_connection.commit()
