"""Retention for operators and the server's periodic work (SPEC §7): `prune` deletes what ended longer than
`QC_RETENTION_DAYS` ago (storage.retention says what exactly), and `export_audit` is the audit log's own
retention: entries up to a date go to a file first, and only what reached that file is deleted."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.clock import Clock
from storage.audit import AuditRange
from storage.database import Repositories, Store
from storage.retention import Pruned

logger = logging.getLogger(__name__)


class Pruner:
    def __init__(self, *, store: Store, retention: timedelta) -> None:
        self._store = store
        self._retention = retention

    async def prune(self, *, now: datetime) -> Pruned:
        before = now - self._retention
        pruned = await self._store.run(lambda repos: repos.retention.prune(before=before))
        if pruned.total():
            logger.info("Pruned what ended before %s: %s", f"{before:%Y-%m-%d %H:%M}",
                        ", ".join(f"{count} {table}" for table, count in pruned.counts().items() if count))
        return pruned


class ExportNotWritten(Exception):
    """The export file could not be created or does not hold what was exported; nothing was deleted."""


@dataclass(frozen=True, kw_only=True)
class AuditExport:
    exported: AuditRange
    sha256: str
    destination: Path


async def export_audit(*, store: Store, clock: Clock, before: datetime, destination: Path) -> AuditExport | None:
    """Write every audit entry up to the last one before `before` to `destination` (JSON Lines, a new file that
    only its owner may read), check what reached the disk, then delete exactly those entries. None when there
    is nothing before `before`."""
    selected = await store.run(lambda repos: repos.audit.range_before(before))
    if selected is None:
        return None
    try:
        descriptor = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ExportNotWritten(f"cannot create {destination}: {exc.strerror}") from None
    written = hashlib.sha256()
    with os.fdopen(descriptor, "wb") as out:

        def write(repos: Repositories) -> None:
            for entry in repos.audit.entries_in(selected):
                line = (json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n").encode()
                written.update(line)
                out.write(line)

        await store.run(write)
        out.flush()
        os.fsync(out.fileno())
    if _file_digest(destination) != written.hexdigest():
        raise ExportNotWritten(f"{destination} does not hold what was written to it")
    export = AuditExport(exported=selected, sha256=written.hexdigest(), destination=destination.resolve())
    now = clock.now()

    def prune(repos: Repositories) -> None:
        repos.audit.prune_exported(selected, sha256=export.sha256, destination=str(export.destination), now=now)
        repos.audit.append(at=now, team_id=None, actor="operator", action="audit_exported", outcome="ok",
                           detail={"entries": selected.entries, "first_id": selected.first_id,
                                   "last_id": selected.last_id, "before": before.isoformat()})

    await store.run(prune, immediate=True)
    return export


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
