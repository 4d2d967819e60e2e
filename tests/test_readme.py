"""The README stays true: its two set-up commands are the ones CI runs, its command section is the parser's
own `--help`, and its configuration table lists every variable qc-bot reads."""

import argparse
import re

from bot.cli import build_parser
from bot.config import VARIABLES
from tests.support.cli import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
BEGIN, END = "<!-- commands: generated from bot/cli.py -->\n", "<!-- end of commands -->"


def commands_section() -> str:
    """`qc-bot --help`, then each command's `--help`, as the README shows them."""
    parser = build_parser()
    subcommands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    parts = [f"```\n$ qc-bot --help\n{parser.format_help()}```\n"]
    for name, subparser in subcommands.choices.items():
        parts.append(f"```\n$ qc-bot {name} --help\n{subparser.format_help()}```\n")
    return "\n".join(parts)


def test_the_commands_section_is_the_parsers_help():
    documented = README[README.index(BEGIN) + len(BEGIN):README.index(END)]
    assert documented == commands_section(), (
        "README.md's command section is out of date; replace it with:\n" + commands_section())


def test_the_two_setup_commands_are_at_the_top_and_ci_runs_the_test_one():
    commands = re.findall(r"^    (python3 -m venv .*)$", README[:README.index("## ")], flags=re.MULTILINE)
    assert len(commands) == 2
    run, test = commands
    assert run.endswith("pip install -e . && qc-bot demo")
    assert test.endswith("pip install -e '.[test]' && pytest")
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines()


def test_the_configuration_table_lists_every_variable():
    table = README[README.index("## Configuration"):README.index("## HTTP routes")]
    first_columns = re.findall(r"^\|([^|]+)\|", table, flags=re.MULTILINE)
    listed = {name for names in first_columns for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", names)}
    assert set(VARIABLES) <= listed, sorted(set(VARIABLES) - listed)
