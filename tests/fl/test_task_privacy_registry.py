"""Flower-free federation pieces: partner data, shared/private split, update checks, DP, the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fedadmet.exceptions import InputError
from fedadmet.federated.config import FederationConfig
from fedadmet.federated.privacy import clip_and_noise, gaussian_epsilon, partner_noise_std
from fedadmet.federated.task import (
    PartnerData,
    UnsafeUpdateError,
    build_net,
    check_update,
    evaluate,
    private_arrays,
    shared_arrays,
    train_with_selection,
)
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry

SMALL = FederationConfig(trunk={"hidden_sizes": (32, 16)})


def test_partner_data_folds_and_pooling(partner_dirs: list[Path]) -> None:
    partners = [PartnerData.load(p) for p in partner_dirs]
    first = partners[0]
    parts = [set(first.rows(part)) for part in ("train", "valid", "test")]
    assert all(not (a & b) for a, b in [(parts[0], parts[1]), (parts[0], parts[2]), (parts[1], parts[2])])
    pooled = PartnerData.pool(partners)
    assert len(pooled.features) == sum(len(p.features) for p in partners)
    assert pooled.tasks[: len(first.tasks)] == [f"partner0/{t}" for t in first.tasks]
    columns = pooled.columns_of(partners[1])
    block = pooled.targets[len(first.features) : len(first.features) + len(partners[1].features)][:, columns]
    assert np.array_equal(np.isnan(block), np.isnan(partners[1].targets))
    shared = PartnerData.pool(partners, shared_heads=True)
    assert len(shared.tasks) == len({t for p in partners for t in p.tasks}) < len(pooled.tasks)
    block = shared.targets[len(first.features) : len(first.features) + len(partners[1].features)]
    assert np.array_equal(block[:, shared.columns_of(partners[1])], partners[1].targets, equal_nan=True)


def test_shared_and_private_parameters_are_disjoint() -> None:
    net = build_net(20, ["AMES", "hERG"], SMALL)
    shared, private = shared_arrays(net), private_arrays(net)
    assert shared and private and not set(shared) & set(private)
    assert all(k.startswith("trunk.") for k in shared) and all(k.startswith("heads.") for k in private)


def test_update_checks() -> None:
    reference = shared_arrays(build_net(20, ["AMES"], SMALL))
    check_update(reference, reference)
    bad = dict(reference)
    name = next(iter(bad))
    bad[name] = bad[name].copy()
    bad[name].flat[0] = np.nan
    with pytest.raises(UnsafeUpdateError, match="NaN"):
        check_update(bad, reference)
    with pytest.raises(UnsafeUpdateError, match="names differ"):
        check_update({**reference, "heads.AMES.weight": np.zeros(1)}, reference)
    with pytest.raises(UnsafeUpdateError, match="shape"):
        check_update({**reference, name: np.zeros((1, 1))}, reference)


def test_local_training_learns(partner_dirs: list[Path]) -> None:
    data = PartnerData.load(partner_dirs[0])
    untrained = evaluate(build_net(data.features.shape[1], data.tasks, SMALL), data)
    net, curve = train_with_selection(data, SMALL, epochs=8)
    assert len(curve) == 8
    assert evaluate(net, data)["valid_score"] > untrained["valid_score"]


def test_clipping_bounds_the_update_and_noise_is_added() -> None:
    rng = np.random.default_rng(0)
    update = {"a": np.full(100, 1.0), "b": np.full(44, 1.0)}
    clipped, norm = clip_and_noise(update, clipping_norm=1.0, noise_std=0.0, rng=rng)
    assert norm == pytest.approx(12.0)
    assert np.sqrt(sum((v**2).sum() for v in clipped.values())) == pytest.approx(1.0)
    noised, _ = clip_and_noise(update, clipping_norm=1.0, noise_std=0.5, rng=rng)
    assert not np.allclose(noised["a"], clipped["a"])
    assert partner_noise_std(1.0, 1.0, 4) == pytest.approx(0.5)


def test_epsilon_grows_with_rounds_and_shrinks_with_noise() -> None:
    assert gaussian_epsilon(1.0, 20, 1e-5) > gaussian_epsilon(1.0, 5, 1e-5)
    assert gaussian_epsilon(2.0, 20, 1e-5) < gaussian_epsilon(1.0, 20, 1e-5)
    assert gaussian_epsilon(0.0, 1, 1e-5) == float("inf")
    # One Gaussian mechanism with sigma = 1 at delta = 1e-5: the RDP bound is about 5.3.
    assert 4.5 < gaussian_epsilon(1.0, 1, 1e-5) < 6.0


def test_registry_versions_runs_and_rounds(tmp_path: Path) -> None:
    factory = open_registry(f"sqlite:///{tmp_path / 'r.db'}")
    with factory.begin() as session:
        first = repository.publish_version(session, "m", kind="centralised", artifact_uri="/a", endpoints=["AMES"])
        second = repository.publish_version(session, "m", kind="federated", artifact_uri="/b", endpoints=[])
        run = repository.start_run(session, "r", "fedavg", True, {"rounds": 2})
        repository.record_round(session, run.id, 1, ["p1", "p2"], {"fit": {}}, {"p3": "dropped"}, bytes_sent=10)
        repository.record_round(session, run.id, 1, ["p1"], {"fit": {}})  # a resumed coordinator replaces it
        repository.finish_run(session, run.id, "completed", model_version_id=second.id)
    assert (first.version, second.version) == (1, 2)
    with factory.begin() as session:
        stored = repository.get_run(session, run.id)
        assert stored is not None and stored.status == "completed" and stored.finished is not None
        assert [(r.round, r.partners, r.excluded) for r in stored.rounds] == [(1, ["p1"], {})]
        assert [v.version for v in repository.list_versions(session)] == [2, 1]
    with pytest.raises(KeyError), factory.begin() as session:
        repository.finish_run(session, 999, "failed")


def test_per_compound_loss_gives_each_compound_its_own_loss_which_falls_as_the_model_learns(
    partner_dirs: list[Path],
) -> None:
    """What the benchmark's membership-inference attack reads: one loss per compound asked for."""
    from fedadmet.workflows.federation import per_compound_loss

    data = PartnerData.load(partner_dirs[0])
    rows = data.rows("train")
    before = per_compound_loss(build_net(data.features.shape[1], data.tasks, SMALL), data, rows)
    assert before.shape == (len(rows),) and np.isfinite(before).all()
    trained, _ = train_with_selection(data, SMALL, epochs=8)
    assert per_compound_loss(trained, data, rows).mean() < before.mean()


