"""Alembic's entry point: qc-bot always hands it an open connection inside a transaction (`storage.migrations`)."""

from alembic import context

context.configure(connection=context.config.attributes["connection"], transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
