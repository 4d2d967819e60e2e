"""The one SQLite connection and the thread that owns it.

sqlite-utils is synchronous and its connection belongs to the thread that opened it, so every
database call runs on a single worker thread: the event loop never waits on disk, writes never
interleave, and each `Store.run` is one transaction (WAL mode, so readers in other processes such as
`qc-bot check-expiry` are not blocked).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import sqlite_utils

from storage.audit import AuditLog
from storage.connections import ConnectionRepository
from storage.crypto import SecretBox
from storage.drift_alerts import DriftAlertRepository
from storage.gauges import GaugeRepository
from storage.installations import InstallationRepository
from storage.key_rotation import rotate_encryption
from storage.migrations import MIGRATIONS
from storage.notifications import NotificationRepository
from storage.oauth_states import OAuthStateRepository
from storage.orgs import OrgRepository
from storage.retention import Retention
from storage.reveals import RevealRepository
from storage.rotations import RotationRepository
from storage.temporary_changes import TemporaryChangeRepository
from storage.tracked_tokens import TrackedTokenRepository

T = TypeVar("T")

SIDE_FILE_SUFFIXES = ("-wal", "-shm", "-journal")
"""The files SQLite keeps beside a database; it creates them with the database file's own permissions."""


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

    db: sqlite_utils.Database
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


class DatabaseNotReady(Exception):
    """A read-only store found no database, or one whose schema this version would have to migrate."""


class Store:
    def __init__(self, *, path: Path | str, secret_box: SecretBox, read_only: bool = False) -> None:
        self._path = str(path)
        self._secret_box = secret_box
        self._read_only = read_only
        self._executor: ThreadPoolExecutor | None = None
        self._repositories: Repositories | None = None

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qc-bot-sqlite")
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._open_in_thread)
        except BaseException:
            self._executor.shutdown(wait=True)
            self._executor = None
            raise

    def _open_in_thread(self) -> None:
        if self._read_only and self._path != ":memory:" and not Path(self._path).is_file():
            raise DatabaseNotReady(f"there is no database at {self._path}")
        if not self._read_only and self._path != ":memory:":
            owner_only(Path(self._path))
        connection = sqlite3.connect(self._path, timeout=30)
        db = sqlite_utils.Database(connection)
        if self._read_only:
            db.execute("PRAGMA query_only = ON")
            if MIGRATIONS.pending(db):
                db.close()
                raise DatabaseNotReady(f"the database at {self._path} needs migrating; run qc-bot serve once")
        elif self._path != ":memory:":
            db.enable_wal()
        # In WAL mode NORMAL keeps every committed transaction across a crash of the process (the case the
        # journey's crash safety is about) and only syncs at checkpoints; FULL would fsync every commit.
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 30000")
        if not self._read_only:
            MIGRATIONS.apply(db)
        box = self._secret_box
        self._repositories = Repositories(
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
        )

    async def ping(self) -> None:
        """Return once the database answered a query (`/healthz`); raise if it cannot."""
        await self.run(lambda repos: repos.db.execute("SELECT 1").fetchone())

    async def schema_is_current(self) -> bool:
        """True when every migration this version knows has been applied (`/readyz`)."""
        return await self.run(lambda repos: not MIGRATIONS.pending(repos.db))

    async def rotate_encryption(self) -> int:
        """Re-encrypt every stored secret under the first key (`qc-bot rotate-keys`); return how many."""
        return await self.run(lambda repos: rotate_encryption(repos.db, self._secret_box))

    async def run(self, operation: Callable[[Repositories], T], *, immediate: bool = False) -> T:
        """Run `operation` on the database thread inside one transaction and return its result.

        `immediate` takes the write lock before the first read: for read-then-write work that another
        process may do at the same time (the expiry scan), so the second waits its turn and then sees the
        first one's writes, instead of failing when it tries to write on top of a stale read.
        """
        if self._executor is None:
            raise RuntimeError("Store.open() has not been awaited")
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._in_transaction, operation, immediate)

    def _in_transaction(self, operation: Callable[[Repositories], T], immediate: bool) -> T:
        assert self._repositories is not None
        db = self._repositories.db
        if not immediate:
            with db.atomic():
                return operation(self._repositories)
        db.execute("BEGIN IMMEDIATE")
        try:
            result = operation(self._repositories)
            db.execute("COMMIT")
        except BaseException:
            # Also when COMMIT itself fails (disk full): an open transaction would swallow every later one.
            db.conn.rollback()
            raise
        return result

    async def close(self) -> None:
        if self._executor is None:
            return
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_in_thread)
        self._executor.shutdown(wait=True)
        self._executor = None

    def _close_in_thread(self) -> None:
        if self._repositories is not None:
            self._repositories.db.close()
            self._repositories = None
