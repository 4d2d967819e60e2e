"""Every code of `bot.failures` has words: a new member without them fails here, not in front of an admin."""

from enum import StrEnum

import pytest

from bot.failures import (
    CallbackProblem,
    ChannelError,
    ConfirmProblem,
    CredentialsProblem,
    DisconnectProblem,
    Failure,
    LinkProblem,
    ProofProblem,
    RevealProblem,
    SecretUnreadable,
    TokenReadProblem,
)
from bot.messages.explanations import (
    CHANNEL_ERRORS,
    CONFIRM_REFUSALS,
    CREDENTIALS_EXPLANATIONS,
    DISCONNECT_EXPLANATIONS,
    EXPLANATIONS,
    PROOF_EXPLANATIONS,
    REVEAL_REFUSALS,
    SECRET_NOTES,
    TOKEN_READ_EXPLANATIONS,
)
from bot.messages.pages import CALLBACK_PROBLEMS, LINK_PROBLEMS

TABLES: list[tuple[type[StrEnum], dict]] = [
    (Failure, EXPLANATIONS),
    (DisconnectProblem, DISCONNECT_EXPLANATIONS),
    (CredentialsProblem, CREDENTIALS_EXPLANATIONS),
    (ProofProblem, PROOF_EXPLANATIONS),
    (RevealProblem, REVEAL_REFUSALS),
    (SecretUnreadable, SECRET_NOTES),
    (TokenReadProblem, TOKEN_READ_EXPLANATIONS),
    (ChannelError, CHANNEL_ERRORS),
    (ConfirmProblem, CONFIRM_REFUSALS),
    (LinkProblem, LINK_PROBLEMS),
    (CallbackProblem, CALLBACK_PROBLEMS),
]


@pytest.mark.parametrize(("vocabulary", "table"), TABLES, ids=[vocabulary.__name__ for vocabulary, _ in TABLES])
def test_every_member_has_words_and_the_table_nothing_else(vocabulary, table):
    missing = [member.value for member in vocabulary if member not in table]
    assert missing == [], f"{vocabulary.__name__} members without words"
    assert all(isinstance(key, vocabulary) for key in table), "a table is keyed by its enum, not by strings"
    assert all(words for words in table.values())


def test_the_vocabularies_cover_every_enum_of_bot_failures():
    import bot.failures

    vocabularies = {value for value in vars(bot.failures).values()
                    if isinstance(value, type) and issubclass(value, StrEnum) and value is not StrEnum}
    assert vocabularies == {vocabulary for vocabulary, _ in TABLES}
