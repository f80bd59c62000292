"""One-machine federation with Flower's simulation engine: every partner folder becomes a SuperNode."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from flwr.simulation import run_simulation

from fedadmet.exceptions import InputError
from fedadmet.federated.client_app import make_client_app
from fedadmet.federated.prepare import read_manifest
from fedadmet.federated.server_app import RunSettings, make_server_app
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.registry.tables import FederationRun


def simulate(partner_dirs: Sequence[Path], settings: RunSettings, require_secagg: bool = True) -> FederationRun:
    """Run the federation over ``partner_dirs`` and return its registry record (rounds included)."""
    if len(partner_dirs) < 2:
        raise InputError("a federation needs at least two partners", got=[str(p) for p in partner_dirs])
    key_ids = {str(p): read_manifest(p)["key_id"] for p in partner_dirs}
    if len(set(key_ids.values())) > 1:
        raise InputError("partners were prepared with different consortium keys", got=key_ids)
    settings = settings.model_copy(update={"n_partners": len(partner_dirs), "key_id": next(iter(key_ids.values()))})
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    run_simulation(
        server_app=make_server_app(settings),
        client_app=make_client_app(list(partner_dirs), require_secagg=require_secagg),
        num_supernodes=len(partner_dirs),
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": max(1, os.cpu_count() or 1), "include_dashboard": False},
        },
    )
    with open_registry(settings.registry_url).begin() as session:
        runs = [r for r in repository.list_runs(session) if r.name == settings.run_name]
        if not runs:
            raise RuntimeError(f"the simulation recorded no run named {settings.run_name!r}")
        return runs[0]
