"""Slack installations (multi-workspace mode): each workspace's bot token, and the one-time `state` of installs.

Bot tokens (and refresh tokens, if Slack token rotation is ever turned on) are stored encrypted; install
`state` values only as SHA-256 digests, consumed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.redaction import Secret
from storage.crypto import SecretBox, token_digest
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
    def __init__(self, db: sqlite_utils.Database, secret_box: SecretBox) -> None:
        self._db = db
        self._box = secret_box

    def save(self, installation: SlackInstallation) -> None:
        """Insert or replace the workspace's installation (a reinstall brings a new token and scopes)."""
        self._db.execute(
            """
            INSERT INTO slack_installations (enterprise_id, team_id, team_name, enterprise_name,
                is_enterprise_install, app_id, bot_id, bot_user_id, bot_scopes, bot_token_enc, bot_refresh_token_enc,
                bot_token_expires_at, installer_user_id, installed_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (enterprise_id, team_id) DO UPDATE SET
                team_name = excluded.team_name, enterprise_name = excluded.enterprise_name,
                is_enterprise_install = excluded.is_enterprise_install, app_id = excluded.app_id,
                bot_id = excluded.bot_id, bot_user_id = excluded.bot_user_id, bot_scopes = excluded.bot_scopes,
                bot_token_enc = excluded.bot_token_enc, bot_refresh_token_enc = excluded.bot_refresh_token_enc,
                bot_token_expires_at = excluded.bot_token_expires_at,
                installer_user_id = COALESCE(excluded.installer_user_id, slack_installations.installer_user_id),
                installed_at = excluded.installed_at
            """,
            [*_key(installation.enterprise_id, installation.team_id, installation.is_enterprise_install),
             installation.team_name, installation.enterprise_name, int(installation.is_enterprise_install),
             installation.app_id, installation.bot_id, installation.bot_user_id, ",".join(installation.bot_scopes),
             self._box.encrypt(installation.bot_token), self._box.encrypt_optional(installation.bot_refresh_token),
             to_db_time_optional(installation.bot_token_expires_at),
             installation.installer_user_id, to_db_time(installation.installed_at)],
        )

    def find(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool = False
    ) -> SlackInstallation | None:
        rows = list(self._db.query(
            "SELECT * FROM slack_installations WHERE enterprise_id = ? AND team_id = ?",
            _key(enterprise_id, team_id, is_enterprise_install),
        ))
        return self._to_installation(rows[0]) if rows else None

    def for_team(self, team_id: str) -> SlackInstallation | None:
        """The installation serving a workspace, whatever Enterprise Grid org it belongs to."""
        rows = list(self._db.query(
            "SELECT * FROM slack_installations WHERE team_id = ? ORDER BY installed_at DESC LIMIT 1", [team_id]))
        return self._to_installation(rows[0]) if rows else None

    def delete(self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool = False) -> bool:
        cursor = self._db.execute(
            "DELETE FROM slack_installations WHERE enterprise_id = ? AND team_id = ?",
            _key(enterprise_id, team_id, is_enterprise_install),
        )
        return cursor.rowcount > 0

    def issue_state(self, *, state: Secret, expires_at: datetime) -> None:
        self._db.execute("INSERT INTO slack_install_states (state_digest, expires_at) VALUES (?, ?)",
                         [token_digest(state.reveal()), to_db_time(expires_at)])

    def consume_state(self, *, state: str, now: datetime) -> bool:
        """Use an install `state` once, before it expires; False for unknown, used or expired states."""
        cursor = self._db.execute(
            "UPDATE slack_install_states SET used_at = ? WHERE state_digest = ? AND used_at IS NULL"
            " AND expires_at > ?",
            [to_db_time(now), token_digest(state), to_db_time(now)],
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


def _key(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool) -> list[str]:
    """An org-wide (Enterprise Grid) install serves every workspace of the org: it is keyed by the org alone."""
    return [enterprise_id or "", "" if is_enterprise_install else (team_id or "")]
