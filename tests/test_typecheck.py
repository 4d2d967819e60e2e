"""The product type-checks: mypy, configured in pyproject.toml's [tool.mypy] (bot, handlers, storage, and the
stand-ins they import), reports nothing. It runs here so that the README's one test command covers it."""

import mypy.api

from tests.support.cli import REPO_ROOT


def test_mypy_reports_no_errors(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # [tool.mypy] files and the .mypy_cache are relative to the checkout
    report, errors, status = mypy.api.run(["--config-file", str(REPO_ROOT / "pyproject.toml")])
    assert errors == ""
    assert status == 0, report
    assert "Success: no issues found" in report
