"""API users and keys: make, list, revoke and check them, and the key of the person at this machine that
`fedadmet serve` opens the web page with. Keys are shown once; the registry keeps only their hashes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fedadmet.registry import repository
from fedadmet.registry.tables import as_utc
from fedadmet.workflows.store import Store

LOCAL_USER = "local"


@dataclass(frozen=True)
class Caller:
    """Who a valid key belongs to; ``partner`` limits which partners' metrics the key sees (None: all, the
    operator; "": none, a user of no partner)."""

    id: int
    name: str
    partner: str | None


@dataclass(frozen=True)
class CreatedKey:
    key: str  # shown once, never stored
    user: str
    prefix: str
    partner: str | None
    unknown_partner: bool  # no federation run in the registry names this partner (yet)
    same_but_case: list[str]  # known partners spelt like it in another case: the likely meant ones


@dataclass(frozen=True)
class KeyView:
    user: str
    partner: str | None
    prefix: str
    created: datetime
    revoked: bool


def create_key(store: Store, user: str, partner: str | None = None, operator: bool = False) -> CreatedKey:
    """A new key for ``user``, created on first use belonging to ``partner`` if given, to the operator (sees
    every partner's metrics) only if ``operator``, else to no partner (the consortium's means only)."""
    with store.begin() as session:
        key, row = repository.create_api_key(session, user, partner, operator=operator)
        belongs, known = row.user.partner, repository.known_partners(session)
        prefix = row.prefix
    unknown = bool(belongs) and belongs not in known
    similar = sorted(name for name in known if belongs is not None and name.casefold() == belongs.casefold())
    return CreatedKey(key, user, prefix, belongs, unknown, similar if unknown else [])


def list_keys(store: Store) -> list[KeyView]:
    """Every key, revoked ones too, oldest first."""
    with store() as session:
        return [
            KeyView(key.user.name, key.user.partner, key.prefix, as_utc(key.created), key.revoked)
            for key in repository.list_api_keys(session)
        ]


def revoke_keys(store: Store, key_or_prefix: str) -> int:
    """Revoke the key given whole, or the active keys with this 8-character prefix; how many were revoked."""
    with store.begin() as session:
        return repository.revoke_api_keys(session, key_or_prefix)


def check_key(store: Store, key: str) -> Caller | None:
    """The caller a valid, unrevoked key belongs to; None for anything else."""
    with store() as session:
        user = repository.user_for_key(session, key)
        return None if user is None else Caller(user.id, user.name, user.partner)


def local_api_key(store: Store, key_file: Path) -> str:
    """The key stored (mode 600) in ``key_file`` if the registry still accepts it, else a new one stored there."""
    if key_file.is_file():
        key = key_file.read_text().strip()
        if check_key(store, key) is not None:
            return key
    key = create_key(store, LOCAL_USER, operator=True).key  # the person hosting the server
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key
