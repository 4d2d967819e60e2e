"""The bot's database as a test sees it, on either engine: statements through a connection of the test's own, and
the bytes the database keeps on disk (where no secret may be in plaintext)."""

from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy.pool import NullPool


def engine_of(url: str) -> sqlalchemy.Engine:
    """An engine without a pool: each statement opens a connection and closes it, so the test never holds a SQLite
    file open across a bot restart, nor keeps a PostgreSQL database from being dropped when the test ends."""
    return sqlalchemy.create_engine(url, poolclass=NullPool)


def run(engine: sqlalchemy.Engine, statement: str, params: dict[str, Any] | None = None) -> list[Any]:
    """Run `statement` (SQL both engines understand, with `:named` parameters), committed; its rows, which compare
    equal to tuples (none for a write)."""
    with engine.begin() as connection:
        result = connection.execute(sqlalchemy.text(statement), params or {})
        return list(result) if result.returns_rows else []


def stored_bytes(engine: sqlalchemy.Engine) -> bytes:
    """The database's tables as stored on disk: the SQLite file with its WAL and shared-memory files, or the files
    of PostgreSQL's tables, TOAST tables and indexes once a checkpoint has written everything out (row versions not
    yet vacuumed included, as free pages are in the SQLite file). PostgreSQL's catalogs hold no data of ours."""
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database or "")
        return b"".join(file.read_bytes() for file in sorted(path.parent.glob(f"{path.name}*")))
    # Reading a row the first time may mark its page (hint bits, pruning): read every table now, so that reading
    # the database changes its bytes here and not between two calls, which then differ only where it was written.
    for (table,) in run(engine, "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"):
        run(engine, f"SELECT count(*) FROM {table}")
    run(engine, "CHECKPOINT")
    [(data,)] = run(engine, "SELECT current_setting('data_directory')")
    relations = run(engine, "SELECT pg_relation_filepath(oid) FROM pg_class WHERE relfilenode <> 0 AND relnamespace"
                            " IN ('public'::regnamespace, 'pg_toast'::regnamespace) ORDER BY oid")
    files = []
    for (relation,) in relations:
        main = Path(data, relation)  # then its free-space and visibility maps, and segments beyond the first 1 GB
        files += [main, *sorted(main.parent.glob(f"{main.name}_*")), *sorted(main.parent.glob(f"{main.name}.*"))]
    return b"".join(file.read_bytes() for file in files if file.exists())
