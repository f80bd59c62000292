"""`fedadmet federate gain`: a partner compares the federated model it keeps with its best local model (the
core recipe on its own data) on its test fold."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fedadmet.cli import app
from fedadmet.exceptions import ArtifactError, InputError
from fedadmet.federated.config import FederationConfig
from fedadmet.federated.gain import joining_gain
from fedadmet.federated.local_model import after_joining, averaging_scale, choose_local_share, load_local_model
from fedadmet.federated.partner_model import find_saved_model, kept_model, saved_models
from fedadmet.federated.task import TEST_FOLD, VALID_FOLD, PartnerData, build_net, score_tasks, scored_rows
from fedadmet.federated.tasks.molecular import keep_partner_model
from fedadmet.workflows.federation import local_best_outputs
from fedadmet.workflows.training import TrainingRecipe

runner = CliRunner()
FEDERATION = FederationConfig(rounds=3, trunk={"hidden_sizes": (32, 16)})
NO_OUTPUTS = np.zeros((0, 0))  # refused before any is read
SMALL_RECIPE = ["--gbm-iterations", "10", "--no-side-tasks"]  # the core recipe, small and without side data


def keep_model(folder: Path, run_name: str, run_id: int) -> Path:
    """What the ClientApp keeps after a run; here an untrained network stands in for a federated model."""
    data = PartnerData.load(folder)
    net = build_net(data.features.shape[1], data.tasks, FEDERATION)
    return keep_partner_model(folder, run_name, run_id, net, {"valid_score": 0.0, "test_score": 0.0}, FEDERATION)


def test_gain_scores_the_kept_model_against_the_core_recipe_per_endpoint(
    partner_dirs: list[Path], tmp_path: Path
) -> None:
    partner = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    keep_model(partner, "consortium", 2)
    latest = keep_model(partner, "consortium", 5)

    result = runner.invoke(app, ["federate", "gain", str(partner), *SMALL_RECIPE])
    assert result.exit_code == 0, result.output
    assert "run 5 (consortium)" in result.output  # the latest run by default
    report = json.loads((latest / "gain.json").read_text())
    assert (latest / "gain.md").read_text().startswith("# What joining gained: partner0, run 5")
    assert (latest / "gain.png").read_bytes()[:4] == b"\x89PNG"

    # The federated side is the model the partner keeps: here the untrained stand-in trained on at the
    # partner, blended with trees over its features where that scores better on validation.
    data = PartnerData.load(partner)
    kept = kept_model(
        find_saved_model(partner, 5), data, TrainingRecipe(side_tasks=False, gbm_iterations=10).model_config()
    )
    expected = score_tasks(data, kept.outputs(data.features), "test")
    rows = {row["endpoint"]: row for row in report["endpoints"]}
    assert set(rows) == set(data.tasks) == {"BBB_Martins", "Lipophilicity_AstraZeneca"}
    assert rows["BBB_Martins"]["metric"] == "AUC-PR" and rows["Lipophilicity_AstraZeneca"]["metric"] == "R²"
    assert all(row["test_compounds"] > 0 for row in rows.values())
    assert {name: row["federated"] for name, row in rows.items()} == pytest.approx(expected)
    assert {name: row["federated_head"] for name, row in rows.items()} == {
        choice.endpoint: "blend" if choice.uses_trees else "network" for choice in kept.choices
    }
    # The local side is the core recipe (`fedadmet train`'s) on this partner's training folds, scored on
    # the same test fold; it is kept in the folder for the partner's predictions.
    assert report["local_recipe"].startswith("the core recipe on this partner's training folds")
    recipe = TrainingRecipe(side_tasks=False, gbm_iterations=10)
    local_outputs = local_best_outputs(partner, data, recipe, None, False)
    local = score_tasks(data, local_outputs, "test")
    assert {name: row["local_best"] for name, row in rows.items()} == pytest.approx(local, rel=1e-4)
    kept_local = load_local_model(partner)
    assert kept_local is not None and sorted(kept_local[0].endpoints) == sorted(data.tasks)
    # After joining: the two averaged, the federated share chosen on validation; the gain is over local best.
    federated = averaging_scale(kept.outputs(data.features), [bool(c) for c in data.is_classification])
    assert report["local_share"] == choose_local_share(data, local_outputs, federated)
    joined = score_tasks(data, after_joining(local_outputs, federated, report["local_share"]), "test")
    assert {name: row["joined"] for name, row in rows.items()} == pytest.approx(joined, rel=1e-3, abs=1e-4)
    assert report["mean"]["all"]["gain"] == pytest.approx(
        np.mean([r["joined"] - r["local_best"] for r in rows.values()])
    )
    lipophilicity = rows["Lipophilicity_AstraZeneca"]  # the only R² endpoint: its own mean, apart from AUC-PR's
    assert report["mean"]["R²"]["gain"] == pytest.approx(lipophilicity["joined"] - lipophilicity["local_best"])
    assert "| **mean AUC-PR** |" in (latest / "gain.md").read_text() and "mean R²" in result.output
    assert "against this partner's best local model" in result.output


def test_local_best_outputs_cover_the_validation_and_test_folds_only(partner_dirs: list[Path]) -> None:
    data = PartnerData.load(partner_dirs[1])
    outputs = local_best_outputs(
        partner_dirs[1], data, TrainingRecipe(side_tasks=False, gbm_iterations=10), None, False
    )
    test, scored = data.folds == TEST_FOLD, data.folds <= VALID_FOLD
    assert np.isfinite(outputs[scored]).all() and np.isnan(outputs[~scored]).all()
    bbb = data.tasks.index("BBB_Martins")
    assert ((outputs[test, bbb] >= 0) & (outputs[test, bbb] <= 1)).all()  # probabilities, as AUC-PR reads them
    lipophilicity = data.tasks.index("Lipophilicity_AstraZeneca")
    rows = scored_rows(data, "test", lipophilicity)
    # on the federation's scale (z-scored on the training folds): a useful model correlates with the truth
    assert np.corrcoef(outputs[rows, lipophilicity], data.targets[rows, lipophilicity])[0, 1] > 0.3


def test_gain_names_what_is_missing(partner_dirs: list[Path], tmp_path: Path) -> None:
    partner = shutil.copytree(partner_dirs[1], tmp_path / "partner1")
    with pytest.raises(InputError, match="holds no federated model"):
        find_saved_model(partner)
    model_folder = keep_model(partner, "consortium", 3)
    with pytest.raises(InputError, match="no model of run 4; expected: one of consortium/3"):
        find_saved_model(partner, 4)
    assert [(m.run_name, m.run_id) for m in saved_models(partner)] == [("consortium", 3)]

    (model_folder / "federation.json").unlink()  # kept by an older fedadmet
    with pytest.raises(ArtifactError, match="did not record the run's settings"):
        joining_gain(partner, find_saved_model(partner, 3), NO_OUTPUTS, "none")
    result = runner.invoke(app, ["federate", "gain", str(partner), "--run", "9"])
    assert result.exit_code == 2 and "no model of run 9" in result.output


def test_the_latest_run_is_the_one_kept_last_and_a_re_prepared_folder_is_refused(
    partner_dirs: list[Path], tmp_path: Path
) -> None:
    partner = shutil.copytree(partner_dirs[1], tmp_path / "partner1")
    keep_model(partner, "consortium", 5)
    latest = keep_model(partner, "another-consortium", 2)  # run ids count per registry: kept last, not highest
    assert (find_saved_model(partner).run_name, find_saved_model(partner).run_id) == ("another-consortium", 2)

    provenance = json.loads((latest / "provenance.json").read_text())
    (latest / "provenance.json").write_text(json.dumps(provenance | {"labels_sha256": "0" * 64}))
    with pytest.raises(ArtifactError, match="was prepared again since run 2"):
        joining_gain(partner, find_saved_model(partner, 2), NO_OUTPUTS, "none")


def test_two_runs_with_one_number_are_named_not_guessed(partner_dirs: list[Path], tmp_path: Path) -> None:
    partner = shutil.copytree(partner_dirs[1], tmp_path / "partner1")
    keep_model(partner, "consortium", 3)
    keep_model(partner, "other-consortium", 3)  # run ids count per registry
    with pytest.raises(InputError, match="several runs numbered 3; name one: consortium/3 or other-consortium/3"):
        find_saved_model(partner, 3)
    assert find_saved_model(partner, "other-consortium/3").run_name == "other-consortium"
    with pytest.raises(InputError, match="names no run"):
        find_saved_model(partner, "consortium/three")


def test_local_best_trains_on_labels_at_an_endpoints_limit(partner_dirs: list[Path]) -> None:
    """Targets are kept as float32 on the federation's scale; back in source units a label at the endpoint's
    limit can land just past it, which the core recipe refuses as another endpoint's values."""
    data = PartnerData.load(partner_dirs[1])
    lipophilicity = data.tasks.index("Lipophilicity_AstraZeneca")
    train = scored_rows(data, "train", lipophilicity)[:5]
    top = np.float32(data.scaling.scale(lipophilicity, np.array([8.0]))[0])  # the label range's upper end
    if data.scaling.unscale(lipophilicity, np.array([top], dtype=np.float64))[0] <= 8.0:
        top = np.nextafter(top, np.float32(np.inf))  # the float32 neighbour that reads back just above 8
    assert data.scaling.unscale(lipophilicity, np.array([top], dtype=np.float64))[0] > 8.0
    data.targets[train, lipophilicity] = top
    outputs = local_best_outputs(
        partner_dirs[1], data, TrainingRecipe(side_tasks=False, gbm_iterations=10), None, False
    )
    assert np.isfinite(outputs[data.folds <= VALID_FOLD]).all()


def test_the_local_share_keeps_the_local_model_unless_the_federated_one_adds_on_validation(
    partner_dirs: list[Path],
) -> None:
    data = PartnerData.load(partner_dirs[1])
    truth = np.nan_to_num(data.targets.astype(np.float64))
    noise = np.random.default_rng(0).normal(size=truth.shape)
    # a federated model that is noise adds nothing: the partner keeps its local model whole
    assert choose_local_share(data, truth + 0.5 * noise, noise) == 1.0
    # a useless local model gives way to a good federated one
    assert choose_local_share(data, noise, truth + 0.5 * noise) == 0.0
    # two equally good, independent models: averaging them beats either on validation
    other = np.random.default_rng(1).normal(size=truth.shape)
    assert 0.0 < choose_local_share(data, truth + noise, truth + other) < 1.0
    # a tie keeps the local model
    assert choose_local_share(data, truth, truth) == 1.0
