"""The QualityClouds OAuth client as an External Client App: a header and four satellite components.

All five go out in one deploy: Salesforce deploys the header before the satellites that name it (sfdx-hardis
restores ECAs with header and settings in one manifest), and one deploy is all-or-nothing. An org that wants a
new header to exist first gets it first, and loses it again if the satellites then fail (the provisioner).
Satellites made by someone else may carry other names (e.g. `<App>_defaultPolicy`); they are found by the
parent they name and repaired in place rather than duplicated.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from bot.provisioning.checklist import ObservedApp
from bot.provisioning.documents import Fields, callback_url_with, callback_urls, flag, patched, record_fields, text
from bot.provisioning.settings import AppKind, DesiredApp, RefreshTokenPolicy, fold_scopes
from bot.redaction import Secret
from bot.salesforce.metadata import MetadataComponent

HEADER = "ExternalClientApplication"
OAUTH_SETTINGS = "ExtlClntAppOauthSettings"
GLOBAL_OAUTH_SETTINGS = "ExtlClntAppGlobalOauthSettings"
OAUTH_POLICIES = "ExtlClntAppOauthConfigurablePolicies"
POLICIES = "ExtlClntAppConfigurablePolicies"
SATELLITES = (OAUTH_SETTINGS, GLOBAL_OAUTH_SETTINGS, OAUTH_POLICIES, POLICIES)

# Element order of the v63 WSDL sequences.
ORDER: dict[str, tuple[str, ...]] = {
    HEADER: ("contactEmail", "contactPhone", "description", "distributionState", "iconUrl", "infoUrl",
             "isProtected", "label", "logoUrl", "managedType", "orgScopedExternalApp"),
    OAUTH_SETTINGS: ("areAttributesIncludedInAssetToken", "areCustomPermsIncludedInAssetToken",
                     "assetTokenAudiences", "assetTokenSigningCertificate", "assetTokenValidity",
                     "clientAssertionCertificate", "commaSeparatedCustomScopes", "commaSeparatedOauthScopes",
                     "customAttributes", "externalClientApplication", "isFirstPartyAppEnabled", "label", "oauthLink",
                     "singleLogoutUrl", "trustedIpRanges"),
    GLOBAL_OAUTH_SETTINGS: ("callbackUrl", "certificate", "consumerKey", "consumerSecret",
                            "externalClientApplication", "idTokenConfig", "isClientCredentialsFlowEnabled",
                            "isCodeCredFlowEnabled", "isCodeCredPostOnly", "isConsumerSecretOptional",
                            "isDeviceFlowEnabled", "isIntrospectAllTokens", "isNamedUserJwtEnabled", "isPkceRequired",
                            "isRefreshTokenRotationEnabled", "isSecretRequiredForRefreshToken",
                            "isSecretRequiredForTokenExchange", "isTokenExchangeEnabled", "label",
                            "shouldRotateConsumerKey", "shouldRotateConsumerSecret"),
    OAUTH_POLICIES: ("apexHandler", "clientCredentialsFlowUser", "commaSeparatedCustomScopes",
                     "commaSeparatedPermissionSet", "commaSeparatedProfile", "customAttributes", "executeHandlerAs",
                     "externalClientApplication", "guestJwtTimeout", "ipRelaxationPolicyType",
                     "isClientCredentialsFlowEnabled", "isGuestCodeCredFlowEnabled", "isNamedUserJwtEnabled",
                     "isTokenExchangeFlowEnabled", "label", "namedUserJwtTimeout", "permittedUsersPolicyType",
                     "policyAction", "refreshTokenPolicyType", "refreshTokenValidityPeriod",
                     "refreshTokenValidityUnit", "requiredSessionLevel", "sessionTimeoutInMinutes", "singleLogoutUrl",
                     "startUrl"),
    POLICIES: ("externalClientApplication", "isEnabled", "isMobilePluginEnabled", "isNotificationPluginEnabled",
               "isOauthPluginEnabled", "isPushPluginEnabled", "isSamlPluginEnabled", "label", "startPage", "startUrl"),
}

_OUR_SUFFIX = {OAUTH_SETTINGS: "_oauth", GLOBAL_OAUTH_SETTINGS: "_glbloauth", OAUTH_POLICIES: "_oauthPlcy",
               POLICIES: "_plcy"}


@dataclass
class ExistingBundle:
    """What the org holds of the app: the header record and each satellite (its full name and record)."""

    header: ET.Element | None = None
    satellites: dict[str, tuple[str, ET.Element]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.header is not None and all(kind in self.satellites for kind in SATELLITES)


def likely_first(api_name: str, names: list[str]) -> list[str]:
    """Satellite names in the order worth reading them: those that start with the app's name first (Setup and
    the usual tools name them `<App>_oauth`, `<App>GlblOAuth`, `<App>_defaultPolicy`...), then the rest."""
    return sorted(names, key=lambda name: (not name.lower().startswith(api_name.lower()), name))


def satellite_name(api_name: str, satellite: str, bundle: ExistingBundle) -> str:
    existing = bundle.satellites.get(satellite)
    return existing[0] if existing else api_name + _OUR_SUFFIX[satellite]


def header_component(*, desired: DesiredApp, bundle: ExistingBundle) -> MetadataComponent:
    current = record_fields(bundle.header) if bundle.header is not None else []
    updates: dict[str, object] = {
        "contactEmail": desired.contact_email,
        "contactPhone": desired.contact_phone,
        "description": desired.description,
        "label": desired.label,
    }
    if bundle.header is None:
        updates.update(distributionState="Local", isProtected=False)
    return MetadataComponent(HEADER, desired.api_name, patched(current, order=ORDER[HEADER], updates=updates))


def satellite_components(*, desired: DesiredApp, run_as: str, bundle: ExistingBundle) -> list[MetadataComponent]:
    """The four satellites, created or repaired. Never with a key or secret: the org generates its own (field
    reports say a supplied one may be silently replaced, reference §5.1), and qc-bot reads them back."""
    api = desired.api_name

    def build(satellite: str, updates: dict[str, object], *, drop: tuple[str, ...] = ()) -> MetadataComponent:
        existing = bundle.satellites.get(satellite)
        current = [pair for pair in record_fields(existing[1]) if pair[0] not in drop] if existing else []
        updates = {"externalClientApplication": api, "label": desired.label, **updates}
        return MetadataComponent(satellite, satellite_name(api, satellite, bundle),
                                 patched(current, order=ORDER[satellite], updates=updates))

    existing_scopes = _scopes(bundle)
    global_updates: dict[str, object] = {
        "callbackUrl": callback_url_with(text(_fields(bundle, GLOBAL_OAUTH_SETTINGS), "callbackUrl"),
                                         desired.callback_url),
        "isClientCredentialsFlowEnabled": desired.client_credentials,
        "isConsumerSecretOptional": False,
        "isPkceRequired": desired.pkce_required,
        "isSecretRequiredForRefreshToken": True,
    }
    policy_updates: dict[str, object] = {
        "clientCredentialsFlowUser": run_as if desired.client_credentials else None,
        "ipRelaxationPolicyType": "Enforce",
        "isClientCredentialsFlowEnabled": desired.client_credentials,
        "permittedUsersPolicyType": "AllSelfAuthorized",
        "refreshTokenPolicyType": None,
        "refreshTokenValidityPeriod": None,
        "refreshTokenValidityUnit": None,
        **desired.refresh_token_policy.external_client_app_fields(),
    }
    if OAUTH_POLICIES in bundle.satellites:
        del policy_updates["ipRelaxationPolicyType"], policy_updates["permittedUsersPolicyType"]
    return [
        build(OAUTH_SETTINGS, {"commaSeparatedOauthScopes": ", ".join(sorted(existing_scopes | desired.scopes))}),
        build(GLOBAL_OAUTH_SETTINGS, global_updates, drop=("consumerKey", "consumerSecret")),
        build(OAUTH_POLICIES, policy_updates),
        build(POLICIES, {"isEnabled": True, "isOauthPluginEnabled": True}),
    ]


def observe(bundle: ExistingBundle, *, api_name: str) -> ObservedApp:
    header = record_fields(bundle.header) if bundle.header is not None else []
    oauth = _fields(bundle, OAUTH_SETTINGS)
    global_oauth = _fields(bundle, GLOBAL_OAUTH_SETTINGS)
    policies = _fields(bundle, OAUTH_POLICIES)
    plugin = _fields(bundle, POLICIES)
    key = text(global_oauth, "consumerKey")
    pkce = flag(global_oauth, "isPkceRequired")
    return ObservedApp(
        kind=AppKind.EXTERNAL_CLIENT_APP,
        api_name=api_name,
        label=text(header, "label"),
        contact_email=text(header, "contactEmail"),
        contact_phone=text(header, "contactPhone"),
        description=text(header, "description"),
        oauth_enabled=bool(oauth) and bool(global_oauth) and flag(plugin, "isOauthPluginEnabled") is not False
        and flag(plugin, "isEnabled") is not False,
        callback_urls=callback_urls(text(global_oauth, "callbackUrl")),
        scopes=_scopes(bundle),
        # Unlike a Connected App, an External Client App requires PKCE unless told otherwise.
        pkce_required=True if (pkce is None and global_oauth) else pkce,
        client_credentials=bool(flag(global_oauth, "isClientCredentialsFlowEnabled"))
        and bool(flag(policies, "isClientCredentialsFlowEnabled")),
        run_as=text(policies, "clientCredentialsFlowUser"),
        refresh_token_policy=RefreshTokenPolicy.from_external_client_app(
            policy_type=text(policies, "refreshTokenPolicyType"),
            period=text(policies, "refreshTokenValidityPeriod"),
            unit=text(policies, "refreshTokenValidityUnit"),
        ),
        consumer_key=Secret(key) if key else None,
    )


def _fields(bundle: ExistingBundle, satellite: str) -> Fields:
    existing = bundle.satellites.get(satellite)
    return record_fields(existing[1]) if existing else []


def _scopes(bundle: ExistingBundle) -> frozenset[str]:
    scopes = text(_fields(bundle, OAUTH_SETTINGS), "commaSeparatedOauthScopes") or ""
    return fold_scopes(scopes.split(","))
