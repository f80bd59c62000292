"""Record-level DP at each hospital: the accountant keeps ε within the target, every reply is noised, one
patient's influence on what is shared is bounded by the clip, and a DP Flower run records the ε spent."""

from pathlib import Path

import numpy as np
import pytest

from fedadmet.clinical.federated_task import ClinicalTask
from fedadmet.clinical.record_dp import (
    RecordDp,
    clipped_mean,
    epsilon_spent,
    noise_multiplier_for,
    per_example_gradients,
    planned_releases,
)
from fedadmet.federated.protocol import RoundInfo
from fedadmet.workflows import clinical

TARGET = RecordDp(target_epsilon=8.0, delta=1e-5, clip=1.0)


@pytest.mark.parametrize("releases", [1, 31, 301])
def test_the_accountants_noise_keeps_epsilon_within_the_target(releases: int) -> None:
    multiplier = noise_multiplier_for(TARGET.target_epsilon, TARGET.delta, releases)
    spent = epsilon_spent(multiplier, releases, TARGET.delta)
    assert spent <= TARGET.target_epsilon
    assert spent > 0.9 * TARGET.target_epsilon  # the smallest noise that does: no budget left unused
    assert epsilon_spent(0.9 * multiplier, releases, TARGET.delta) > TARGET.target_epsilon


def test_one_patient_moves_the_clipped_mean_gradient_by_at_most_two_clips_over_n() -> None:
    """Replace one patient's covariates with wild values: before noise the shared mean moves ≤ 2C/n."""
    rng = np.random.default_rng(0)
    values, outcome = rng.normal(size=(200, 6)), rng.integers(0, 2, 200).astype(float)
    coef = rng.normal(size=6)
    wild = values.copy()
    wild[17] = 1e6 * rng.normal(size=6)
    before = clipped_mean(per_example_gradients(values, outcome, coef, 0.3), TARGET.clip)
    after = clipped_mean(per_example_gradients(wild, outcome, coef, 0.3), TARGET.clip)
    moved = np.linalg.norm(after - before)
    assert 0 < moved <= 2 * TARGET.clip / len(outcome) + 1e-12


def _options(consortium: dict[str, Path], record_dp: RecordDp | None) -> dict:
    study = clinical.synthetic_study("cardiotoxicity")
    options = clinical.federation_options(list(consortium.values()), study, local_steps=2, record_dp=record_dp)
    return {**options, "rounds": 3}


def test_a_dp_fit_reply_is_noised_and_reports_its_epsilon(consortium: dict[str, Path]) -> None:
    task, folder = ClinicalTask(), next(iter(consortium.values()))
    plain, private = _options(consortium, None), _options(consortium, TARGET)
    replies = {}
    for name, options in {"plain": plain, "dp": private, "dp again": private}.items():
        session = task.open_partner(folder, options, {})
        replies[name] = session.fit(task.initial_parameters(options), RoundInfo(1, "dp", 1, 3, options))
    for name in ("dp", "dp again"):
        assert not np.allclose(replies[name].parameters["feature_mean"], replies["plain"].parameters["feature_mean"])
    assert not np.allclose(replies["dp"].parameters["feature_mean"], replies["dp again"].parameters["feature_mean"])
    assert "epsilon" not in replies["plain"].metrics
    first = float(replies["dp"].metrics["epsilon"])
    assert 0 < first < TARGET.target_epsilon  # one release of the five planned

    session = task.open_partner(folder, private, replies["dp"].private)
    shared = {**task.initial_parameters(private), **replies["dp"].parameters}
    weights = session.fit(shared, RoundInfo(2, "dp", 1, 3, private))
    assert first < float(weights.metrics["epsilon"]) <= TARGET.target_epsilon
    assert planned_releases(2, 2) == int(weights.private["dp_releases"][0]) + 2  # one round left in the plan


@pytest.mark.slow
def test_a_small_dp_flower_run_completes_and_records_epsilon(consortium: dict[str, Path], tmp_path: Path) -> None:
    result = clinical.federate(
        list(consortium.values()),
        clinical.synthetic_study("cardiotoxicity"),
        checkpoint_dir=tmp_path / "checkpoints",
        registry_url=f"sqlite:///{tmp_path / 'registry.db'}",
        run_name="clinical-dp",
        rounds=2,
        local_steps=1,
        record_dp=TARGET,
    )
    assert result.run.status == "completed", result.run.error
    assert set(result.record_level_epsilon) == set(consortium)
    assert all(7.0 < e <= TARGET.target_epsilon for e in result.record_level_epsilon.values())
    assert result.run.model_version is not None
    published = result.run.model_version.metrics["record_level_epsilon"]
    assert published == pytest.approx(max(result.record_level_epsilon.values()))
