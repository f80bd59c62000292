import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fedadmet.data.splits import molecule_set_hash
from fedadmet.exceptions import ArtifactError, InputError
from fedadmet.models.artifacts import load_model, save_model
from fedadmet.models.fitting import fit_model
from fedadmet.models.trunk import masked_multitask_loss
from tests.tiny_model import QUIET, TINY_CONFIG, tiny_frames

MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C"]


def test_save_load_round_trip_gives_identical_predictions(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = load_model(tiny_model_dir)
    before = model.predict_smiles(MOLECULES)
    copy = load_model(save_model(model, tmp_path / "copy"))
    after = copy.predict_smiles(MOLECULES)
    for name in model.endpoints:
        np.testing.assert_array_equal(before.values[name], after.values[name])
        np.testing.assert_array_equal(before.uncertainty[name], after.uncertainty[name])
    np.testing.assert_array_equal(before.domain_score, after.domain_score)


def test_artifact_holds_no_pickle(tiny_model_dir: Path) -> None:
    files = {p.suffix for p in tiny_model_dir.rglob("*") if p.is_file()}
    assert files <= {".json", ".safetensors", ".cbm"}
    for path in tiny_model_dir.rglob("*"):
        if path.suffix == ".safetensors":  # an 8-byte length, then a JSON header: no code to run
            data = path.read_bytes()
            json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
        elif path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"


def test_predictions_are_calibrated_shapes(tiny_model_dir: Path) -> None:
    prediction = load_model(tiny_model_dir).predict_smiles(MOLECULES)
    herg = prediction.values["hERG"]
    assert ((herg >= 0) & (herg <= 1)).all()
    assert (prediction.uncertainty["hERG"] <= 0.5).all()
    assert (prediction.uncertainty["Caco2_Wang"] > 0).all()
    assert ((prediction.domain_score >= 0) & (prediction.domain_score <= 1)).all()


def test_training_molecules_are_in_domain_and_far_molecules_are_not(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    train, _ = tiny_frames()
    inside = model.predict_smiles(train["hERG"]["smiles"].head(20).tolist())
    outside = model.predict_smiles(["[Xe]", "FC(F)(F)C(F)(F)C(F)(F)C(F)(F)F"]).domain_score
    assert inside.domain_score.mean() > 0.9
    assert outside.max() < inside.domain_score.min()
    # measured against hERG's own training molecules, each of them is itself: in domain, whatever the rest
    np.testing.assert_allclose(inside.endpoint_domain["hERG"], 1.0)
    assert inside.endpoint_in_domain["hERG"].all() and inside.in_domain.all()
    caco2_only = sorted(set(train["Caco2_Wang"]["smiles"]) - set(train["hERG"]["smiles"]))[:10]
    np.testing.assert_allclose(model.predict_smiles(caco2_only).endpoint_domain["Caco2_Wang"], 1.0)


def test_loading_a_missing_model_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"model\.json is missing"):
        load_model(tmp_path)


def test_trunk_never_sees_excluded_molecules() -> None:
    """The leakage rule: molecules excluded from the trunk are absent from what it trains and stops on."""
    train, valid = tiny_frames()
    forbidden = set(train["hERG"]["smiles"].head(30)) | set(valid["Caco2_Wang"]["smiles"].head(10))
    model = fit_model(train, valid, config=TINY_CONFIG, parallel=QUIET, exclude_from_trunk=forbidden)
    allowed = {s for f in train.values() for s in f["smiles"]} - forbidden
    assert model.metadata["trunk_molecules_sha256"] == molecule_set_hash(allowed)
    assert model.metadata["trunk_molecules"] == len(allowed)
    herg = train["hERG"]
    assert model.metadata["trunk_rows"]["hERG"] == int((~herg["smiles"].isin(forbidden)).sum())
    assert model.metadata["head_rows"]["hERG"] == len(herg)  # the GBM heads keep all of their endpoint's rows


def test_every_endpoint_needs_validation_rows() -> None:
    train, valid = tiny_frames()
    with pytest.raises(InputError, match="validation"):
        fit_model(train, {"hERG": valid["hERG"]}, config=TINY_CONFIG, parallel=QUIET)


def test_masked_loss_ignores_missing_labels_and_respects_censoring() -> None:
    outputs = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    kinds = torch.tensor([True, False])
    full = masked_multitask_loss(outputs, torch.tensor([[1.0, 2.0], [0.0, float("nan")]]), kinds)
    changed_missing = masked_multitask_loss(
        torch.tensor([[0.0, 2.0], [1.0, 99.0]]), torch.tensor([[1.0, 2.0], [0.0, float("nan")]]), kinds
    )
    assert torch.isclose(full, changed_missing)
    targets = torch.tensor([[float("nan"), 1.0]])
    regression_only = torch.tensor([False, False])
    relations = torch.tensor([[0, 1]])  # label is ">1"
    above = masked_multitask_loss(torch.tensor([[0.0, 3.0]]), targets, regression_only, relations)
    below = masked_multitask_loss(torch.tensor([[0.0, 0.0]]), targets, regression_only, relations)
    assert above.item() == 0.0
    assert below.item() == pytest.approx(1.0)


def test_a_seed_reproduces_the_whole_model() -> None:
    """The trunk's initial weights follow the config seed, not whatever the global RNG holds by then."""
    train, valid = tiny_frames()
    torch.manual_seed(1)
    first = fit_model(train, valid, config=TINY_CONFIG, parallel=QUIET)
    torch.manual_seed(2)  # a different global state before the second fit
    second = fit_model(train, valid, config=TINY_CONFIG, parallel=QUIET)
    assert first.metadata["trunk_valid_loss"] == second.metadata["trunk_valid_loss"]
    before, after = first.predict_smiles(MOLECULES), second.predict_smiles(MOLECULES)
    for name in first.endpoints:
        np.testing.assert_array_equal(before.values[name], after.values[name])


def test_a_damaged_model_folder_is_an_artifact_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "weights.safetensors").write_bytes((folder / "weights.safetensors").read_bytes()[:100])
    with pytest.raises(ArtifactError, match="damaged or incomplete"):
        load_model(folder)


