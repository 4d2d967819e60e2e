"""OAuth state of the fake: clients, refresh-token policies, codes and tokens.

Lifetimes run on the fake's clock:

* authorization codes: 15 minutes, single use;
* access tokens: ``FakeSalesforce.access_token_lifetime`` (2 hours) from issue, fixed (Salesforce
  extends sessions on activity; the fake does not, which only makes expiry come sooner);
* refresh tokens: the client's policy, evaluated only when the token is used (as Salesforce does):
  ``infinite``; ``zero`` (unusable at once); ``lifetime`` (from first issue); ``idle`` (from last
  use, each use extends).

A refresh token belongs to a *family*: rotation replaces the family's current token, and
presenting a superseded token of the family revokes the whole family (Salesforce: "reusing an old
one deletes the current refresh token and its access tokens").  Revoking a family revokes every
access token issued from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from .clock import add_months
from .ids import new_access_token, new_opaque, new_refresh_token

if TYPE_CHECKING:
    from .org import FakeOrg, FakeUser, OauthTokenRow

CODE_LIFETIME = timedelta(minutes=15)

PolicyKind = Literal["infinite", "zero", "lifetime", "idle"]
Unit = Literal["hours", "days", "months"]

_UNIT_LETTERS = {"h": "hours", "d": "days", "m": "months"}
_UNIT_WORDS = {"HOURS": "hours", "DAYS": "days", "MONTHS": "months"}


@dataclass(frozen=True)
class RefreshPolicy:
    """How long a refresh token stays usable."""

    kind: PolicyKind = "infinite"
    amount: int = 0
    unit: Unit = "days"

    @classmethod
    def parse(cls, text: str) -> RefreshPolicy:
        """Accepts ``infinite``, ``zero``, ``lifetime:90d``, ``idle:30d`` (units h/d/m) and the
        ConnectedApp forms ``specific_lifetime:90:DAYS`` / ``specific_inactivity:30:DAYS``."""
        text = text.strip()
        if text in ("infinite", "zero"):
            return cls(text)  # type: ignore[arg-type]
        m = re.fullmatch(r"(lifetime|idle):(\d+)([hdm])", text)
        if m:
            kind: PolicyKind = "lifetime" if m[1] == "lifetime" else "idle"
            return cls(kind, int(m[2]), _UNIT_LETTERS[m[3]])  # type: ignore[arg-type]
        m = CONNECTED_APP_POLICY.fullmatch(text)
        if m and m[1] != "infinite" and m[1] != "zero":
            kind = "lifetime" if m[2] == "specific_lifetime" else "idle"
            return cls(kind, int(m[3]), _UNIT_WORDS[m[4]])  # type: ignore[arg-type]
        if m:
            return cls(m[1])  # type: ignore[arg-type]
        raise ValueError(f"unknown refresh token policy {text!r}")

    @classmethod
    def from_eca(cls, policy_type: str | None, period: int | None, unit: str | None) -> RefreshPolicy:
        if policy_type in (None, "Infinite"):
            return cls("infinite")
        if policy_type == "Zero":
            return cls("zero")
        kind: PolicyKind = "lifetime" if policy_type == "SpecificLifetime" else "idle"
        return cls(kind, int(period or 0), (unit or "Days").lower())  # type: ignore[arg-type]

    def add(self, when: datetime) -> datetime:
        if self.unit == "months":
            return add_months(when, self.amount)
        return when + timedelta(**{self.unit: self.amount})

    def expires_at(self, created: datetime, last_used: datetime) -> datetime | None:
        """When a token issued at ``created`` and last used at ``last_used`` stops working."""
        if self.kind == "infinite":
            return None
        if self.kind == "zero":
            return created
        return self.add(created if self.kind == "lifetime" else last_used)


CONNECTED_APP_POLICY = re.compile(
    r"(infinite|zero|(specific_lifetime|specific_inactivity):([1-9]\d*):(HOURS|DAYS|MONTHS))"
)


@dataclass
class OAuthClient:
    """An OAuth client as the token endpoint sees it (the bot's own app, or an app in an org)."""

    key: str
    secret: str
    label: str
    redirect_uris: tuple[str, ...] = ()
    pkce_required: bool = False
    scopes: frozenset[str] = frozenset({"api", "refresh_token", "offline_access"})
    refresh_policy: RefreshPolicy = field(default_factory=RefreshPolicy)
    rotate_refresh_tokens: bool = False
    secret_required_for_refresh: bool = True
    secret_optional: bool = False
    org: FakeOrg | None = None  # None: lives outside the customer orgs
    kind: str = "external"  # "external" | "ConnectedApp" | "ExternalClientApplication"
    app_name: str | None = None
    client_credentials_enabled: bool = False
    client_credentials_user: str | None = None


@dataclass(eq=False)
class AuthCode:
    code: str
    client_key: str
    redirect_uri: str | None
    org: FakeOrg
    user: FakeUser
    scopes: tuple[str, ...]
    challenge: str | None
    created: datetime
    used: bool = False
    issued_access: list[str] = field(default_factory=list)
    family: RefreshFamily | None = None


@dataclass(eq=False)
class RefreshFamily:
    """All refresh tokens descending from one grant (one ``OauthToken`` row and/or one OAuth Usage token)."""

    id: str
    org: FakeOrg
    user: FakeUser
    client_key: str
    scopes: tuple[str, ...]
    created: datetime
    last_used: datetime
    current: str
    use_count: int = 0
    revoked: bool = False
    row: OauthTokenRow | None = None
    tokens: list[str] = field(default_factory=list)
    eca_name: str | None = None  # the External Client App that issued it: listed in its OAuth Usage
    usage_id: str | None = None  # its id in the OAuth Usage resources (the tail of ``revocationUrl``)


@dataclass(eq=False)
class AccessToken:
    token: str
    org: FakeOrg
    user: FakeUser
    client_key: str
    scopes: tuple[str, ...]
    issued: datetime
    expires: datetime
    family: RefreshFamily | None = None
    revoked: bool = False

    def active(self, now: datetime) -> bool:
        family_ok = self.family is None or not self.family.revoked
        return not self.revoked and family_ok and now < self.expires


class TokenStore:
    """Codes, access tokens and refresh token families of the whole fake."""

    def __init__(self) -> None:
        self.codes: dict[str, AuthCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshFamily] = {}
        self.families: dict[str, RefreshFamily] = {}

    def new_access(
        self,
        *,
        org: FakeOrg,
        user: FakeUser,
        client_key: str,
        scopes: tuple[str, ...],
        now: datetime,
        lifetime: timedelta,
        family: RefreshFamily | None,
    ) -> AccessToken:
        token = AccessToken(
            new_access_token(org.id), org, user, client_key, scopes, now, now + lifetime, family
        )
        self.access[token.token] = token
        return token

    def new_family(
        self, *, org: FakeOrg, user: FakeUser, client_key: str, scopes: tuple[str, ...], now: datetime
    ) -> RefreshFamily:
        token = new_refresh_token()
        family = RefreshFamily(new_opaque(12), org, user, client_key, scopes, now, now, token, tokens=[token])
        self.refresh[token] = family
        self.families[family.id] = family
        return family

    def rotate(self, family: RefreshFamily) -> str:
        token = new_refresh_token()
        family.current = token
        family.tokens.append(token)
        self.refresh[token] = family
        return token

    def revoke_family(self, family: RefreshFamily) -> None:
        family.revoked = True
        if family.row is not None:
            family.row.org.remove_oauth_token_row(family.row)
            family.row = None

    def active_access(self, token: str, now: datetime) -> AccessToken | None:
        record = self.access.get(token)
        return record if record is not None and record.active(now) else None

    def expire_org_sessions(self, org: FakeOrg) -> int:
        count = 0
        for record in self.access.values():
            if record.org is org and not record.revoked:
                record.revoked = True
                count += 1
        return count
