"""How repositories reach the database: SQL text with named `:parameters`, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import Connection, CursorResult, TextClause, text

EngineName = Literal["sqlite", "postgresql"]


@lru_cache(maxsize=1024)
def _statement(sql: str) -> TextClause:
    return text(sql)


class Db:
    """The open transaction's connection, as the repositories use it: SQL with named `:parameters`."""

    def __init__(self, *, engine: EngineName) -> None:
        self.engine: EngineName = engine
        self._connection: Connection | None = None

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> CursorResult[Any]:
        return self.connection.execute(_statement(sql), dict(params or {}))

    def execute_many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run `sql` once per parameter set in `rows` (one round trip where the driver allows)."""
        if rows:
            self.connection.execute(_statement(sql), [dict(row) for row in rows])

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """The rows of `sql` as dicts."""
        for row in self.execute(sql, params).mappings():
            yield dict(row)

    @contextmanager
    def bound_to(self, connection: Connection) -> Iterator[None]:
        """Reach the database through `connection` (one transaction of `Store.run`) for the block's duration."""
        self._connection = connection
        try:
            yield
        finally:
            self._connection = None

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the database is only reachable inside Store.run")
        return self._connection


def in_list(name: str, values: Iterable[Any]) -> tuple[str, dict[str, Any]]:
    """An `IN (...)` list of named parameters, one per value: the text to put between the parentheses, and the
    parameters. An empty list is spelled `NULL` (PostgreSQL refuses `IN ()`; `IN (NULL)` matches nothing)."""
    params = {f"{name}_{index}": value for index, value in enumerate(values)}
    return ", ".join(f":{each}" for each in params) or "NULL", params
