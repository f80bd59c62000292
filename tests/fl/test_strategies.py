"""The coordinator's strategies without a Flower runtime: every strategy aggregates, non-finite updates
are excluded with a reason, each round is checkpointed and recorded."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

from fedadmet.federated.config import FederationConfig
from fedadmet.federated.server_app import Checkpoint, RunSettings, initial_trunk, make_strategy
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry


def fit_result(arrays: list[np.ndarray], partner: str) -> tuple[object, FitRes]:
    result = FitRes(Status(Code.OK, "ok"), ndarrays_to_parameters(arrays), 10, {"partner": partner, "train_loss": 0.5})
    return SimpleNamespace(cid=partner), result


@pytest.mark.parametrize("strategy", ["fedavg", "fedprox", "fedadam"])
def test_strategies_aggregate_check_and_record(strategy: str, tmp_path: Path) -> None:
    federation = FederationConfig(strategy=strategy, trunk={"hidden_sizes": (8, 4)})
    url = f"sqlite:///{tmp_path / 'r.db'}"
    settings = RunSettings(
        run_name="s", n_partners=3, federation=federation, checkpoint_dir=tmp_path / "ck", registry_url=url
    )
    start = initial_trunk(federation)
    names = sorted(start)
    with open_registry(url).begin() as session:
        run_id = repository.start_run(session, "s", strategy, True, {}).id
    chosen = make_strategy(settings, names, start, run_id, offset=4)
    shifted = [start[k] + 0.1 for k in names]
    poisoned = [a.copy() for a in shifted]
    poisoned[0].flat[0] = np.nan
    results = [fit_result(shifted, "a"), fit_result(shifted, "b"), fit_result(poisoned, "c")]
    parameters, _ = chosen.aggregate_fit(1, results, [RuntimeError("node lost")])
    aggregated = parameters_to_ndarrays(parameters)
    assert all(np.isfinite(a).all() for a in aggregated)
    if strategy != "fedadam":  # FedAdam takes a server-side Adam step towards the mean instead
        assert np.allclose(aggregated[0], shifted[0], atol=1e-6)
    round_number, stored_run, arrays = Checkpoint(tmp_path / "ck").load()
    assert (round_number, stored_run) == (5, run_id) and sorted(arrays) == names
    with open_registry(url).begin() as session:
        row = repository.get_round(session, run_id, 5)
        assert row is not None and row.partners == ["a", "b"]
        assert row.excluded["c"] == "update holds NaN or infinite values"
        assert "node lost" in next(v for k, v in row.excluded.items() if k.startswith("node-"))


def test_round_without_usable_update_keeps_the_trunk(tmp_path: Path) -> None:
    federation = FederationConfig(trunk={"hidden_sizes": (8, 4)})
    url = f"sqlite:///{tmp_path / 'r.db'}"
    settings = RunSettings(run_name="s", n_partners=2, federation=federation, checkpoint_dir=tmp_path, registry_url=url)
    start = initial_trunk(federation)
    with open_registry(url).begin() as session:
        run_id = repository.start_run(session, "s", "fedavg", False, {}).id
    chosen = make_strategy(settings, sorted(start), start, run_id, offset=0)
    bad = [np.full_like(start[k], np.inf) for k in sorted(start)]
    assert chosen.aggregate_fit(1, [fit_result(bad, "a")], []) == (None, {})
    assert Checkpoint(tmp_path).load() is None
