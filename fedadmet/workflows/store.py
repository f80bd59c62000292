"""The registry as workflows hand it around: entry points open it here from their settings and pass it in,
without importing the registry's tables or queries."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from fedadmet.registry.database import open_registry

Store = sessionmaker[Session]


def open_store(registry_url: str | None = None) -> Store:
    """Sessions on the registry at ``registry_url``, migrated to the newest schema (once per URL and process)."""
    return open_registry(registry_url)
