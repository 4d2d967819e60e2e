"""What the org has (`ObservedApp`, the same shape for both app kinds) against what Quality Clouds needs,
as the ✅/⚠️/❌ checklist posted to the channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.provisioning.settings import SCOPE_LABELS, AppKind, DesiredApp, RefreshTokenPolicy
from bot.redaction import Secret


class Mark(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class ChecklistItem:
    setting: str
    mark: Mark
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"setting": self.setting, "mark": self.mark.value, "detail": self.detail}


@dataclass(frozen=True, kw_only=True)
class ObservedApp:
    kind: AppKind
    api_name: str
    label: str | None
    contact_email: str | None
    contact_phone: str | None
    description: str | None
    oauth_enabled: bool
    callback_urls: tuple[str, ...]
    scopes: frozenset[str]
    pkce_required: bool | None
    client_credentials: bool
    run_as: str | None
    refresh_token_policy: RefreshTokenPolicy | None
    consumer_key: Secret | None


@dataclass(frozen=True)
class Drift:
    setting: str
    was: str


def find_drift(*, desired: DesiredApp, run_as: str, observed: ObservedApp) -> list[Drift]:
    """Every required setting the org's app does not have, with what it has instead."""
    drift: list[Drift] = []

    def check(setting: str, ok: bool, was: object) -> None:
        if not ok:
            drift.append(Drift(setting, _shown(was)))

    check("App name", observed.label == desired.label, observed.label)
    check("Contact email", observed.contact_email == desired.contact_email, observed.contact_email)
    check("Contact phone", observed.contact_phone == desired.contact_phone, observed.contact_phone)
    check("Description", observed.description == desired.description, observed.description)
    check("OAuth enabled", observed.oauth_enabled, "off")
    check("Callback URL", desired.callback_url in observed.callback_urls, _some(observed.callback_urls))
    check("OAuth scopes", desired.scopes <= observed.scopes, ", ".join(sorted(observed.scopes)))
    check("PKCE required", observed.pkce_required is not True, "required")
    check(
        "Client credentials flow",
        observed.client_credentials and (observed.run_as or "").lower() == run_as.lower(),
        f"run as {observed.run_as}" if observed.client_credentials else "off",
    )
    check(
        "Refresh token policy",
        observed.refresh_token_policy == desired.refresh_token_policy,
        observed.refresh_token_policy.describe() if observed.refresh_token_policy else None,
    )
    return drift


def _some(values: tuple[str, ...] | list[str], shown: int = 3) -> str:
    """A few of many values (an app may have dozens of callback URLs), then how many more."""
    hidden = len(values) - shown
    return ", ".join(values[:shown]) + (f", …and {hidden} more" if hidden > 0 else "")


def build_checklist(
    *,
    desired: DesiredApp,
    run_as: str,
    run_as_is_requester: bool,
    observed: ObservedApp,
    repaired: list[Drift],
) -> list[ChecklistItem]:
    """One line per setting of SPEC §2, read from the org after provisioning."""
    remaining = {item.setting: item for item in find_drift(desired=desired, run_as=run_as, observed=observed)}
    was = {item.setting: item.was for item in repaired}
    shown = expected_values(desired=desired, run_as=run_as)

    def line(setting: str, shown: str, *, warn: str | None = None) -> ChecklistItem:
        if setting in remaining:
            return ChecklistItem(setting, Mark.FAIL, f"expected {shown}, found {remaining[setting].was}")
        detail = shown + (f" (repaired; was {was[setting]})" if setting in was else "")
        if warn:
            return ChecklistItem(setting, Mark.WARN, f"{detail}. {warn}")
        return ChecklistItem(setting, Mark.OK, detail)

    run_as_warning = (
        "It runs as you, the authorizing admin; a dedicated API-only integration user is safer "
        "(run `/qc connect-org run-as=USERNAME`)."
        if run_as_is_requester
        else None
    )
    return [
        line("App name", shown["App name"]),
        ChecklistItem("API name", Mark.OK if observed.api_name == desired.api_name else Mark.FAIL, observed.api_name),
        *(line(setting, shown[setting], warn=run_as_warning if setting == "Client credentials flow" else None)
          for setting in list(shown)[1:]),
    ]


def expected_values(*, desired: DesiredApp, run_as: str) -> dict[str, str]:
    """What each setting `find_drift` compares should read, as the checklist and drift alerts show it."""
    return {
        "App name": desired.label,
        "Contact email": desired.contact_email,
        "Contact phone": desired.contact_phone,
        "Description": desired.description,
        "OAuth enabled": "on",
        "Callback URL": desired.callback_url,
        "OAuth scopes": "; ".join(SCOPE_LABELS.get(scope, scope) for scope in sorted(desired.scopes)),
        "PKCE required": "no",
        "Client credentials flow": f"on, run as {run_as}",
        "Refresh token policy": desired.refresh_token_policy.describe(),
    }


def _shown(value: object) -> str:
    if value is None or value == "":
        return "not set"
    return str(value)