def test_the_published_version_records_the_model_each_partner_kept_not_the_final_round(tmp_path: Path) -> None:
    """The user test: the Models page showed the final-round trunk's 0.143 while the partner kept its
    round-2 model (0.543)."""
    from fedadmet.federated.coordinator import RunSettings
    from fedadmet.federated.recorder import EvaluationRound, FitRound, Published
    from fedadmet.workflows.federation import RegistryRecorder, open_run

    url = f"sqlite:///{tmp_path / 'r.db'}"
    settings = open_run(RunSettings(run_name="r", n_partners=3, checkpoint_dir=tmp_path / "c", registry_url=url))
    recorder = RegistryRecorder(settings)
    scores = {1: (0.40, 0.30), 2: (0.543, 0.20), 3: (0.143, 0.35)}  # partner a, partner b, by round
    for number, (a, b) in scores.items():
        recorder.record_fit(FitRound(number, ["a", "b", "c"], {}, {}))
        shared = {"a": {"valid_score": a, "partner": "a"}, "b": {"valid_score": b, "partner": "b"}}
        recorder.record_evaluation(EvaluationRound(number, shared, {}, 0))
    artifact = tmp_path / "trunk.safetensors"
    artifact.write_bytes(b"x")
    recorder.publish(Published(artifact, "0" * 64, 3, 1))
    with open_registry(url).begin() as session:
        kept = repository.list_versions(session)[0].metrics["partners"]
    assert (kept["a"]["valid_score"], kept["a"]["kept_round"]) == (0.543, 2)
    assert (kept["b"]["valid_score"], kept["b"]["kept_round"]) == (0.35, 3)
    assert "c" not in kept  # shared no score (under DP none does)


def test_a_runs_plan_is_the_options_given_over_the_runs_own_settings(tmp_path: Path) -> None:
    from fedadmet.federated.coordinator import RunSettings
    from fedadmet.workflows.federation import open_run, run_plan

    url = f"sqlite:///{tmp_path / 'r.db'}"
    federation = FederationConfig(strategy="fedadam", privacy={"enabled": True, "noise_multiplier": 0.8})
    opened = open_run(
        RunSettings(run_name="r", n_partners=3, federation=federation, checkpoint_dir=tmp_path, registry_url=url)
    )
    plan = FederationConfig.model_validate(run_plan({"rounds": 20, "privacy": {}}, opened.run_id, url))
    assert (plan.strategy, plan.rounds, plan.privacy.enabled, plan.privacy.noise_multiplier) == (
        "fedadam",
        20,
        True,
        0.8,
    )
    fresh = FederationConfig.model_validate(run_plan({"privacy": {"enabled": True}}))
    assert (fresh.strategy, fresh.privacy.enabled, fresh.rounds) == ("fedavg", True, 10)
    with pytest.raises(InputError, match="no federation run 99"):
        run_plan({}, 99, url)
