"""Re-encrypting every stored secret under the first key of `QC_ENCRYPTION_KEYS` (`qc-bot rotate-keys`).

Rotation without downtime: put the new key first and keep the old ones after it (MultiFernet reads
both), run this, then drop the old keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, Connection, create_engine, inspect, make_url, pool, text
from sqlalchemy.exc import SQLAlchemyError

from storage.crypto import SecretBox, UndecryptableSecret
from storage.sql import Db

# Every column that holds a Fernet token, by table. New encrypted columns must be listed here.
ENCRYPTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "orgs": ("access_token_enc", "refresh_token_enc", "consumer_key_enc", "consumer_secret_enc"),
    "oauth_states": ("code_verifier_enc",),
    "slack_installations": ("bot_token_enc", "bot_refresh_token_enc"),
    "rotations": ("new_key_enc", "new_secret_enc", "old_key_enc"),
    "connections": ("held_authorization_enc",),
}
# The primary key of each table above: a row is rewritten by its key (`rowid` exists on SQLite alone).
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "orgs": ("team_id", "org_id"),
    "oauth_states": ("state_digest",),
    "slack_installations": ("enterprise_id", "team_id"),
    "rotations": ("id",),
    "connections": ("id",),
}


def rotate_encryption(db: Db, secret_box: SecretBox) -> int:
    """Re-encrypt every stored secret with the first key; return how many values were rewritten."""
    rewritten = 0
    for table, columns in ENCRYPTED_COLUMNS.items():
        keys = PRIMARY_KEYS[table]
        where = " AND ".join(f"{key} = :{key}" for key in keys)
        for column in columns:
            rows = list(db.query(
                f"SELECT {', '.join(keys)}, {column} AS token FROM {table} WHERE {column} IS NOT NULL", {}))
            for row in rows:
                key = {name: row[name] for name in keys}
                db.execute(f"UPDATE {table} SET {column} = :token WHERE {where}",
                           key | {"token": secret_box.rotate(row["token"])})
                rewritten += 1
    return rewritten


@dataclass(frozen=True)
class StoredSecrets:
    stored: int
    undecryptable: int


class UnreadableDatabase(Exception):
    """The file cannot be read as a database (permissions, not SQLite, corrupt); the message says why."""


def check_stored_secrets(location: Path | URL, secret_box: SecretBox) -> StoredSecrets:
    """Try to decrypt every stored secret of the database at `location` (a SQLite file, or a database URL),
    opened read-only (`qc-bot doctor`).

    Raises `UnreadableDatabase` when the database cannot be read. Whatever the schema's version, nothing is
    migrated or written: the tables that exist are read.
    """
    url = make_url(f"sqlite:///file:{location}?mode=ro&uri=true") if isinstance(location, Path) else location
    engine = create_engine(url, poolclass=pool.NullPool, hide_parameters=True)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            return _check_stored_secrets(connection, secret_box)
    except SQLAlchemyError as exc:
        raise UnreadableDatabase(str(getattr(exc, "orig", None) or exc)) from exc
    finally:
        engine.dispose()


def _check_stored_secrets(connection: Connection, secret_box: SecretBox) -> StoredSecrets:
    schema = inspect(connection)
    tables = set(schema.get_table_names())
    stored = undecryptable = 0
    for table, columns in ENCRYPTED_COLUMNS.items():
        if table not in tables:
            continue
        # an older schema may lack a column added since (connections.held_authorization_enc came in 0009)
        present = {column["name"] for column in schema.get_columns(table)}
        for column in (column for column in columns if column in present):
            for (token,) in connection.execute(text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")):
                stored += 1
                try:
                    secret_box.decrypt(token)
                except UndecryptableSecret:
                    undecryptable += 1
    return StoredSecrets(stored, undecryptable)
