"""A partner predicts with the model it kept from a federated run: the same profile as `fedadmet predict`."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from fedadmet import predict
from fedadmet.chem.compute import compute_features
from fedadmet.chem.featurizers import default_feature_set
from fedadmet.chem.parallel import ParallelOptions
from fedadmet.cli import app
from fedadmet.exceptions import ArtifactError, InputError
from fedadmet.federated import local_model, partner_model
from fedadmet.federated.config import FederationConfig
from fedadmet.federated.gain import EndpointGain, JoiningGain, endpoints_local_wins, write_gain_report
from fedadmet.federated.partner_model import find_saved_model, partner_predictor
from fedadmet.federated.task import (
    PartnerData,
    build_net,
    predict_scaled,
    score_tasks,
    scored_rows,
    train_with_selection,
)
from fedadmet.federated.tasks.molecular import keep_partner_model
from fedadmet.models.calibration import conformal_minimum
from fedadmet.models.config import ModelConfig
from fedadmet.workflows.training import TrainingRecipe
from tests.fl.partners import TEST_KEY

runner = CliRunner()
FEDERATION = FederationConfig(rounds=3, trunk={"hidden_sizes": (32, 16)})


@pytest.fixture(scope="module")
def partner(partner_dirs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A partner folder holding a kept model (trained alone here: what matters is how it is used)."""
    folder = shutil.copytree(partner_dirs[2], tmp_path_factory.mktemp("kept") / "partner2")
    net, _ = train_with_selection(PartnerData.load(folder), FEDERATION, FEDERATION.rounds)
    keep_partner_model(folder, "consortium", 4, net, {"valid_score": 0.5}, FEDERATION)
    return folder


def test_partner_model_profiles_molecules_like_any_model(partner: Path) -> None:
    predictor = partner_predictor(partner, TEST_KEY)
    assert (predictor.saved.run_id, predictor.partner) == (4, "partner2")
    result = predict(["CCO", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "C1CC("], model=predictor)
    assert result["error"].notna().tolist() == [False, False, True]
    assert predictor.endpoints == ["BBB_Martins", "Lipophilicity_AstraZeneca"]
    ok = result.iloc[:2]
    assert ok["BBB_Martins"].between(0, 1).all()
    assert (ok["BBB_Martins_uncertainty"] == np.minimum(ok["BBB_Martins"], 1 - ok["BBB_Martins"])).all()
    lipo = ok["Lipophilicity_AstraZeneca"]
    assert (ok["Lipophilicity_AstraZeneca_lower"] < lipo).all() and (lipo < ok["Lipophilicity_AstraZeneca_upper"]).all()
    assert ok["applicability_domain"].between(0, 1).all() and ok["in_domain"].notna().all()
    assert "hERG" not in result  # only the partner's endpoints


def test_new_molecules_are_keyed_exactly_as_the_partner_data_was(partner: Path) -> None:
    predictor = partner_predictor(partner, TEST_KEY)
    parents = pd.read_csv(partner / "compounds.csv")["smiles"].head(25).tolist()  # what is featurised
    raw = compute_features(parents, default_feature_set(), parallel=ParallelOptions(progress=False))
    stored = np.load(partner / "features.npy")[:25]
    np.testing.assert_array_equal(predictor.keyed(raw), stored)
    # Regression values are the network's output brought back to the endpoint's scale with the statistics
    # of the partner's training folds, computed here from the stored labels.
    labels = np.load(partner / "labels.npz")
    tasks = [t["name"] for t in json.loads((partner / "manifest.json").read_text())["tasks"]]
    column = labels["values"][labels["folds"] > 1, tasks.index("Lipophilicity_AstraZeneca")].astype(np.float32)
    j = predictor.endpoints.index("Lipophilicity_AstraZeneca")
    output = predictor.kept.outputs(stored.astype(np.float32))[:, j].astype(np.float64)  # its chosen heads
    expected = np.clip(output * np.nanstd(column) + np.nanmean(column), -1.5, 4.5)  # within the assay's range
    profiled = predict(parents, model=predictor)["Lipophilicity_AstraZeneca"].to_numpy()
    np.testing.assert_allclose(profiled, expected, rtol=1e-5)  # logD has no transform


