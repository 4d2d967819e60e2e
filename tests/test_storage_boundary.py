"""`storage/` is the only code that touches the database (SPEC §9): a scan of the source of `bot/` and
`handlers/` for database drivers, connection handles and SQL. The Salesforce clients' SOQL is not SQL of
ours and passes: it never names one of our tables and always reads FROM a Salesforce object. SQL keywords
are matched in capitals, as this code base writes them, so that prose ("Select the org…") passes."""

import ast
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlite_utils

from storage.migrations.legacy_sqlite import MIGRATIONS
from tests.support.cli import REPO_ROOT

DRIVERS = ("sqlite3", "sqlite_utils", "aiosqlite", "apsw", "psycopg", "psycopg2", "asyncpg", "sqlalchemy")
# `.db` is the Repositories' connection; the rest are DB-API / sqlite-utils calls on a connection or cursor.
CONNECTION_ATTRIBUTES = frozenset({"db", "conn", "cursor", "execute", "executemany", "executescript"})
STATEMENT = re.compile(
    r"^\s*(INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|(CREATE|DROP|ALTER)\s+(TEMP\s+)?"
    r"(TABLE|INDEX|UNIQUE|TRIGGER|VIEW)|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|VACUUM|WITH\s+\w+\s+AS)\b")
SELECT_WITHOUT_FROM = re.compile(r"^\s*SELECT\b(?!.*\bFROM\b)", re.DOTALL)


def our_tables() -> list[str]:
    db = sqlite_utils.Database(sqlite3.connect(":memory:"))
    MIGRATIONS.apply(db)
    names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    db.close()
    return [*names, "sqlite_master", "sqlite_schema"]


TABLE_REFERENCE = re.compile(
    r"\b(FROM|JOIN|INTO|UPDATE|TABLE|ON)\s+[\"`\[]?(" + "|".join(map(re.escape, our_tables())) + r")\b")


@dataclass(frozen=True)
class Finding:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def scan(source: str, *, where: str) -> list[Finding]:
    """Every place in `source` that reaches the database itself."""
    findings = []
    for node in ast.walk(ast.parse(source)):
        at = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            findings += [Finding(at, f"imports {module}") for module in modules
                         if module.split(".")[0] in DRIVERS]
        elif isinstance(node, ast.Attribute) and node.attr in CONNECTION_ATTRIBUTES:
            findings.append(Finding(at, f"uses .{node.attr}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if STATEMENT.search(text) or SELECT_WITHOUT_FROM.search(text) or TABLE_REFERENCE.search(text):
                findings.append(Finding(at, f"SQL {text.strip()[:60]!r}"))
    return findings


def scan_handler(source: str, *, where: str) -> list[Finding]:
    """Handlers reach storage only through services: no storage import, no transaction of their own."""
    findings = []
    for node in ast.walk(ast.parse(source)):
        at = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "storage":
            findings.append(Finding(at, f"imports {node.module}"))
        elif isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "storage" for alias in node.names):
            findings.append(Finding(at, "imports storage"))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "run"
              and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "store"):
            findings.append(Finding(at, "runs a storage transaction"))
    return findings


def sources(folder: str) -> list[Path]:
    return sorted((REPO_ROOT / folder).rglob("*.py"))


def test_no_module_outside_storage_touches_the_database():
    findings = [finding for folder in ("bot", "handlers") for path in sources(folder)
                for finding in scan(path.read_text(encoding="utf-8"), where=str(path.relative_to(REPO_ROOT)))]
    assert not findings, "only storage/ may touch the database:\n" + "\n".join(map(str, findings))


def test_handlers_reach_storage_only_through_services():
    findings = [finding for path in sources("handlers")
                for finding in scan_handler(path.read_text(encoding="utf-8"), where=str(path.relative_to(REPO_ROOT)))]
    assert not findings, "\n".join(map(str, findings))


@pytest.mark.parametrize("source", [
    "import sqlite3",
    "from sqlite_utils import Database",
    "await store.run(lambda repos: repos.db.execute('SELECT 1').fetchone())",
    "rotate_encryption(repos.db, box)",
    "connection.execute(query)",
    "QUERY = 'INSERT INTO audit_log (at) VALUES (?)'",
    "QUERY = 'SELECT * FROM notifications WHERE dedupe_key = ?'",
    "QUERY = 'SELECT COUNT(*) FROM orgs AS o JOIN tracked_tokens AS t ON t.org_id = o.org_id'",
    "QUERY = '''\n    UPDATE orgs SET status = ? WHERE org_id = ?'''",
    "QUERY = 'DELETE FROM tracked_tokens'",
    "QUERY = 'PRAGMA foreign_keys = ON'",
    "QUERY = f'SELECT {column} FROM slack_installations'",
])
def test_the_scan_finds_database_access(source):
    assert scan(source, where="sample")


@pytest.mark.parametrize("source", [
    "records = await rest.query('SELECT Id, Name, IsSandbox FROM Organization')",
    "records = await rest.query(f'SELECT Id, Username FROM User WHERE Id = {user}')",
    "db_path = Path('qc-bot.db')",
    "text = 'Select the org to disconnect, then update the channel. Begin again from orgs you know.'",
    "await services.store.ping()",
])
def test_the_scan_lets_soql_paths_and_prose_pass(source):
    assert scan(source, where="sample") == []


def test_the_handler_scan_finds_a_transaction_or_a_storage_import():
    assert scan_handler("from storage.database import Store", where="sample")
    assert scan_handler("await services.store.run(lambda repos: repos.audit.append(at=now))", where="sample")
    assert scan_handler("await services.store.ping()", where="sample") == []
