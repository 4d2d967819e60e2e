"""The settings Quality Clouds requires of its OAuth client (SPEC §2), as data.

Both app kinds are generated from one `DesiredApp`; `RefreshTokenPolicy` maps the operator's
`QC_REFRESH_TOKEN_POLICY` onto each kind's policy fields and back, and computes token expiry.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

PolicyKind = Literal["infinite", "zero", "lifetime", "inactivity"]
PolicyUnit = Literal["HOURS", "DAYS", "MONTHS"]

_UNIT_LETTERS: dict[str, PolicyUnit] = {"h": "HOURS", "d": "DAYS", "m": "MONTHS"}
_ECA_UNITS: dict[PolicyUnit, str] = {"HOURS": "Hours", "DAYS": "Days", "MONTHS": "Months"}
_ECA_TYPES: dict[PolicyKind, str] = {
    "infinite": "Infinite",
    "zero": "Zero",
    "lifetime": "SpecificLifetime",
    "inactivity": "SpecificInactivity",
}
_CONNECTED_APP_PATTERN = re.compile(r"^specific_(lifetime|inactivity):(\d+):(HOURS|DAYS|MONTHS)$")
_CONFIG_PATTERN = re.compile(r"^(idle:)?(\d+)([hdm])$")


class AppKind(StrEnum):
    EXTERNAL_CLIENT_APP = "external-client-app"
    CONNECTED_APP = "connected-app"

    @property
    def label(self) -> str:
        return "External Client App" if self is AppKind.EXTERNAL_CLIENT_APP else "Connected App"


@dataclass(frozen=True)
class RefreshTokenPolicy:
    kind: PolicyKind
    amount: int | None = None
    unit: PolicyUnit | None = None

    @classmethod
    def parse(cls, text: str) -> RefreshTokenPolicy:
        """Parse `never`, `Nh`, `Nd`, `Nm` (fixed lifetime) or `idle:N[hdm]` (expires after N unused)."""
        value = text.strip().lower()
        if value == "never":
            return cls("infinite")
        match = _CONFIG_PATTERN.match(value)
        if not match or int(match.group(2)) <= 0:
            raise ValueError(f"not a refresh token policy: {text!r}")
        kind: PolicyKind = "inactivity" if match.group(1) else "lifetime"
        return cls(kind, int(match.group(2)), _UNIT_LETTERS[match.group(3)])

    @classmethod
    def from_connected_app(cls, value: str | None) -> RefreshTokenPolicy | None:
        if value is None:
            return None
        if value in ("infinite", "zero"):
            return cls(value)  # type: ignore[arg-type]
        match = _CONNECTED_APP_PATTERN.match(value)
        if not match:
            return None
        return cls(match.group(1), int(match.group(2)), match.group(3))  # type: ignore[arg-type]

    @classmethod
    def from_external_client_app(
        cls, *, policy_type: str | None, period: str | None, unit: str | None
    ) -> RefreshTokenPolicy | None:
        kinds = {eca: kind for kind, eca in _ECA_TYPES.items()}
        units = {eca: unit_name for unit_name, eca in _ECA_UNITS.items()}
        kind = kinds.get(policy_type or "")
        if kind is None:
            return None
        if kind in ("infinite", "zero"):
            return cls(kind)
        if period is None or not period.isdigit() or unit not in units:
            return None
        return cls(kind, int(period), units[unit])

    def connected_app_value(self) -> str:
        """`ConnectedAppOauthPolicy.refreshTokenPolicy`, e.g. `specific_lifetime:90:DAYS`."""
        if self.kind in ("infinite", "zero"):
            return self.kind
        return f"specific_{self.kind}:{self.amount}:{self.unit}"

    def external_client_app_fields(self) -> dict[str, str]:
        """`ExtlClntAppOauthConfigurablePolicies` fields, in WSDL order."""
        fields = {"refreshTokenPolicyType": _ECA_TYPES[self.kind]}
        if self.amount is not None and self.unit is not None:
            fields["refreshTokenValidityPeriod"] = str(self.amount)
            fields["refreshTokenValidityUnit"] = _ECA_UNITS[self.unit]
        return fields

    def describe(self) -> str:
        if self.kind == "infinite":
            return "valid until revoked"
        if self.kind == "zero":
            return "expire immediately"
        unit = (self.unit or "").lower()
        if self.amount == 1:
            unit = unit.rstrip("s")
        if self.kind == "lifetime":
            return f"expire after {self.amount} {unit}"
        return f"expire if not used for {self.amount} {unit}"

    def expires_at(self, *, issued_at: datetime, last_used_at: datetime | None) -> datetime | None:
        """When a refresh token under this policy stops working; None for `infinite`."""
        if self.kind == "infinite":
            return None
        if self.kind == "zero":
            return issued_at
        start = self.window_start(issued_at=issued_at, last_used_at=last_used_at)
        assert self.amount is not None and self.unit is not None
        if self.unit == "HOURS":
            return start + timedelta(hours=self.amount)
        if self.unit == "DAYS":
            return start + timedelta(days=self.amount)
        return _add_months(start, self.amount)


    def window_start(self, *, issued_at: datetime, last_used_at: datetime | None) -> datetime:
        """Where the token's current validity window began: its issue, or its last use under inactivity."""
        return (last_used_at or issued_at) if self.kind == "inactivity" else issued_at


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# Metadata scope names (ConnectedAppOauthAccessScope); Salesforce reads some back under an alias.
SCOPE_ALIASES = {"OfflineAccess": "RefreshToken", "Profile": "Basic", "Email": "Basic", "Address": "Basic",
                 "Phone": "Basic"}
SCOPE_LABELS = {"Api": "api (Manage user data via APIs)",
                "RefreshToken": "refresh_token, offline_access (Perform requests at any time)"}


def fold_scopes(scopes: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    return frozenset(SCOPE_ALIASES.get(scope.strip(), scope.strip()) for scope in scopes if scope.strip())


@dataclass(frozen=True, kw_only=True)
class DesiredApp:
    """What Quality Clouds needs in the org; defaults are SPEC §2, overridable by configuration."""

    label: str = "QualityClouds"
    api_name: str = "QualityClouds"
    contact_email: str = "help@qualityclouds.com"
    contact_phone: str = "+44 20 3290 0456"
    description: str = "QualityClouds connection for REST API calls"
    callback_url: str = "https://scan.qualityclouds.com/sf_instance/code_callback"
    scopes: frozenset[str] = field(default_factory=lambda: frozenset({"Api", "RefreshToken"}))
    pkce_required: bool = False
    client_credentials: bool = True
    refresh_token_policy: RefreshTokenPolicy = field(default_factory=lambda: RefreshTokenPolicy("lifetime", 90,
                                                                                                 "DAYS"))