def test_partner_model_needs_the_folder_key(partner: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="another consortium key"):
        partner_predictor(partner, bytes(32))
    source = tmp_path / "mols.csv"
    source.write_text("smiles\nCCO\n")
    key_file = tmp_path / "consortium.key"
    key_file.write_text(TEST_KEY.hex())
    out = tmp_path / "out.csv"
    command = ["predict", str(source), "-o", str(out), "--partner", str(partner)]
    result = runner.invoke(app, [*command, "--key", str(key_file), "--run", "4"])
    assert result.exit_code == 0, result.output
    assert "partner2's model of run 4 (consortium)" in result.output
    assert pd.read_csv(out)["Lipophilicity_AstraZeneca"].notna().all()
    assert "needs --key" in runner.invoke(app, command).output
    both = runner.invoke(app, [*command, "--key", str(key_file), "--model", str(tmp_path)])
    assert both.exit_code == 2 and "give one of them" in both.output
    assert "go with --partner" in runner.invoke(app, ["predict", str(source), "-o", str(out), "--run", "4"]).output
    missing_run = runner.invoke(app, [*command, "--key", str(key_file), "--run", "7"])
    assert missing_run.exit_code == 2 and "no model of run 7" in missing_run.output


def test_a_damaged_or_foreign_kept_model_is_refused_in_one_line(partner: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(partner, tmp_path / "copy")
    assert partner_predictor(copy, TEST_KEY.hex()).saved.run_id == 4  # the key as the hex text of a key file
    with pytest.raises(InputError, match="not hex text"):
        partner_predictor(copy, "not a key")
    other = build_net(PartnerData.load(copy).features.shape[1], ["hERG"], FEDERATION)
    keep_partner_model(copy, "consortium", 5, other, {"valid_score": 0.5}, FEDERATION)
    with pytest.raises(ArtifactError, match=r"run 5 predicts \['hERG'\], this folder's endpoints are"):
        partner_predictor(copy, TEST_KEY, 5)
    weights = copy / "federated_model" / "consortium" / "run-4" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ArtifactError, match="model file of run 4 is damaged or unreadable"):
        partner_predictor(copy, TEST_KEY, 4)
    with pytest.raises(InputError, match="no folder"):
        partner_predictor(tmp_path / "nowhere", TEST_KEY)


