"""Named exceptions of qc-bot. Messages never carry a secret (tokens, consumer secrets, verifiers)."""

from __future__ import annotations


class QcBotError(Exception):
    """Base class for qc-bot's own errors."""


class ConfigError(QcBotError):
    """A configuration variable is missing or malformed; the message names it and says what is expected."""

    def __init__(self, *, variable: str, expected: str) -> None:
        self.variable = variable
        self.expected = expected
        super().__init__(f"{variable}: {expected}")


class CommandSyntaxError(QcBotError):
    """The text of a `/qc` command could not be understood."""


class LoginHostError(QcBotError):
    """A Salesforce login, instance or identity URL is not a Salesforce host (nor explicitly allowed)."""
