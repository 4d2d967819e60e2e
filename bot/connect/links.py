"""The private "Authorize in Salesforce" link (SPEC §1 steps 1-2).

The link carries its own request — team, user, channel, where to log in, the run-as user, when it
expires — encrypted and authenticated (AES-256-GCM) with a key derived from the first key of
`QC_ENCRYPTION_KEYS` (a key derived from any listed key opens it, so rotating keys does not break links in
flight). Minting one needs no database write and one cipher call, which keeps the slash command's
acknowledgement as cheap as Bolt's own; the link is made single-use when it is opened, by claiming its nonce.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.redaction import Secret
from storage.connections import Environment
from storage.crypto import SecretBox, UndecryptableSecret

# The first byte of a sealed link, authenticated with it. Version 1 was a Fernet token of the same JSON (with
# "v": 1 inside): sealing it cost a padding object, an HMAC object and two base64 passes, about 80 µs of an
# acknowledgement's 700 µs, where one AES-GCM call costs a few.
_VERSION = 2  # also names the fields' order: adding, removing or reordering fields makes a new version
_FERNET_V1 = 1
_FERNET_PREFIX = "gAAAAA"  # Fernet's version byte 0x80 and the high bytes of its timestamp
# Its own key, not the Fernet key itself: the link key only ever seals links.
_KEY_PURPOSE = b"qc-bot connect link v2"
_NONCE_BYTES = 12


class LinkRefused(Exception):
    """The link is not one this bot minted, or it is damaged."""


@dataclass(frozen=True, kw_only=True)
class ConnectLink:
    team_id: str
    enterprise_id: str | None
    user_id: str
    channel_id: str
    environment: Environment
    login_url: str
    run_as: str | None
    expires_at: datetime
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    """Makes every link distinct, so two identical requests still get two single-use links; and it is what
    single use is claimed on, because the token's text has many spellings that decrypt alike. (Not the
    cipher's nonce: a link copied with a change would then seal two texts under one nonce, which GCM forbids.)"""
    team_name: str | None = None
    channel_name: str | None = None
    user_name: str | None = None
    """Slack's names as the command carried them, for the page before Salesforce (links minted before names
    were sealed have none, and the page shows the ids)."""
    response_url: str | None = None
    """The slash command's response_url: opening the link replaces the message that offered it."""


_FIELDS = tuple(one.name for one in fields(ConnectLink))
_EXPIRES_AT = _FIELDS.index("expires_at")


class LinkSeal:
    """Seals links into the opaque token of their URL, and opens them again.

    A token is a capability, not a credential: it only ever goes to Slack in the requester's private answer,
    works once, and the `link=` rule keeps it out of logs; so it is not registered for redaction, which would
    make the registry grow with every command.
    """

    def __init__(self, *, keys: Sequence[Secret]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._ciphers = [AESGCM(_link_key(key)) for key in keys]
        # Links minted by the version before, during the ten minutes after an upgrade.
        self._fernet = SecretBox(keys=keys)

    def seal(self, link: ConnectLink) -> str:
        # The values in field order, without their names: the token appears twice in the acknowledgement (the
        # button and the fallback text), and names would make it a third longer. Whole seconds, rounded up.
        values = [getattr(link, name) for name in _FIELDS]
        values[_EXPIRES_AT] = math.ceil(link.expires_at.timestamp())
        nonce = os.urandom(_NONCE_BYTES)
        header = bytes((_VERSION,))
        sealed = self._ciphers[0].encrypt(nonce, json.dumps(values, separators=(",", ":")).encode(), header)
        return base64.urlsafe_b64encode(header + nonce + sealed).rstrip(b"=").decode("ascii")

    def open(self, token: str) -> ConnectLink:
        try:
            values = json.loads(self._plaintext(token))
            if token.startswith(_FERNET_PREFIX):
                if not isinstance(values, dict) or values.pop("v", None) != _FERNET_V1:
                    raise LinkRefused("unknown link version")
            elif isinstance(values, list) and len(values) == len(_FIELDS):
                values = dict(zip(_FIELDS, values, strict=True))
            else:
                raise LinkRefused("not a link of this bot")
            values["expires_at"] = datetime.fromtimestamp(values["expires_at"], tz=UTC)
            return ConnectLink(**values)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise LinkRefused("not a link of this bot") from exc

    def _plaintext(self, token: str) -> bytes:
        if token.startswith(_FERNET_PREFIX):
            try:
                return self._fernet.decrypt_text(token).encode()
            except (UndecryptableSecret, UnicodeEncodeError) as exc:
                raise LinkRefused("not a link of this bot") from exc
        try:
            # Decoded as leniently as Fernet decoded version 1 (excess padding and stray characters ignored):
            # single use is claimed on the nonce inside, so each respelling of a used link is "already used".
            data = base64.urlsafe_b64decode(token + "==")
        except (binascii.Error, ValueError) as exc:
            raise LinkRefused("not a link of this bot") from exc
        header, nonce, sealed = data[:1], data[1:1 + _NONCE_BYTES], data[1 + _NONCE_BYTES:]
        if header != bytes((_VERSION,)) or len(nonce) != _NONCE_BYTES:
            raise LinkRefused("not a link of this bot")
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, sealed, header)
            except InvalidTag:
                continue
        raise LinkRefused("not a link of this bot")


def _link_key(key: Secret) -> bytes:
    raw = base64.urlsafe_b64decode(key.reveal().encode("ascii"))
    return hmac.new(raw, _KEY_PURPOSE, hashlib.sha256).digest()