def test_a_model_worse_than_the_mean_is_flagged_unless_the_partner_mends_it(partner: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(partner, tmp_path / "copy")
    data = PartnerData.load(copy)
    broken = build_net(data.features.shape[1], data.tasks, FEDERATION)
    with torch.no_grad():
        broken.heads["Lipophilicity_AstraZeneca"].bias += 5.0  # five standard deviations off: R² far below zero
    keep_partner_model(copy, "consortium", 6, broken, {"valid_score": -1.0}, FEDERATION)
    network_only = score_tasks(data, predict_scaled(broken, data.features), "valid")
    assert network_only["Lipophilicity_AstraZeneca"] < -1
    flagged = replace(partner_predictor(copy, TEST_KEY, 4), validation=network_only)
    assert list(flagged.poor_endpoints()) == ["Lipophilicity_AstraZeneca"]  # classifiers have no such bar
    # The kept model mends the broken head at the partner (the network trained on, blended with trees where
    # that validates better): the partner predicts with that, and it is not worse than the mean.
    predictor = partner_predictor(copy, TEST_KEY, 6)
    assert set(predictor.validation) == set(data.tasks)
    assert predictor.kept.network_tuned
    assert predictor.validation["Lipophilicity_AstraZeneca"] >= 0 and predictor.poor_endpoints() == {}
    assert partner_predictor(copy, TEST_KEY, 4).poor_endpoints() == {}  # the model trained on the data


def test_intervals_on_too_few_validation_values_are_flagged(
    partner: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [conformal_minimum(c) for c in (0.8, 0.9, 0.95)] == [4, 9, 19]
    data = PartnerData.load(partner)
    predictor = partner_predictor(partner, TEST_KEY, 4)
    regression = [j for j, name in enumerate(data.tasks) if not data.is_classification[j]]
    assert predictor.interval_sizes == {data.tasks[j]: len(scored_rows(data, "valid", j)) for j in regression}
    assert predictor.thin_intervals() == {}  # enough for 90 %
    # a coverage that needs more validation values than the partner has
    monkeypatch.setattr(partner_model, "ModelConfig", lambda: ModelConfig(conformal_coverage=0.999))
    assert partner_predictor(partner, TEST_KEY, 4).thin_intervals() == predictor.interval_sizes
    source, key_file = tmp_path / "mols.csv", tmp_path / "consortium.key"
    source.write_text("smiles\nCCO\n")
    key_file.write_text(TEST_KEY.hex())
    command = [
        "predict",
        str(source),
        "-o",
        str(tmp_path / "out.csv"),
        "--partner",
        str(partner),
        "--key",
        str(key_file),
    ]
    result = runner.invoke(app, [*command, "--run", "4"], env={"COLUMNS": "300"})
    assert result.exit_code == 0 and "few validation values behind these intervals" in result.output
    assert "fewer than 999 it is the largest validation error, without the 99.9 % guarantee" in result.output


def test_a_model_kept_before_any_aggregation_is_not_the_default_and_is_flagged(partner: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(partner, tmp_path / "copy")
    data = PartnerData.load(copy)
    net = build_net(data.features.shape[1], data.tasks, FEDERATION)
    keep_partner_model(copy, "consortium", 8, net, {"valid_score": 0.1}, FEDERATION, trunk_round=0)  # a failed run
    assert find_saved_model(copy).run_id == 4  # kept earlier, but federated
    failed = find_saved_model(copy, 8)
    assert failed.never_aggregated and "run 8 (consortium) aggregated no round" in failed.caveat
    assert find_saved_model(copy, 4).caveat is None  # kept before the round was recorded: not known, no caveat
    source, key_file = tmp_path / "mols.csv", tmp_path / "consortium.key"
    source.write_text("smiles\nCCO\n")
    key_file.write_text(TEST_KEY.hex())
    command = ["predict", str(source), "-o", str(tmp_path / "out.csv"), "--partner", str(copy), "--key", str(key_file)]
    result = runner.invoke(app, [*command, "--run", "8"], env={"COLUMNS": "300"})
    assert result.exit_code == 0 and "so the federation has not trained it" in result.output


def test_without_a_run_the_best_federated_model_without_dp_is_taken(partner: Path, tmp_path: Path) -> None:
    """The user test: after a DP experiment, `predict --partner` silently used the destroyed DP model."""
    copy = shutil.copytree(partner, tmp_path / "copy")  # holds run 4, valid score 0.5
    data = PartnerData.load(copy)
    net = build_net(data.features.shape[1], data.tasks, FEDERATION)
    dp = FEDERATION.model_copy(update={"privacy": {"enabled": True}})
    keep_partner_model(copy, "consortium", 9, net, {"valid_score": 0.9}, dp, trunk_round=3)  # kept last, DP
    keep_partner_model(copy, "consortium", 10, net, {"valid_score": 0.2}, FEDERATION, trunk_round=3)  # kept last
    assert find_saved_model(copy).run_id == 4  # the best non-DP one, not the latest nor the DP one
    assert find_saved_model(copy, 9).under_dp  # still there when named


def test_without_a_run_only_dp_models_are_refused_with_the_reason(partner_dirs: list[Path], tmp_path: Path) -> None:
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    data = PartnerData.load(folder)
    net = build_net(data.features.shape[1], data.tasks, FEDERATION)
    dp = FEDERATION.model_copy(update={"privacy": {"enabled": True}})
    keep_partner_model(folder, "consortium", 2, net, {"valid_score": 0.9}, dp, trunk_round=3)
    with pytest.raises(InputError, match=r"no model of a run that was federated without DP.*consortium/2 \(DP\)"):
        find_saved_model(folder)


def test_predicting_warns_where_the_partners_best_local_model_scored_higher(partner: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(partner, tmp_path / "copy")
    saved = find_saved_model(copy, 4)
    rows = [
        EndpointGain("BBB_Martins", "AUC-PR", 40, local_best=0.9, federated=0.7, federated_head="network", joined=0.8),
        EndpointGain(
            "Lipophilicity_AstraZeneca", "R²", 40, local_best=0.3, federated=0.2, federated_head="blend", joined=0.5
        ),
    ]
    write_gain_report(JoiningGain("partner2", "consortium", 4, "the core recipe", rows, 0.5), saved.folder)
    assert endpoints_local_wins(saved.folder) == {"BBB_Martins": (0.9, 0.8)}
    source, key_file = tmp_path / "mols.csv", tmp_path / "consortium.key"
    source.write_text("smiles\nCCO\n")
    key_file.write_text(TEST_KEY.hex())
    command = ["predict", str(source), "-o", str(tmp_path / "out.csv"), "--partner", str(copy), "--key", str(key_file)]
    result = runner.invoke(app, [*command, "--run", "4"], env={"COLUMNS": "300"})
    assert result.exit_code == 0 and "best local model" in result.output and "BBB_Martins 0.9 vs 0.8" in result.output
    assert "Lipophilicity_AstraZeneca 0.3" not in result.output


def test_after_federate_gain_the_partner_predicts_with_its_local_and_federated_models_averaged(
    partner: Path, tmp_path: Path
) -> None:
    copy = shutil.copytree(partner, tmp_path / "partner2")
    alone = partner_predictor(
        copy, TEST_KEY, 4, config=TrainingRecipe(side_tasks=False, gbm_iterations=10).model_config()
    )
    assert alone.local is None  # no local model kept yet: the federated model alone
    result = runner.invoke(
        app, ["federate", "gain", str(copy), "--run", "4", "--gbm-iterations", "10", "--no-side-tasks"]
    )
    assert result.exit_code == 0, result.output
    share = json.loads((copy / "federated_model" / "consortium" / "run-4" / "gain.json").read_text())["local_share"]

    joined = partner_predictor(copy, TEST_KEY, 4)  # with the trees `gain` assessed (10 iterations)
    assert joined.local is not None and joined.local.share == share
    smiles = pd.read_csv(copy / "compounds.csv")["smiles"].head(20).tolist()
    features = compute_features(smiles, default_feature_set(), parallel=ParallelOptions(progress=False))
    kept = alone.kept.outputs(alone.keyed(features).astype(np.float32))
    local = local_model.local_outputs(joined.local.model, features, joined.endpoints, joined.targets)
    expected = joined.targets.outputs(partner_model.joined_outputs(kept, local, share, alone.kept.is_classification))
    values = joined.predict_features(features).values
    bbb, lipophilicity = joined.endpoints.index("BBB_Martins"), joined.endpoints.index("Lipophilicity_AstraZeneca")
    # lipophilicity is reported on its own scale as averaged; BBB through the partner's Platt scaling (monotone)
    np.testing.assert_allclose(
        values["Lipophilicity_AstraZeneca"], np.clip(expected[:, lipophilicity], -5, 8), rtol=1e-5
    )
    assert (
        np.corrcoef(np.argsort(np.argsort(values["BBB_Martins"])), np.argsort(np.argsort(expected[:, bbb])))[0, 1]
        > 0.99
    )
    if 0 < share < 1:  # where the average is taken, it differs from the federated model alone
        assert not np.allclose(
            values["Lipophilicity_AstraZeneca"], alone.predict_features(features).values["Lipophilicity_AstraZeneca"]
        )

    # labels prepared again: the old local model is not theirs, the federated model predicts alone
    (copy / "local_best.json").write_text(json.dumps({"labels_sha256": "0" * 64, "recipe": "old"}))
    assert local_model.load_local_model(copy) is None
