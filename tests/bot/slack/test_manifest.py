"""The Slack app manifest: valid against Slack's manifest field rules (shared/reference/slack.md §12), in
HTTP mode and Socket Mode, and `manifest.yml` is exactly what `qc-bot manifest` prints for the example URL."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.slack.manifest import BOT_EVENTS, BOT_SCOPES, EXAMPLE_PUBLIC_URL, build_manifest, render_manifest
from tests.support.cli import REPO_ROOT, clean_environment

URL = re.compile(r"^https?://")
KNOWN_KEYS = {
    "": {"_metadata", "display_information", "features", "oauth_config", "settings", "functions", "workflows",
         "outgoing_domains", "types", "datastores", "external_auth_providers", "compliance", "app_directory"},
    "display_information": {"name", "description", "long_description", "background_color"},
    "features": {"app_home", "bot_user", "shortcuts", "slash_commands", "unfurl_domains", "workflow_steps",
                 "assistant_view"},
    "app_home": {"home_tab_enabled", "messages_tab_enabled", "messages_tab_read_only_enabled"},
    "bot_user": {"display_name", "always_online"},
    "slash_command": {"command", "description", "url", "usage_hint", "should_escape"},
    "oauth_config": {"redirect_urls", "scopes", "token_management_enabled", "pkce_enabled"},
    "scopes": {"bot", "user", "bot_optional", "user_optional"},
    "settings": {"allowed_ip_address_ranges", "event_subscriptions", "incoming_webhooks", "interactivity",
                 "org_deploy_enabled", "socket_mode_enabled", "token_rotation_enabled", "is_hosted",
                 "function_runtime", "siws_links"},
    "event_subscriptions": {"request_url", "bot_events", "user_events", "metadata_subscriptions"},
    "interactivity": {"is_enabled", "request_url", "message_menu_options_url"},
}


def manifest_problems(manifest: dict) -> list[str]:
    """Every violation of the manifest field constraints listed in reference/slack.md §12."""
    problems: list[str] = []

    def check(condition: bool, message: str) -> None:
        if not condition:
            problems.append(message)

    def keys(section: dict, kind: str, where: str) -> None:
        unknown = set(section) - KNOWN_KEYS[kind]
        check(not unknown, f"{where}: unknown keys {sorted(unknown)}")

    keys(manifest, "", "manifest")
    check(manifest.get("_metadata", {}).get("major_version") == 1, "_metadata.major_version must select schema 1")
    display = manifest.get("display_information") or {}
    keys(display, "display_information", "display_information")
    check(isinstance(display.get("name"), str) and 1 <= len(display["name"]) <= 35, "name: 1-35 characters")
    check(len(display.get("description", "")) <= 140, "description: at most 140 characters")
    if "long_description" in display:
        check(175 <= len(display["long_description"]) <= 4000, "long_description: 175-4000 characters")
    if "background_color" in display:
        check(re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", display["background_color"]) is not None,
              "background_color: a hex colour")
    features = manifest.get("features") or {}
    keys(features, "features", "features")
    keys(features.get("app_home") or {}, "app_home", "features.app_home")
    for flag in (features.get("app_home") or {}).values():
        check(isinstance(flag, bool), "features.app_home: flags are booleans")
    bot_user = features.get("bot_user") or {}
    keys(bot_user, "bot_user", "features.bot_user")
    check(isinstance(bot_user.get("display_name"), str) and 1 <= len(bot_user["display_name"]) <= 80,
          "bot_user.display_name: required, at most 80 characters")
    commands = features.get("slash_commands") or []
    check(len(commands) <= 50, "slash_commands: at most 50")
    for command in commands:
        keys(command, "slash_command", "slash command")
        check(re.match(r"^/", command.get("command", "")) is not None and len(command["command"]) <= 32,
              "command: starts with / and has at most 32 characters")
        check(isinstance(command.get("description"), str) and len(command["description"]) <= 2000,
              "command description: required, at most 2000 characters")
        if "url" in command:
            check(URL.match(command["url"]) is not None, "command url: http(s)")
        check(len(command.get("usage_hint", "")) <= 1000, "usage_hint: at most 1000 characters")
        check(isinstance(command.get("should_escape", False), bool), "should_escape: boolean")
    oauth = manifest.get("oauth_config") or {}
    keys(oauth, "oauth_config", "oauth_config")
    redirects = oauth.get("redirect_urls") or []
    check(len(redirects) <= 1000 and all(URL.match(url) for url in redirects), "redirect_urls: at most 1000 URLs")
    keys(oauth.get("scopes") or {}, "scopes", "oauth_config.scopes")
    settings = manifest.get("settings") or {}
    keys(settings, "settings", "settings")
    events = settings.get("event_subscriptions") or {}
    keys(events, "event_subscriptions", "settings.event_subscriptions")
    if "request_url" in events:
        check(URL.match(events["request_url"]) is not None, "event request_url: http(s)")
    interactivity = settings.get("interactivity") or {}
    keys(interactivity, "interactivity", "settings.interactivity")
    if interactivity:
        check(isinstance(interactivity.get("is_enabled"), bool), "interactivity.is_enabled: required boolean")
    if "request_url" in interactivity:
        check(URL.match(interactivity["request_url"]) is not None, "interactivity request_url: http(s)")
    for flag in ("socket_mode_enabled", "token_rotation_enabled", "org_deploy_enabled"):
        check(isinstance(settings.get(flag, False), bool), f"settings.{flag}: boolean")
    return problems


def test_the_validator_catches_what_slack_refuses():
    broken = build_manifest(public_url=EXAMPLE_PUBLIC_URL, socket_mode=False)
    broken["display_information"]["name"] = "x" * 36
    broken["display_information"]["long_description"] = "too short"
    broken["features"]["slash_commands"][0]["command"] = "qc"
    broken["settings"]["interactivity"] = {"request_url": "ftp://example.com"}
    broken["features"]["bot_user"]["nickname"] = "qc"
    assert len(manifest_problems(broken)) == 6


def test_http_manifest_is_valid_and_points_every_request_at_slack_events():
    manifest = build_manifest(public_url="https://bot.acme.example/", socket_mode=False)
    assert manifest_problems(manifest) == []
    events_url = "https://bot.acme.example/slack/events"
    assert manifest["features"]["slash_commands"][0]["url"] == events_url
    assert manifest["settings"]["interactivity"] == {"is_enabled": True, "request_url": events_url}
    assert manifest["settings"]["event_subscriptions"]["request_url"] == events_url
    assert manifest["oauth_config"]["redirect_urls"] == ["https://bot.acme.example/slack/oauth_redirect"]
    assert manifest["settings"]["socket_mode_enabled"] is False


def test_the_manifest_asks_for_what_the_bot_uses():
    manifest = build_manifest(public_url=EXAMPLE_PUBLIC_URL, socket_mode=False)
    assert set(manifest["oauth_config"]["scopes"]["bot"]) >= {"commands", "chat:write", "chat:write.public",
                                                              "users:read"}
    assert manifest["features"]["slash_commands"][0]["command"] == "/qc"
    # The Home tab (another branch builds it) and the uninstall/revocation events of multi-workspace mode.
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {"app_home_opened",
                                                                              "app_uninstalled", "tokens_revoked"}
    assert tuple(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
    assert tuple(manifest["settings"]["event_subscriptions"]["bot_events"]) == BOT_EVENTS


def test_socket_mode_manifest_has_no_request_urls():
    manifest = build_manifest(public_url=None, socket_mode=True)
    assert manifest_problems(manifest) == []
    assert manifest["settings"]["socket_mode_enabled"] is True
    text = yaml.safe_dump(manifest)
    assert "url" not in text.replace("redirect_urls", "")
    with_url = build_manifest(public_url=EXAMPLE_PUBLIC_URL, socket_mode=True)
    assert "url" not in with_url["features"]["slash_commands"][0]
    assert with_url["oauth_config"]["redirect_urls"] == [EXAMPLE_PUBLIC_URL + "/slack/oauth_redirect"]


def test_http_mode_needs_a_public_url():
    with pytest.raises(ValueError):
        build_manifest(public_url=None, socket_mode=False)


def test_manifest_yml_is_the_generated_manifest_for_the_example_url():
    committed = (REPO_ROOT / "manifest.yml").read_text(encoding="utf-8")
    assert committed == render_manifest(public_url=EXAMPLE_PUBLIC_URL, socket_mode=False), (
        "manifest.yml is out of date: run `qc-bot manifest --public-url https://qc-bot.example.com > manifest.yml`")
    assert manifest_problems(yaml.safe_load(committed)) == []


def run_manifest(arguments, cwd: Path, **environment):
    return subprocess.run([sys.executable, "-m", "bot.cli", "manifest", *arguments], cwd=cwd, text=True,
                          capture_output=True, env=clean_environment(**environment), timeout=60)


def test_cli_prints_the_manifest_for_qc_public_url_from_dotenv(tmp_path):
    (tmp_path / ".env").write_text("QC_PUBLIC_URL=https://qc.acme.example/\n", encoding="utf-8")
    result = run_manifest([], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == render_manifest(public_url="https://qc.acme.example", socket_mode=False)


def test_cli_prints_socket_mode_when_an_app_token_is_configured(tmp_path):
    result = run_manifest([], tmp_path, SLACK_APP_TOKEN="xapp-1-A1-1-abc")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["settings"]["socket_mode_enabled"] is True
    flagged = run_manifest(["--socket-mode"], tmp_path)
    assert flagged.stdout == result.stdout


def test_cli_explains_a_missing_or_bad_public_url(tmp_path):
    missing = run_manifest([], tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.startswith("qc-bot: configuration error: QC_PUBLIC_URL: missing")
    assert "--socket-mode" in missing.stderr
    insecure = run_manifest(["--public-url", "http://qc.acme.example"], tmp_path)
    assert insecure.returncode == 2 and "must use https" in insecure.stderr
