"""The grammar of `/qc`: text in, a typed command out (or `CommandSyntaxError` with a message for the user)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import CommandSyntaxError

_USERNAME = re.compile(r"^[^\s@<>|]+@[^\s@<>|]+\.[^\s@<>|]+$")
# Slack may wrap links and e-mail addresses: <https://x|label>, <mailto:a@b.c|a@b.c>.
_SLACK_LINK = re.compile(r"^<(?:mailto:)?([^|>]+)(?:\|[^>]*)?>$")


@dataclass(frozen=True)
class ConnectOrg:
    target: str
    """`production`, `sandbox` or a My Domain URL as typed."""
    run_as: str | None


@dataclass(frozen=True)
class Help:
    pass


Command = ConnectOrg | Help


def parse(text: str) -> Command:
    words = [_unwrap(word) for word in text.split()]
    if not words or words[0].lower() in ("help", "-h", "--help"):
        return Help()
    name, arguments = words[0].lower(), words[1:]
    if name in ("connect-org", "connect"):
        return _connect_org(arguments)
    raise CommandSyntaxError(f"I don't know the command `{words[0]}`.")


def _connect_org(arguments: list[str]) -> ConnectOrg:
    target: str | None = None
    run_as: str | None = None
    for argument in arguments:
        key, separator, value = argument.partition("=")
        if separator and key.lower() in ("run-as", "runas", "run_as"):
            value = _unwrap(value)
            if run_as is not None:
                raise CommandSyntaxError("`run-as=` is given twice.")
            if not _USERNAME.match(value):
                raise CommandSyntaxError(
                    f"`{value}` is not a Salesforce username; they look like an e-mail address, "
                    "e.g. `run-as=integration@acme.com`."
                )
            run_as = value
        elif separator:
            raise CommandSyntaxError(f"I don't know the option `{key}=`; only `run-as=` is accepted.")
        elif target is not None:
            raise CommandSyntaxError(f"Give one org target, not both `{target}` and `{argument}`.")
        else:
            target = argument
    return ConnectOrg(target=(target or "production"), run_as=run_as)


def _unwrap(word: str) -> str:
    match = _SLACK_LINK.match(word)
    return match.group(1) if match else word
