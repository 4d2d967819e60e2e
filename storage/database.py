"""The one SQLite connection and the thread that owns it.

sqlite-utils is synchronous and its connection belongs to the thread that opened it, so every
database call runs on a single worker thread: the event loop never waits on disk, writes never
interleave, and each `Store.run` is one transaction (WAL mode, so readers in other processes such as
`qc-bot check-expiry` are not blocked).
"""

from __future__ import annotations

import asyncio
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
from storage.installations import InstallationRepository
from storage.migrations import MIGRATIONS
from storage.notifications import NotificationRepository
from storage.oauth_states import OAuthStateRepository
from storage.orgs import OrgRepository
from storage.reveals import RevealRepository

T = TypeVar("T")


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


class Store:
    def __init__(self, *, path: Path | str, secret_box: SecretBox) -> None:
        self._path = str(path)
        self._secret_box = secret_box
        self._executor: ThreadPoolExecutor | None = None
        self._repositories: Repositories | None = None

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qc-bot-sqlite")
        await asyncio.get_running_loop().run_in_executor(self._executor, self._open_in_thread)

    def _open_in_thread(self) -> None:
        connection = sqlite3.connect(self._path, timeout=30)
        db = sqlite_utils.Database(connection)
        if self._path != ":memory:":
            db.enable_wal()
        # In WAL mode NORMAL keeps every committed transaction across a crash of the process (the case the
        # journey's crash safety is about) and only syncs at checkpoints; FULL would fsync every commit.
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 30000")
        MIGRATIONS.apply(db)
        box = self._secret_box
        self._repositories = Repositories(
            db=db,
            connections=ConnectionRepository(db),
            orgs=OrgRepository(db, box),
            oauth_states=OAuthStateRepository(db, box),
            reveals=RevealRepository(db),
            notifications=NotificationRepository(db),
            audit=AuditLog(db),
            installations=InstallationRepository(db, box),
        )

    async def run(self, operation: Callable[[Repositories], T]) -> T:
        """Run `operation` on the database thread inside one transaction and return its result."""
        if self._executor is None:
            raise RuntimeError("Store.open() has not been awaited")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._in_transaction, operation)

    def _in_transaction(self, operation: Callable[[Repositories], T]) -> T:
        assert self._repositories is not None
        with self._repositories.db.atomic():
            return operation(self._repositories)

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
