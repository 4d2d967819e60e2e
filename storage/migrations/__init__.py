"""Schema migrations: one ordered Alembic history (`versions/`) for SQLite and PostgreSQL alike.

Append a revision at the end (`down_revision` = the previous head); never edit one that has shipped. Statements
go through `ddl.execute_script`, which runs the same text on both engines. The first revision, `0013`, is the
schema the SQLite-only migrations of earlier releases (`legacy_sqlite`) ended with: a database made by one of
them is brought to that point by them, stamped `0013`, and continues here.

Every upgrade runs in one transaction under a lock, so replicas that start at the same time apply each revision
once: the second waits, then finds nothing to do.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from storage.migrations import legacy_sqlite

BASELINE = "0013"

logger = logging.getLogger(__name__)
# Alembic narrates every step at INFO ("Context impl SQLiteImpl."); qc-bot says what changed in one line instead.
logging.getLogger("alembic").setLevel(logging.WARNING)

# Held for the upgrade's transaction on PostgreSQL (SQLite takes its write lock with BEGIN IMMEDIATE instead).
MIGRATION_LOCK = 0x71_63_62_6F_74_01


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


@cache
def head() -> str:
    """The newest revision this version knows (read from `versions/` once: `/readyz` asks on every probe)."""
    scripts = ScriptDirectory(str(Path(__file__).parent))
    revision = scripts.get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    """The revision the database is at; None for an empty database or one that only the legacy history knows."""
    return MigrationContext.configure(connection).get_current_revision()


def pending(connection: Connection) -> bool:
    return current(connection) != head()


def upgrade(connection: Connection) -> None:
    """Bring the schema to the head revision, inside the caller's transaction (which holds the lock)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": MIGRATION_LOCK})
    config = _config(connection)
    tables = set(inspect(connection).get_table_names())
    if legacy_sqlite.TABLE in tables and "alembic_version" not in tables:
        command.stamp(config, BASELINE)
        connection.execute(text(f"DROP TABLE {legacy_sqlite.TABLE}"))
    was = current(connection)
    if was == head():
        return
    command.upgrade(config, "head")
    if was is None:
        logger.debug("Created the database schema at revision %s", head())
    else:
        logger.info("Upgraded the database schema from revision %s to %s", was, head())
