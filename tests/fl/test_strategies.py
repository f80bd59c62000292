"""The coordinator's strategies without a Flower runtime: every strategy aggregates, non-finite updates
are excluded with a reason, each round is checkpointed and recorded."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

from fedadmet.exceptions import InputError
from fedadmet.federated.checkpoints import Checkpoint
from fedadmet.federated.config import FederationConfig
from fedadmet.federated.failures import PartnerFailure
from fedadmet.federated.strategy import STRATEGIES, RecordingStrategy
from fedadmet.federated.tasks.molecular import MolecularTask
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.workflows.federation import RegistryRecorder, RunSettings, open_run


def fit_result(arrays: list[np.ndarray], partner: str) -> tuple[object, FitRes]:
    result = FitRes(Status(Code.OK, "ok"), ndarrays_to_parameters(arrays), 10, {"partner": partner, "train_loss": 0.5})
    return SimpleNamespace(cid=partner), result


def opened_strategy(
    tmp_path: Path, n_partners: int, strategy: str = "fedavg", offset: int = 0
) -> tuple[RunSettings, dict[str, np.ndarray], object]:
    """A run opened in a registry in ``tmp_path``, its initial trunk, and the coordinator's strategy for it."""
    federation = FederationConfig(strategy=strategy, trunk={"hidden_sizes": (8, 4)})
    url = f"sqlite:///{tmp_path / 'r.db'}"
    settings = open_run(
        RunSettings(
            run_name="s", n_partners=n_partners, federation=federation, checkpoint_dir=tmp_path, registry_url=url
        )
    )
    start = MolecularTask().initial_parameters(federation.model_dump(mode="json"))
    return settings, start, RecordingStrategy(settings, start, offset, RegistryRecorder(settings))


@pytest.mark.parametrize("strategy", ["fedavg", "fedprox", "fedadam"])
def test_strategies_aggregate_check_and_record(strategy: str, tmp_path: Path) -> None:
    settings, start, chosen = opened_strategy(tmp_path, 3, strategy, offset=4)
    names, url = sorted(start), settings.registry_url
    shifted = [start[k] + 0.1 for k in names]
    poisoned = [a.copy() for a in shifted]
    poisoned[0].flat[0] = np.nan
    results = [fit_result(shifted, "a"), fit_result(shifted, "b"), fit_result(poisoned, "c")]
    parameters, _ = chosen.aggregate_fit(1, results, [RuntimeError("node lost"), TimeoutError("no reply")])
    aggregated = parameters_to_ndarrays(parameters)
    assert all(np.isfinite(a).all() for a in aggregated)
    if strategy != "fedadam":  # FedAdam takes a server-side Adam step towards the mean instead
        assert np.allclose(aggregated[0], shifted[0], atol=1e-6)
    checkpoint = Checkpoint(settings.run_folder)
    round_number, arrays = checkpoint.load()
    assert (round_number, checkpoint.state()["run_id"]) == (5, settings.run_id) and sorted(arrays) == names
    with open_registry(url).begin() as session:
        row = repository.get_round(session, settings.run_id, 5)
        assert row is not None and row.partners == ["a", "b"]
        assert row.excluded["c"] == "update holds NaN or infinite values"
        assert "node lost" in row.excluded["unnamed partner 1"]  # silent nodes each count
        assert "no reply" in row.excluded["unnamed partner 2"]


def test_dropouts_are_recorded_once_by_partner_name_without_local_paths(tmp_path: Path) -> None:
    """SecAgg+ reports a failed partner at each stage; it counts once, under its name, with no local path.
    A partner whose evaluation fails is listed as excluded rather than vanishing from the scores."""
    settings, start, chosen = opened_strategy(tmp_path, 3)
    names, url = sorted(start), settings.registry_url
    lost = PartnerFailure.of("pharma_c", "train", FileNotFoundError("/srv/pharma_c/secret/features.npy missing"))
    # How Flower's workflows hand an error reply to the strategy: the reply's error object, wrapped.
    reply_error = Exception(lost.to_error())
    shifted = [start[k] + 0.1 for k in names]
    chosen.aggregate_fit(1, [fit_result(shifted, "pharma_a"), fit_result(shifted, "pharma_b")], [reply_error] * 2)
    evaluation_lost = Exception(PartnerFailure.of("pharma_b", "evaluate", ValueError("scores are NaN")).to_error())
    chosen.aggregate_evaluate(1, [], [evaluation_lost])
    with open_registry(url).begin() as session:
        row = repository.get_round(session, settings.run_id, 1)
        assert row is not None
        assert set(row.excluded) == {"pharma_c", "pharma_b"}
        assert row.excluded["pharma_c"] == "FileNotFoundError: <local path> missing"
        assert row.excluded["pharma_b"] == "evaluation failed: ValueError: scores are NaN"


