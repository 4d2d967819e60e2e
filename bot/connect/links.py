"""The private "Authorize in Salesforce" link (SPEC §1 steps 1-2).

The link carries its own request — team, user, channel, where to log in, the run-as user, when it
expires — encrypted and authenticated with the first key of `QC_ENCRYPTION_KEYS` (any listed key opens
it, so rotating keys does not break links in flight). Minting one needs no database write, which keeps
the slash command's acknowledgement as cheap as Bolt's own; the link is made single-use when it is opened,
by claiming its nonce.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from storage.connections import Environment
from storage.crypto import SecretBox, UndecryptableSecret

_VERSION = 1


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
    single use is claimed on, because the token's text has many spellings that decrypt alike."""
    team_name: str | None = None
    channel_name: str | None = None
    user_name: str | None = None
    """Slack's names as the command carried them, for the page before Salesforce (links minted before names
    were sealed have none, and the page shows the ids)."""
    response_url: str | None = None
    """The slash command's response_url: opening the link replaces the message that offered it."""

    def seal(self, box: SecretBox) -> str:
        """The opaque token for the link's URL.

        It is a capability, not a credential: it only ever goes to Slack in the requester's private answer,
        works once, and the `link=` rule keeps it out of logs; so it is not registered for redaction, which
        would make the registry grow with every command.
        """
        fields = {**asdict(self), "expires_at": self.expires_at.timestamp(), "v": _VERSION}
        return box.encrypt_text(json.dumps(fields, separators=(",", ":")))

    @classmethod
    def open(cls, box: SecretBox, token: str) -> ConnectLink:
        try:
            fields = json.loads(box.decrypt_text(token))
            if fields.pop("v") != _VERSION:
                raise LinkRefused("unknown link version")
            fields["expires_at"] = datetime.fromtimestamp(fields["expires_at"], tz=UTC)
            return cls(**fields)
        except (UndecryptableSecret, ValueError, KeyError, TypeError, UnicodeEncodeError) as exc:
            raise LinkRefused("not a link of this bot") from exc
