"""Encryption of secrets at rest (SPEC §6) and hashing of one-time tokens.

`QC_ENCRYPTION_KEYS` lists Fernet keys; the first encrypts, all decrypt (MultiFernet), so a key can be
rotated without downtime: put the new key first, run `qc-bot rotate-keys`, then drop the old key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.redaction import Secret


class UndecryptableSecret(Exception):
    """A stored secret cannot be decrypted with any configured key (a key was dropped too early)."""


class SecretBox:
    def __init__(self, *, keys: Sequence[Secret]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(key.reveal().encode("ascii")) for key in keys])

    def encrypt(self, secret: Secret) -> str:
        return self.encrypt_text(secret.reveal())

    def encrypt_text(self, text: str) -> str:
        """Encrypt something that is not a secret of its own (it is never registered for log redaction)."""
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def encrypt_optional(self, secret: Secret | None) -> str | None:
        return None if secret is None else self.encrypt(secret)

    def decrypt(self, token: str) -> Secret:
        return Secret(self.decrypt_text(token))

    def decrypt_text(self, token: str) -> str:
        """Decrypt without registering the result for log redaction (see `encrypt_text`)."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise UndecryptableSecret("a stored secret could not be decrypted with the configured keys") from exc

    def decrypt_optional(self, token: str | None) -> Secret | None:
        return None if token is None else self.decrypt(token)

    def rotate(self, token: str) -> str:
        """Re-encrypt under the first key (keeps Fernet's original timestamp)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise UndecryptableSecret("a stored secret could not be decrypted with the configured keys") from exc


def token_digest(token: str) -> str:
    """SHA-256 of a random one-time token; the database keeps only this, never the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_fernet_key() -> str:
    return Fernet.generate_key().decode("ascii")
