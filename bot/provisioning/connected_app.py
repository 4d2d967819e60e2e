"""The QualityClouds OAuth client as a classic Connected App (`ConnectedApp` metadata)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from bot.provisioning.checklist import ObservedApp
from bot.provisioning.documents import (
    Fields,
    callback_url_with,
    callback_urls,
    flag,
    nested,
    patched,
    record_fields,
    text,
    values,
)
from bot.provisioning.settings import AppKind, DesiredApp, RefreshTokenPolicy, fold_scopes
from bot.redaction import Secret
from bot.salesforce.metadata import MetadataComponent

TYPE = "ConnectedApp"

# Element order of the v63 WSDL sequences.
APP_ORDER = (
    "attributes", "canvas", "canvasConfig", "contactEmail", "contactPhone", "description", "iconUrl", "infoUrl",
    "ipRanges", "label", "logoUrl", "mobileAppConfig", "mobileStartUrl", "oauthConfig", "oauthPolicy",
    "permissionSetName", "plugin", "pluginExecutionUser", "profileName", "samlConfig", "sessionPolicy", "startUrl",
)
OAUTH_CONFIG_ORDER = (
    "assetTokenConfig", "callbackUrl", "certificate", "consumerKey", "consumerSecret", "idTokenConfig",
    "isAdminApproved", "isClientCredentialEnabled", "isCodeCredentialEnabled", "isCodeCredentialPostOnly",
    "isConsumerSecretOptional", "isIntrospectAllTokens", "isNamedUserJwtEnabled", "isPkceRequired",
    "isRefreshTokenRotationEnabled", "isSecretRequiredForRefreshToken", "isSecretRequiredForTokenExchange",
    "isTokenExchangeEnabled", "oauthClientCredentialUser", "scopes", "singleLogoutUrl",
)
OAUTH_POLICY_ORDER = ("ipRelaxation", "isTokenExchangeFlowEnabled", "refreshTokenPolicy", "singleLogoutUrl")


def component(
    *,
    desired: DesiredApp,
    run_as: str,
    existing: ET.Element | None,
    consumer_key: Secret | None = None,
    consumer_secret: Secret | None = None,
) -> MetadataComponent:
    """The app to deploy: a new one (with the bot's key and secret) or the existing one with its drift repaired.

    Salesforce accepts a consumer key and secret only when an app is created, so a repair sends neither.
    """
    current = record_fields(existing) if existing is not None else []
    oauth_config = [pair for pair in nested(current, "oauthConfig")
                    if pair[0] not in ("consumerKey", "consumerSecret")]
    config_updates: dict[str, object] = {
        "callbackUrl": callback_url_with(text(oauth_config, "callbackUrl"), desired.callback_url),
        "isClientCredentialEnabled": desired.client_credentials,
        "isPkceRequired": desired.pkce_required,
        "oauthClientCredentialUser": run_as if desired.client_credentials else None,
        "scopes": sorted(fold_scopes([str(scope) for scope in values(oauth_config, "scopes")]) | desired.scopes),
    }
    if existing is None:
        config_updates.update(
            consumerKey=consumer_key,
            consumerSecret=consumer_secret,
            isAdminApproved=False,
            isConsumerSecretOptional=False,
            isSecretRequiredForRefreshToken=True,
        )
    policy = nested(current, "oauthPolicy")
    fields: Fields = patched(
        current,
        order=APP_ORDER,
        updates={
            "contactEmail": desired.contact_email,
            "contactPhone": desired.contact_phone,
            "description": desired.description,
            "label": desired.label,
            "oauthConfig": patched(oauth_config, order=OAUTH_CONFIG_ORDER, updates=config_updates),
            "oauthPolicy": patched(
                policy,
                order=OAUTH_POLICY_ORDER,
                updates={
                    "ipRelaxation": text(policy, "ipRelaxation") or "ENFORCE",
                    "refreshTokenPolicy": desired.refresh_token_policy.connected_app_value(),
                },
            ),
        },
    )
    return MetadataComponent(TYPE, desired.api_name, fields)


def observe(record: ET.Element) -> ObservedApp:
    fields = record_fields(record, drop=())
    oauth_config = nested(fields, "oauthConfig")
    key = text(oauth_config, "consumerKey")
    return ObservedApp(
        kind=AppKind.CONNECTED_APP,
        api_name=text(fields, "fullName") or "",
        label=text(fields, "label"),
        contact_email=text(fields, "contactEmail"),
        contact_phone=text(fields, "contactPhone"),
        description=text(fields, "description"),
        oauth_enabled=bool(oauth_config),
        callback_urls=callback_urls(text(oauth_config, "callbackUrl")),
        scopes=fold_scopes([str(scope) for scope in values(oauth_config, "scopes")]),
        pkce_required=flag(oauth_config, "isPkceRequired"),
        client_credentials=bool(flag(oauth_config, "isClientCredentialEnabled")),
        run_as=text(oauth_config, "oauthClientCredentialUser"),
        refresh_token_policy=RefreshTokenPolicy.from_connected_app(
            text(nested(fields, "oauthPolicy"), "refreshTokenPolicy")
        ),
        consumer_key=Secret(key) if key else None,
    )

