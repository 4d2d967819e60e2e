"""The repositories keep to what SQLite 3.40 and PostgreSQL 15 both accept:
named `:parameters` only (SQLAlchemy `text()` takes no `?`), and none of SQLite's own constructs."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTABLE = ("connections", "orgs", "oauth_states", "reveals", "temporary_changes", "audit", "installations",
            "key_rotation", "notifications", "tracked_tokens", "drift_alerts", "rotations", "retention",
            "slack_replays")
SQLITE_ONLY = {
    "a positional ? parameter": r"[\s(,=<>]\?(?=[\s,)]|$)",
    "rowid": r"\browid\b",
    "COLLATE NOCASE": r"\bCOLLATE\s+NOCASE\b",
    "INSERT OR IGNORE/REPLACE": r"\bINSERT\s+OR\b",
    "INDEXED BY": r"\bINDEXED\s+BY\b",
    "PRAGMA": r"\bPRAGMA\b",
    "date functions": r"\b(julianday|datetime|strftime|typeof)\s*\(",
    # upper case, as the SQL spells its keywords: messages say "is" too
    "IS / IS NOT between values": r"(?-i:\bIS\s+(NOT\s+)?(?!NULL\b|NOT\b|DISTINCT\b)[\w:(])",
}


def string_literals(module: str) -> list[str]:
    """Every string of the module but its docstrings (prose says "insert or", "is"); f-strings with `{}`."""
    tree = ast.parse((ROOT / "storage" / f"{module}.py").read_text(encoding="utf-8"))
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    literals = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            literals.append("".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            literals.append(node.value)
    return literals


@pytest.mark.parametrize("module", PORTABLE)
def test_the_repository_sql_runs_on_both_engines(module):
    literals = string_literals(module)
    assert any(re.search(r"\b(SELECT|UPDATE|INSERT)\b", literal) for literal in literals)  # it sees the SQL
    found = [(construct, literal) for literal in literals for construct, pattern in SQLITE_ONLY.items()
             if re.search(pattern, literal, flags=re.IGNORECASE)]
    found += [("sqlite_master", literal) for literal in literals if "sqlite_master" in literal]
    assert found == []


def test_the_scan_finds_each_construct():
    examples = ["SELECT * FROM t WHERE a = ?", "SELECT rowid FROM t", "ORDER BY name COLLATE NOCASE",
                "INSERT OR IGNORE INTO t", "SELECT * FROM t INDEXED BY i", "PRAGMA foreign_keys",
                "WHERE julianday(at) > 1", "WHERE a IS :b"]
    for example, (construct, pattern) in zip(examples, SQLITE_ONLY.items(), strict=True):
        assert re.search(pattern, example, flags=re.IGNORECASE), construct
    for fine in ("WHERE used_at IS NULL", "WHERE a IS NOT NULL", "WHERE a IS NOT DISTINCT FROM :b",
                 "WHERE id = :id", "SELECT * FROM t WHERE a IN (:a_0, :a_1)"):
        assert not any(re.search(pattern, fine, flags=re.IGNORECASE) for pattern in SQLITE_ONLY.values()), fine
