"""Multi-workspace mode (`SLACK_CLIENT_ID`/`SLACK_CLIENT_SECRET`): Slack's OAuth install through Bolt's
`AsyncOAuthFlow`, with installations and install `state` kept in qc-bot's own database (bot tokens
encrypted like every other secret) instead of slack_sdk's plaintext stores.

Incoming requests are authorized from the stored installation (`InstallationAuthorize`); everything the bot sends
later (the outbox) gets its client from `InstalledWorkspaceClients.for_team`. Each workspace is served only
with its own token, and every record qc-bot keeps (connections, orgs, reveals, audit) carries its team id.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.clock import Clock
from bot.config import Settings
from bot.messages import pages
from bot.redaction import Secret
from bot.slack.authorize import InstallationAuthorize
from bot.slack.manifest import BOT_SCOPES, SLACK_INSTALL_PATH, SLACK_OAUTH_REDIRECT_PATH
from storage.database import Repositories, Store
from storage.installations import SlackInstallation

logger = logging.getLogger(__name__)

INSTALL_STATE_TTL = timedelta(minutes=10)


class _OnOurStore:
    """What Bolt's stores below share: qc-bot's `Store`, the app's clock, and a logger."""

    def __init__(self, *, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    @property
    def logger(self) -> logging.Logger:
        return logger


class InstallationStore(_OnOurStore, AsyncInstallationStore):
    """Bolt's installation store over qc-bot's SQLite `Store` (bot installations only)."""

    def __init__(self, *, store: Store, clock: Clock, authorization: InstallationAuthorize) -> None:
        super().__init__(store=store, clock=clock)
        self._authorization = authorization

    async def async_save(self, installation: Installation) -> None:
        await self.async_save_bot(installation.to_bot(), installer_user_id=installation.user_id)

    async def async_save_bot(self, bot: Bot, *, installer_user_id: str | None = None) -> None:
        record = _to_record(bot, installer_user_id=installer_user_id)
        now = self._clock.now()

        def save(repos: Repositories) -> None:
            repos.installations.save(record)
            repos.audit.append(at=now, team_id=record.team_id, actor=installer_user_id or "slack",
                               action="slack_install", target=record.enterprise_id or record.team_id,
                               outcome="installed", detail={"scopes": list(record.bot_scopes)})

        await self._store.run(save)
        # A reinstall brings a new token; the one remembered may be revoked already.
        self._authorization.forget(enterprise_id=record.enterprise_id, team_id=record.team_id)
        logger.info("Installed in Slack workspace %s", record.team_id or record.enterprise_id)

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        found = await self._store.run(lambda repos: repos.installations.find(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=bool(is_enterprise_install)))
        return None if found is None else _to_bot(found)


class InstallStateStore(_OnOurStore, AsyncOAuthStateStore):
    """The install `state`: random, stored as a digest, single use, 10 minutes (the app's clock)."""

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        state = Secret(secrets.token_urlsafe(32))
        expires_at = self._clock.now() + INSTALL_STATE_TTL
        await self._store.run(lambda repos: repos.installations.issue_state(state=state, expires_at=expires_at))
        return state.reveal()

    async def async_consume(self, state: str) -> bool:
        now = self._clock.now()
        return await self._store.run(lambda repos: repos.installations.consume_state(state=state, now=now))


async def forget_workspace(
    *, store: Store, clock: Clock, authorization: InstallationAuthorize | None, enterprise_id: str | None,
    team_id: str | None, reason: str
) -> bool:
    """Delete a workspace's installation after Slack said it is gone (`app_uninstalled`, `tokens_revoked`), and
    this process's memory of it (`authorization`, in multi-workspace mode): its next request is refused at once.

    Orgs and their tokens stay: a reinstall picks them up again. Messages still queued for the workspace
    end as undeliverable, since no token can send them."""
    now = clock.now()

    def forget(repos: Repositories) -> bool:
        removed = any(
            repos.installations.delete(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=org_wide)
            for org_wide in (False, True)
        )
        repos.audit.append(at=now, team_id=team_id, actor="slack", action="slack_uninstall",
                           target=enterprise_id or team_id, outcome="forgotten" if removed else "not_installed",
                           detail={"reason": reason})
        return removed

    removed = await store.run(forget)
    if authorization is not None:
        authorization.forget(enterprise_id=enterprise_id, team_id=team_id)
    logger.info("Slack workspace %s: %s; installation %s", team_id, reason, "deleted" if removed else "not found")
    return removed


def oauth_settings(*, settings: Settings, store: Store, clock: Clock,
                   authorization: InstallationAuthorize) -> AsyncOAuthSettings:
    """Bolt's OAuth settings for `/slack/install` → Slack → `/slack/oauth_redirect`, rendered with our pages."""
    assert settings.slack_client_id is not None and settings.slack_client_secret is not None
    api = urlsplit(settings.slack_api_url)
    return AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.reveal(),
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=settings.public_url + SLACK_OAUTH_REDIRECT_PATH,
        install_path=SLACK_INSTALL_PATH,
        redirect_uri_path=SLACK_OAUTH_REDIRECT_PATH,
        # Straight to Slack's consent page: Bolt's own install page would be the one page not written by us.
        install_page_rendering_enabled=False,
        # GovSlack and tests: the authorize page lives on the same host as the Web API.
        authorization_url=f"{api.scheme}://{api.netloc}/oauth/v2/authorize",
        installation_store=InstallationStore(store=store, clock=clock, authorization=authorization),
        installation_store_bot_only=True,
        state_store=InstallStateStore(store=store, clock=clock),
        state_expiration_seconds=int(INSTALL_STATE_TTL.total_seconds()),
        callback_options=AsyncCallbackOptions(success=_installed_page, failure=_install_failed_page),
    )


