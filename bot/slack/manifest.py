"""The Slack app manifest (SPEC §3): the one place that says which commands, scopes, events and URLs
the Slack app needs. `qc-bot manifest` prints it; `manifest.yml` in the repository is its output for
`EXAMPLE_PUBLIC_URL` (a test keeps the two equal).

In HTTP mode every Slack request (commands, interactivity, events) goes to `<QC_PUBLIC_URL>/slack/events`.
In Socket Mode Slack delivers them over the websocket instead, so the manifest names no request URL; the
OAuth redirect URL (multi-workspace install) is listed whenever a public URL is known.
"""

from __future__ import annotations

from typing import Any

import yaml

from bot.messages.actions import COMMAND

EXAMPLE_PUBLIC_URL = "https://qc-bot.example.com"
SLACK_EVENTS_PATH = "/slack/events"
SLACK_INSTALL_PATH = "/slack/install"
SLACK_OAUTH_REDIRECT_PATH = "/slack/oauth_redirect"

BOT_SCOPES = ("commands", "chat:write", "chat:write.public", "users:read", "users:read.email")
"""commands: `/qc`; chat:write(.public): status and warnings in channels the bot was not invited to;
users:read: `users.info` tells workspace admins and owners apart (who may connect orgs); users:read.email: the
requester's e-mail address, so that an authorization by the same person in Salesforce needs no confirmation."""

CONVENIENCE_SCOPES = frozenset({"users:read.email"})
"""Scopes qc-bot works without (an app installed before it asked for one): without users:read.email every
authorization is confirmed by its requester in Slack."""

BOT_EVENTS = ("app_home_opened", "app_uninstalled", "tokens_revoked")
"""The Home tab dashboard, and the two events that tell a multi-workspace bot to forget an installation."""

_LONG_DESCRIPTION = (
    "qc-bot connects a Salesforce org to Quality Clouds without anyone clicking through Salesforce Setup. "
    f"An admin types {COMMAND} connect-org, authorizes in Salesforce through a private one-time link, and "
    "qc-bot provisions the QualityClouds OAuth client (an External Client App, or repairs an existing "
    "Connected App) with exactly the settings Quality Clouds documents. The channel gets a masked status with "
    "a settings checklist; the full consumer key and secret go only to the admin who asked. Before the refresh "
    "tokens run out, qc-bot warns the channel; /qc status and the Home tab show every connected org, and "
    "/qc disconnect-org forgets one."
)


def build_manifest(*, public_url: str | None, socket_mode: bool) -> dict[str, Any]:
    """The manifest as data. HTTP mode needs `public_url`; Socket Mode uses it only for the OAuth redirect."""
    if not socket_mode and not public_url:
        raise ValueError("HTTP mode needs the public URL that Slack sends requests to")
    base = (public_url or "").rstrip("/")
    request_url = {} if socket_mode else {"url": base + SLACK_EVENTS_PATH}
    slash_command = {
        "command": COMMAND,
        **request_url,
        "description": "Connect a Salesforce org to Quality Clouds",
        "usage_hint": "connect-org [production|sandbox|<My Domain URL>] [run-as=<username>] | status"
                      " | disconnect-org <org id or name> [delete-app] | help",
        "should_escape": False,
    }
    oauth_config: dict[str, Any] = {}
    if base:
        oauth_config["redirect_urls"] = [base + SLACK_OAUTH_REDIRECT_PATH]
    oauth_config["scopes"] = {"bot": list(BOT_SCOPES)}
    events: dict[str, Any] = {} if socket_mode else {"request_url": base + SLACK_EVENTS_PATH}
    events["bot_events"] = list(BOT_EVENTS)
    interactivity: dict[str, Any] = {"is_enabled": True}
    if not socket_mode:
        interactivity["request_url"] = base + SLACK_EVENTS_PATH
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": "qc-bot",
            "description": "Connect Salesforce orgs to Quality Clouds from Slack",
            "background_color": "#1d3c6e",
            "long_description": _LONG_DESCRIPTION,
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": False,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": "qc-bot", "always_online": True},
            "slash_commands": [slash_command],
        },
        "oauth_config": oauth_config,
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def render_manifest(*, public_url: str | None, socket_mode: bool) -> str:
    """The manifest as YAML, with a comment saying how to use it."""
    manifest = build_manifest(public_url=public_url, socket_mode=socket_mode)
    if socket_mode:
        mode = "in Socket Mode (Slack's requests arrive over a websocket; set SLACK_APP_TOKEN)"
    else:
        mode = f"in HTTP mode for {public_url}"
    header = (
        f"# Slack app manifest for qc-bot {mode}.\n"
        "# `qc-bot manifest` prints it for your QC_PUBLIC_URL (bot/manifest.py generates it; edit that).\n"
        "# Create the app at https://api.slack.com/apps → Create New App → From a manifest.\n"
    )
    return header + yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=100)