def test_round_without_usable_update_keeps_the_trunk(tmp_path: Path) -> None:
    settings, start, chosen = opened_strategy(tmp_path, 2)
    bad = [np.full_like(start[k], np.inf) for k in sorted(start)]
    assert chosen.aggregate_fit(1, [fit_result(bad, "a")], []) == (None, {})
    assert Checkpoint(settings.run_folder).load() is None


def test_round_whose_aggregate_is_not_finite_is_recorded_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finite updates can still give a non-finite aggregate (a server-side optimiser that diverged): the
    trunk stays as it was, and the round says so instead of vanishing from the record."""
    settings, start, chosen = opened_strategy(tmp_path, 2)
    diverged = ndarrays_to_parameters([np.full_like(start[k], np.inf) for k in sorted(start)])
    monkeypatch.setattr(STRATEGIES["fedavg"], "aggregate_fit", lambda *_: (diverged, {}))
    finite = [start[k] + 0.1 for k in sorted(start)]
    assert chosen.aggregate_fit(1, [fit_result(finite, "a"), fit_result(finite, "b")], []) == (None, {})
    assert Checkpoint(settings.run_folder).load() is None
    with open_registry(settings.registry_url).begin() as session:
        row = repository.get_round(session, settings.run_id, 1)
        assert row is not None and row.partners == []
        assert set(row.excluded) == {"a", "b"} and "not finite" in row.excluded["a"]


def test_two_updates_under_one_partner_name_end_the_run(tmp_path: Path) -> None:
    """Deployed SuperNodes name themselves: two that carry one name (letter case aside) are one partner
    counted twice, whose metrics would overwrite each other; the run fails saying which name."""
    settings, start, chosen = opened_strategy(tmp_path, 3)
    update = [start[k] + 0.1 for k in sorted(start)]
    results = [fit_result(update, "site_a"), fit_result(update, "Site_A"), fit_result(update, "site_b")]
    with pytest.raises(InputError, match=r"letter case aside.*Site_A.*site_a"):
        chosen.aggregate_fit(1, results, [])
    assert Checkpoint(settings.run_folder).load() is None


def test_a_failed_run_keeps_the_partners_failures_typed_and_shows_each_partner_only_its_own(tmp_path: Path) -> None:
    from fedadmet.federated.recorder import RunEnd
    from fedadmet.registry import repository
    from fedadmet.workflows.store import open_store
    from fedadmet.workflows.views import HIDDEN_RUN_ERROR, get_run

    settings, _, _ = opened_strategy(tmp_path, 3)
    failure = PartnerFailure("site: 'a'", "train", "ValueError: bad labels")
    RegistryRecorder(settings).end(RunEnd("failed", "RuntimeError: no round aggregated", [failure]))
    store = open_store(settings.registry_url)
    with store() as session:
        run = repository.get_run(session, settings.run_id)
        assert run is not None and run.status == "failed"
        assert run.partner_failures == [{"partner": "site: 'a'", "stage": "train", "reason": "ValueError: bad labels"}]
    assert get_run(store, settings.run_id, "site: 'a'").error == "train: ValueError: bad labels"
    assert get_run(store, settings.run_id, "site_b").error == HIDDEN_RUN_ERROR
    assert get_run(store, settings.run_id, None).error == "RuntimeError: no round aggregated"
    resumed = open_run(settings)  # carried on: the old failures no longer describe it
    with store() as session:
        assert repository.get_run(session, resumed.run_id).partner_failures == []