def test_saving_replaces_a_model_whole_and_never_a_folder_of_other_files(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = load_model(tiny_model_dir)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "approved_drugs_reference.json").write_text("{}")  # an older model's file
    (folder / "model.json").write_text("{}")
    save_model(model, folder)
    assert not (folder / "approved_drugs_reference.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    mode = (folder / "model.json").stat().st_mode
    assert (folder / "weights.safetensors").stat().st_mode == mode  # readable by whoever may read the card
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="holds files but no model"):
        save_model(model, notes)
    assert (notes / "mine.txt").read_text() == "keep me"


def test_the_trunk_is_an_ensemble_of_seeded_members_saved_and_loaded_whole(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    assert model.config.trunk_members == len(model.trunk) == 2
    features = model.featurize(MOLECULES)
    scaled = model.scaler.transform(features)
    first, second = (member(scaled) for member in model.trunk.members)
    assert not np.allclose(first, second)  # trained from different seeds
    expected = model.targets.outputs((first + second) / 2)
    predicted = model.trunk_predictions(features)
    for j, task in enumerate(model.trunk.tasks):
        np.testing.assert_allclose(predicted[task], expected[:, j], rtol=1e-5)


def test_a_model_saved_with_one_trunk_before_ensembles_still_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "older"
    shutil.copytree(tiny_model_dir, folder)
    tensors = load_file(folder / "weights.safetensors")
    save_file({k: v for k, v in tensors.items() if not k.startswith("net1.")}, folder / "weights.safetensors")
    with pytest.raises(ArtifactError, match="net1 is missing"):  # the card still says two members
        load_model(folder)
    card = json.loads((folder / "model.json").read_text())
    del card["config"]["trunk_members"]
    (folder / "model.json").write_text(json.dumps(card))
    older, current = load_model(folder), load_model(tiny_model_dir)
    assert older.config.trunk_members == len(older.trunk) == 1
    features = current.featurize(MOLECULES)
    np.testing.assert_array_equal(older.trunk(features), current.trunk.members[0](features))


def test_the_graph_member_is_saved_and_its_share_is_the_configured_one(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    assert model.reads_graphs and len(model.graph.networks) == TINY_CONFIG.graph_members  # type: ignore[union-attr]
    features, graphs = model.featurize(MOLECULES), model.graphs_for(MOLECULES)
    parts = model.head_components(features, graphs)["Caco2_Wang"]
    assert parts.graph is not None and not np.allclose(parts.graph, parts.trunk)
    head = model.heads["Caco2_Wang"]
    rest = head.gbm_weight * parts.gbm + (1 - head.gbm_weight) * parts.trunk
    expected = model.config.graph_weight * parts.graph + (1 - model.config.graph_weight) * rest
    predicted = model.predict_features(features, graphs).values["Caco2_Wang"]
    np.testing.assert_allclose(predicted, head.endpoint.from_model_scale(expected), rtol=1e-6)
    assert "graph_only" in head.validation


def test_a_graph_member_over_the_regression_tasks_leaves_the_classifiers_to_the_trees_and_trunk(
    tiny_model_dir: Path,
) -> None:
    model = load_model(tiny_model_dir)  # its member learns the regression tasks only (TINY_CONFIG)
    assert model.graph is not None and model.graph.tasks == ["Caco2_Wang"]
    features, graphs = model.featurize(MOLECULES), model.graphs_for(MOLECULES)
    parts = model.head_components(features, graphs)["hERG"]
    assert parts.graph is None
    head = model.heads["hERG"]
    blended = head.gbm_weight * parts.gbm + (1 - head.gbm_weight) * parts.trunk
    expected = head.platt(blended) if head.platt is not None else blended
    np.testing.assert_allclose(model.predict_features(features, graphs).values["hERG"], expected, rtol=1e-6)
    assert "graph_only" not in head.validation


def test_a_model_with_a_graph_member_refuses_features_without_graphs(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir)
    with pytest.raises(InputError, match="graphs"):
        model.predict_features(model.featurize(MOLECULES))


def test_profiles_read_the_graphs_the_pipeline_computes_as_prediction_from_smiles_does(tiny_model_dir: Path) -> None:
    from fedadmet.inference import predict

    model = load_model(tiny_model_dir)
    profiled = predict(MOLECULES, model=tiny_model_dir)
    direct = model.predict_smiles(profiled["smiles"].tolist())
    np.testing.assert_allclose(profiled["Caco2_Wang"].to_numpy(float), direct.values["Caco2_Wang"], rtol=1e-5)
