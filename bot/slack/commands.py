"""The grammar of `/qc`: text in, a typed command out (or `CommandSyntaxError` with a message for the user)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.errors import CommandSyntaxError

COMMAND_TEXT_MAX = 500
"""Longer than any real `/qc` command (an org name is at most 80 characters, a My Domain URL about 100)."""
USERNAME_MAX = 80
"""Salesforce usernames are at most 80 characters."""
QUOTED_MAX = 60
"""What is quoted back of a word the grammar refused."""

_USERNAME = re.compile(r"^[^\s@<>|\"`,;()\[\]\\]+@[^\s@<>|\"`,;()\[\]\\]+\.[A-Za-z0-9-]{2,}$")
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


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class DisconnectOrg:
    target: str
    """An org id (15 or 18 characters) or an org name as typed (names may hold spaces)."""
    delete_app: bool


@dataclass(frozen=True)
class Check:
    target: str | None
    """An org id or name as typed (like `DisconnectOrg.target`); None: every org of the workspace."""


@dataclass(frozen=True)
class RotateSecret:
    target: str
    incident: bool
    """Retire the old credentials at once."""


@dataclass(frozen=True)
class RevokeTokens:
    target: str
    username: str | None
    """Only this Salesforce user's tokens; None: everyone's."""


Command = ConnectOrg | Help | Status | DisconnectOrg | Check | RotateSecret | RevokeTokens


def parse(text: str) -> Command:
    if len(text) > COMMAND_TEXT_MAX:
        # Not quoted back: nobody reads it, and it would not fit Slack's limits.
        raise CommandSyntaxError(f"That is {len(text):,} characters; `/qc` commands are short (at most "
                                 f"{COMMAND_TEXT_MAX}), so I did not read it.")
    words = [_unwrap(word) for word in text.split()]
    if not words or words[0].lower() in ("help", "-h", "--help"):
        return Help()
    name, arguments = words[0].lower(), words[1:]
    if name in ("connect-org", "connect"):
        return _connect_org(arguments)
    if name == "status":
        if arguments:
            raise CommandSyntaxError("`status` takes no arguments.")
        return Status()
    if name in ("disconnect-org", "disconnect"):
        return _disconnect_org(arguments)
    if name == "check":
        return Check(target=_org_target(arguments) or None)
    if name in ("rotate-secret", "rotate"):
        return _rotate_secret(arguments)
    if name == "revoke-tokens":
        return _revoke_tokens(arguments)
    raise CommandSyntaxError(f"I don't know the command `{_quoted(words[0])}`.")


def _connect_org(arguments: list[str]) -> ConnectOrg:
    target: str | None = None
    run_as: str | None = None
    for argument in arguments:
        key, separator, value = argument.partition("=")
        if separator and key.lower() in ("run-as", "runas", "run_as"):
            value = _unwrap(value)
            if run_as is not None:
                raise CommandSyntaxError("`run-as=` is given twice.")
            _check_username(value)
            run_as = value
        elif separator:
            raise CommandSyntaxError(f"I don't know the option `{_quoted(key)}=`; only `run-as=` is accepted.")
        elif target is not None:
            raise CommandSyntaxError(f"Give one org target, not both `{_quoted(target)}` and `{_quoted(argument)}`.")
        else:
            target = argument
    return ConnectOrg(target=(target or "production"), run_as=run_as)


def _check_username(value: str, *, named: str = "The `run-as=` username") -> None:
    """A plausible Salesforce username, or a `CommandSyntaxError` saying what is wrong with it. Invisible and
    direction characters are refused first (and not quoted back): `ad\u202enimda@x.example` reads as another
    name than it is."""
    if any(unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp") for char in value):
        raise CommandSyntaxError(f"{named} holds invisible or text-direction characters, which a Salesforce "
                                 "username never does; type it again by hand.")
    if len(value) > USERNAME_MAX:
        raise CommandSyntaxError(f"{named} is {len(value)} characters; Salesforce usernames have at most "
                                 f"{USERNAME_MAX}.")
    if not _USERNAME.match(value):
        raise CommandSyntaxError(
            f"`{_quoted(value)}` is not a Salesforce username; they look like an e-mail address, "
            "e.g. `run-as=integration@acme.com`."
        )


def _quoted(word: str) -> str:
    """Part of what was typed, short enough to quote back (`usage` makes it inert)."""
    return word if len(word) <= QUOTED_MAX else word[:QUOTED_MAX - 1] + "…"


def _disconnect_org(arguments: list[str]) -> DisconnectOrg:
    delete_app = bool(arguments) and arguments[-1].lower() in ("delete-app", "--delete-app")
    words = arguments[:-1] if delete_app else arguments
    target = _org_target(words)
    if not target:
        raise CommandSyntaxError("Name the org to disconnect: `/qc disconnect-org <org id or name> [delete-app]`.")
    return DisconnectOrg(target=target, delete_app=delete_app)


def _rotate_secret(arguments: list[str]) -> RotateSecret:
    incident = bool(arguments) and arguments[-1].lower() in ("incident", "--incident")
    target = _org_target(arguments[:-1] if incident else arguments)
    if not target:
        raise CommandSyntaxError("Name the org: `/qc rotate-secret <org id or name> [incident]`.")
    return RotateSecret(target=target, incident=incident)


def _revoke_tokens(arguments: list[str]) -> RevokeTokens:
    username = arguments[-1] if len(arguments) > 1 and _USERNAME.match(arguments[-1]) else None
    if username is not None:
        # It is quoted back in the confirmation: the same rules as `run-as=`, or it could read as someone else.
        _check_username(username, named="The username")
    target = _org_target(arguments[:-1] if username else arguments)
    if not target:
        raise CommandSyntaxError("Name the org: `/qc revoke-tokens <org id or name> [username]`.")
    return RevokeTokens(target=target, username=username)


def _org_target(words: list[str]) -> str:
    """An org id or name as typed, without the quotes people put around names with spaces."""
    return " ".join(words).strip().strip("\"'“”‘’").strip()


def _unwrap(word: str) -> str:
    match = _SLACK_LINK.match(word)
    return match.group(1) if match else word
