"""Slack installations (multi-workspace mode): each workspace's bot token, and the one-time `state` of installs.

Bot tokens (and refresh tokens, if Slack token rotation is ever turned on) are stored encrypted; install
`state` values only as SHA-256 digests, consumed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.redaction import Secret
from storage.crypto import SecretBox, token_digest
from storage.sql import Db
from storage.timestamps import from_db_time, from_db_time_optional, to_db_time, to_db_time_optional


@dataclass(frozen=True, kw_only=True)
class SlackInstallation:
    enterprise_id: str | None
    team_id: str | None
    team_name: str | None
    enterprise_name: str | None
    is_enterprise_install: bool
    app_id: str | None
    bot_id: str
    bot_user_id: str
    bot_scopes: tuple[str, ...]
    bot_token: Secret
    bot_refresh_token: Secret | None
    bot_token_expires_at: datetime | None
    installer_user_id: str | None
    installed_at: datetime


class InstallationRepository:
    def __init__(self, db: Db, secret_box: SecretBox) -> None:
        self._db = db
        self._box = secret_box

    def save(self, installation: SlackInstallation) -> None:
        """Insert or replace the workspace's installation (a reinstall brings a new token and scopes)."""
        self._db.execute(
            """
            INSERT INTO slack_installations (enterprise_id, team_id, team_name, enterprise_name,
                is_enterprise_install, app_id, bot_id, bot_user_id, bot_scopes, bot_token_enc, bot_refresh_token_enc,
                bot_token_expires_at, installer_user_id, installed_at)
            VALUES (:enterprise_id, :team_id, :team_name, :enterprise_name, :is_enterprise_install, :app_id, :bot_id,
                :bot_user_id, :bot_scopes, :bot_token_enc, :bot_refresh_token_enc, :bot_token_expires_at,
                :installer_user_id, :installed_at)
            ON CONFLICT (enterprise_id, team_id) DO UPDATE SET
                team_name = excluded.team_name, enterprise_name = excluded.enterprise_name,
                is_enterprise_install = excluded.is_enterprise_install, app_id = excluded.app_id,
                bot_id = excluded.bot_id, bot_user_id = excluded.bot_user_id, bot_scopes = excluded.bot_scopes,
                bot_token_enc = excluded.bot_token_enc, bot_refresh_token_enc = excluded.bot_refresh_token_enc,
                bot_token_expires_at = excluded.bot_token_expires_at,
                installer_user_id = COALESCE(excluded.installer_user_id, slack_installations.installer_user_id),
                installed_at = excluded.installed_at
            """,
            _key(installation.enterprise_id, installation.team_id, installation.is_enterprise_install) | {
                "team_name": installation.team_name, "enterprise_name": installation.enterprise_name,
                "is_enterprise_install": int(installation.is_enterprise_install), "app_id": installation.app_id,
                "bot_id": installation.bot_id, "bot_user_id": installation.bot_user_id,
                "bot_scopes": ",".join(installation.bot_scopes),
                "bot_token_enc": self._box.encrypt(installation.bot_token),
                "bot_refresh_token_enc": self._box.encrypt_optional(installation.bot_refresh_token),
                "bot_token_expires_at": to_db_time_optional(installation.bot_token_expires_at),
                "installer_user_id": installation.installer_user_id,
                "installed_at": to_db_time(installation.installed_at)},
        )

    def find(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool = False
    ) -> SlackInstallation | None:
        rows = list(self._db.query(
            "SELECT * FROM slack_installations WHERE enterprise_id = :enterprise_id AND team_id = :team_id",
            _key(enterprise_id, team_id, is_enterprise_install),
        ))
        return self._to_installation(rows[0]) if rows else None

    def for_team(self, team_id: str) -> SlackInstallation | None:
        """The installation serving a workspace, whatever Enterprise Grid org it belongs to."""
        rows = list(self._db.query(
            "SELECT * FROM slack_installations WHERE team_id = :team_id ORDER BY installed_at DESC, enterprise_id"
            " LIMIT 1", {"team_id": team_id}))
        return self._to_installation(rows[0]) if rows else None

    def delete(self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool = False) -> bool:
        cursor = self._db.execute(
            "DELETE FROM slack_installations WHERE enterprise_id = :enterprise_id AND team_id = :team_id",
            _key(enterprise_id, team_id, is_enterprise_install),
        )
        return cursor.rowcount > 0

    def issue_state(self, *, state: Secret, expires_at: datetime) -> None:
        self._db.execute("INSERT INTO slack_install_states (state_digest, expires_at)"
                         " VALUES (:state_digest, :expires_at)",
                         {"state_digest": token_digest(state.reveal()), "expires_at": to_db_time(expires_at)})

    def consume_state(self, *, state: str, now: datetime) -> bool:
        """Use an install `state` once, before it expires; False for unknown, used or expired states."""
        cursor = self._db.execute(
            "UPDATE slack_install_states SET used_at = :now WHERE state_digest = :state_digest AND used_at IS NULL"
            " AND expires_at > :now",
            {"now": to_db_time(now), "state_digest": token_digest(state)},
        )
        return cursor.rowcount == 1

    def _to_installation(self, row: dict[str, Any]) -> SlackInstallation:
        return SlackInstallation(
            enterprise_id=row["enterprise_id"] or None,
            team_id=row["team_id"] or None,
            team_name=row["team_name"],
            enterprise_name=row["enterprise_name"],
            is_enterprise_install=bool(row["is_enterprise_install"]),
            app_id=row["app_id"],
            bot_id=row["bot_id"],
            bot_user_id=row["bot_user_id"],
            bot_scopes=tuple(scope for scope in row["bot_scopes"].split(",") if scope),
            bot_token=self._box.decrypt(row["bot_token_enc"]),
            bot_refresh_token=self._box.decrypt_optional(row["bot_refresh_token_enc"]),
            bot_token_expires_at=from_db_time_optional(row["bot_token_expires_at"]),
            installer_user_id=row["installer_user_id"],
            installed_at=from_db_time(row["installed_at"]),
        )


def _key(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool) -> dict[str, Any]:
    """An org-wide (Enterprise Grid) install serves every workspace of the org: it is keyed by the org alone."""
    return {"enterprise_id": enterprise_id or "", "team_id": "" if is_enterprise_install else (team_id or "")}
