"""One-time OAuth values: the Slack links already used, and the OAuth `state` + PKCE verifier.

A link is remembered by its nonce (inside its authenticated payload), never by how its text is spelled: base64
and Fernet decoding tolerate respellings, so a digest of the text would let a used link open again.
Only SHA-256 digests of link nonces and states are stored; the PKCE verifier is encrypted. Claiming a link and
consuming a state are single conditional writes, so each works once even when two requests race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.failures import CallbackProblem
from bot.redaction import Secret
from storage.crypto import SecretBox, token_digest
from storage.sql import Db
from storage.timestamps import from_db_time, to_db_time


@dataclass(frozen=True)
class Consumed:
    connection_id: str | None
    problem: CallbackProblem | None = None
    code_verifier: Secret | None = None


class OAuthStateRepository:
    def __init__(self, db: Db, secret_box: SecretBox) -> None:
        self._db = db
        self._box = secret_box

    def claim_link(self, *, link_nonce: str, connection_id: str, expires_at: datetime, now: datetime) -> bool:
        """Mark the link with this nonce used for `connection_id`; False if it was used before (it works once)."""
        cursor = self._db.execute(
            "INSERT INTO oauth_links (link_digest, connection_id, expires_at, used_at)"
            " VALUES (:link_digest, :connection_id, :expires_at, :now) ON CONFLICT (link_digest) DO NOTHING",
            {"link_digest": token_digest(link_nonce), "connection_id": connection_id,
             "expires_at": to_db_time(expires_at), "now": to_db_time(now)},
        )
        return cursor.rowcount == 1

    def create_state(
        self, *, connection_id: str, state: Secret, code_verifier: Secret, expires_at: datetime
    ) -> None:
        self._db.execute(
            "INSERT INTO oauth_states (state_digest, connection_id, code_verifier_enc, expires_at)"
            " VALUES (:state_digest, :connection_id, :code_verifier_enc, :expires_at)",
            {"state_digest": token_digest(state.reveal()), "connection_id": connection_id,
             "code_verifier_enc": self._box.encrypt(code_verifier), "expires_at": to_db_time(expires_at)},
        )

    def consume_state(self, *, state: str, now: datetime) -> Consumed:
        """The state's connection and PKCE verifier, once; a problem if it is unknown, used or expired."""
        digest = token_digest(state)
        row = self._db.execute(
            "SELECT connection_id, code_verifier_enc, expires_at, used_at FROM oauth_states"
            " WHERE state_digest = :state_digest",
            {"state_digest": digest},
        ).fetchone()
        if row is None:
            return Consumed(None, CallbackProblem.UNKNOWN)
        connection_id, code_verifier_enc, expires_at, used_at = row
        if used_at is not None:
            return Consumed(connection_id, CallbackProblem.USED)
        if from_db_time(expires_at) <= now:
            return Consumed(connection_id, CallbackProblem.EXPIRED)
        cursor = self._db.execute(
            "UPDATE oauth_states SET used_at = :now WHERE state_digest = :state_digest AND used_at IS NULL",
            {"now": to_db_time(now), "state_digest": digest})
        if cursor.rowcount != 1:
            return Consumed(connection_id, CallbackProblem.USED)
        return Consumed(connection_id, code_verifier=self._box.decrypt(code_verifier_enc))