def _page_response(page: pages.Page, settings: AsyncOAuthSettings) -> BoltResponse:
    return BoltResponse(status=page.status, body=page.html, headers={
        "Content-Type": "text/html; charset=utf-8", **pages.PAGE_HEADERS,
        # The state cookie has done its job (or failed): drop it.
        "Set-Cookie": [settings.state_utils.build_set_cookie_for_deletion()],
    })


async def _installed_page(args: AsyncSuccessArgs) -> BoltResponse:
    installation = args.installation
    slack_url = (pages.slack_app_url(team_id=installation.team_id, app_id=installation.app_id)
                 if installation.team_id and installation.app_id else None)
    team_name = installation.team_name or installation.enterprise_name or "your workspace"
    return _page_response(pages.slack_installed(team_name=team_name, slack_url=slack_url), args.settings)


async def _install_failed_page(args: AsyncFailureArgs) -> BoltResponse:
    # `reason` may be whatever the browser put in `error=`: a known code is logged as it is, anything else only
    # as a bounded repr (no newline can start a forged line).
    known = args.reason in pages.INSTALL_PROBLEMS or pages.SLACK_ERROR_CODE.fullmatch(args.reason)
    logger.warning("Slack installation failed: %s", args.reason if known else f"unrecognised {args.reason[:40]!r}")
    return _page_response(pages.slack_install_failed(args.reason), args.settings)


def _to_record(bot: Bot, *, installer_user_id: str | None) -> SlackInstallation:
    scopes = bot.bot_scopes if isinstance(bot.bot_scopes, list) else str(bot.bot_scopes or "").split(",")
    expires_at = (datetime.fromtimestamp(bot.bot_token_expires_at, tz=UTC)
                  if isinstance(bot.bot_token_expires_at, int | float) else None)
    return SlackInstallation(
        enterprise_id=bot.enterprise_id, team_id=bot.team_id, team_name=bot.team_name,
        enterprise_name=bot.enterprise_name, is_enterprise_install=bool(bot.is_enterprise_install),
        app_id=bot.app_id, bot_id=bot.bot_id, bot_user_id=bot.bot_user_id,
        bot_scopes=tuple(scope.strip() for scope in scopes if scope.strip()), bot_token=Secret(bot.bot_token),
        bot_refresh_token=Secret(bot.bot_refresh_token) if bot.bot_refresh_token else None,
        bot_token_expires_at=expires_at, installer_user_id=installer_user_id,
        installed_at=datetime.fromtimestamp(bot.installed_at, tz=UTC),
    )


def _to_bot(installation: SlackInstallation) -> Bot:
    return Bot(
        app_id=installation.app_id, enterprise_id=installation.enterprise_id,
        enterprise_name=installation.enterprise_name, team_id=installation.team_id,
        team_name=installation.team_name, bot_token=installation.bot_token.reveal(), bot_id=installation.bot_id,
        bot_user_id=installation.bot_user_id, bot_scopes=list(installation.bot_scopes),
        bot_refresh_token=installation.bot_refresh_token.reveal() if installation.bot_refresh_token else None,
        bot_token_expires_at=(int(installation.bot_token_expires_at.timestamp())
                              if installation.bot_token_expires_at else None),
        is_enterprise_install=installation.is_enterprise_install,
        installed_at=installation.installed_at.timestamp(),
    )
