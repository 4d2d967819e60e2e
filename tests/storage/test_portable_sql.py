"""The SQL of the repositories that run on SQLite and PostgreSQL alike uses only what both engines accept: named
parameters and none of SQLite's own constructs (each one listed here has a portable equivalent in use instead)."""

import ast
import re
from pathlib import Path

import pytest

import storage

PORTABLE = ("notifications.py", "tracked_tokens.py", "drift_alerts.py", "rotations.py", "retention.py",
            "outbox_keys.py")
SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
SQLITE_ONLY = {
    "a positional parameter": re.compile(r"\?"),
    "rowid": re.compile(r"\browid\b", re.IGNORECASE),
    "INDEXED BY": re.compile(r"\bINDEXED\s+BY\b", re.IGNORECASE),
    "COLLATE NOCASE": re.compile(r"\bNOCASE\b", re.IGNORECASE),
    "INSERT OR IGNORE/REPLACE": re.compile(r"\bINSERT\s+OR\b", re.IGNORECASE),
    "IS [NOT] between values": re.compile(r"\bIS\s+(NOT\s+)?(?!NULL\b|DISTINCT\b|NOT\b)\S", re.IGNORECASE),
    "a SQLite date function": re.compile(r"\b(julianday|datetime|strftime)\s*\(", re.IGNORECASE),
    "PRAGMA or sqlite_master": re.compile(r"\b(PRAGMA|sqlite_master)\b", re.IGNORECASE),
    "scalar min()/max() of two values": re.compile(r"\b(min|max)\s*\([^()]*,", re.IGNORECASE),
}
STORAGE = Path(storage.__file__).parent


def sql_texts(module: str) -> list[str]:
    """Every string in the module that begins like a statement, f-string skeletons included."""
    texts = []
    for node in ast.walk(ast.parse((STORAGE / module).read_text())):
        if isinstance(node, ast.JoinedStr):
            text = "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if SQL.match(text):
            texts.append(text)
    return texts


@pytest.mark.parametrize("module", PORTABLE)
def test_the_sql_uses_nothing_only_sqlite_accepts(module):
    problems = [(name, text) for text in sql_texts(module) for name, pattern in SQLITE_ONLY.items()
                if pattern.search(text)]
    assert problems == []


@pytest.mark.parametrize("module", PORTABLE)
def test_no_cursor_internals_of_sqlite3(module):
    source = (STORAGE / module).read_text()
    assert "lastrowid" not in source and ".conn." not in source and "executemany" not in source


def test_the_check_finds_what_it_looks_for():
    found = {name for name, pattern in SQLITE_ONLY.items() for text in (
        "SELECT rowid FROM t INDEXED BY i WHERE a = ? AND b IS NOT 'x' AND c COLLATE NOCASE",
        "INSERT OR IGNORE INTO t SELECT julianday('now'), max(a, b) FROM sqlite_master") if pattern.search(text)}
    assert found == set(SQLITE_ONLY)
    assert not SQLITE_ONLY["IS [NOT] between values"].search(
        "WHERE a IS NULL AND b IS NOT NULL AND c IS DISTINCT FROM d AND e IS NOT DISTINCT FROM f")
    assert not SQLITE_ONLY["scalar min()/max() of two values"].search("SELECT MIN(next_attempt_at) FROM t")
