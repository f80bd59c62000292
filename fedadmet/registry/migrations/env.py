"""Alembic environment: runs the package's migrations against the connection handed in by ``database``."""

from __future__ import annotations

from alembic import context

from fedadmet.registry.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
