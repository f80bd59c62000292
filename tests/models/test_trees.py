from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from catboost import CatBoostClassifier, CatBoostRegressor
from safetensors.numpy import load_file, save_file

from fedadmet.exceptions import ArtifactError
from fedadmet.models.admet_model import ADMETModel
from fedadmet.models.artifacts import load_model, save_model
from fedadmet.models.gbm import predict_gbm
from fedadmet.models.trees import ObliviousForest

MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CN1CCC[C@H]1c1cccnc1"]


@pytest.fixture(scope="module")
def heads() -> dict[str, CatBoostClassifier | CatBoostRegressor]:
    """Heads of different depths (the shallower ones' trees are padded), one deeper than 8 levels."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 12)).astype(np.float32)
    features[:, 3] = rng.integers(0, 4, size=300)  # repeated values: rows land exactly on borders
    classes = (features[:, 0] + features[:, 3] > 1).astype(int)
    values = 3 * features[:, 1] - features[:, 3] ** 2 + rng.normal(size=300)
    options = {"verbose": False, "allow_writing_files": False, "random_seed": 0, "iterations": 30}
    return {
        "classifier": CatBoostClassifier(depth=4, **options).fit(features, classes),
        "regressor": CatBoostRegressor(depth=6, **options).fit(features, values),
        "deep": CatBoostRegressor(depth=10, **options).fit(features, values),  # leaf indices beyond 8 bits
    }


def test_forest_predicts_what_catboost_predicts(heads: dict) -> None:
    forest = ObliviousForest.from_catboost(heads)
    rows = np.random.default_rng(1).normal(size=(37, 12)).astype(np.float32)  # more than one block of rows
    rows[:, 3] = np.arange(37) % 4
    rows[0, :3], rows[1, :3] = np.nan, [np.inf, -np.inf, np.nan]  # CatBoost reads NaN as below every border
    expected = np.stack([predict_gbm(model, rows, n_jobs=1) for model in heads.values()], axis=1)
    got = forest.predict(rows, is_classification=[True, False, False])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert forest.predict(rows[:0], [True, False, False]).shape == (0, 3)
    assert ObliviousForest.from_catboost({}).raw(rows).shape == (37, 0)


def test_forest_survives_its_arrays(heads: dict) -> None:
    forest = ObliviousForest.from_catboost(heads)
    copy = ObliviousForest.from_arrays({"other": np.zeros(1)} | forest.arrays(), list(heads))
    assert copy is not None
    rows = np.random.default_rng(2).normal(size=(5, 12)).astype(np.float32)
    np.testing.assert_array_equal(copy.raw(rows), forest.raw(rows))
    assert ObliviousForest.from_arrays({"other": np.zeros(1)}, list(heads)) is None
    with pytest.raises(ArtifactError, match="do not cover the 2 heads"):
        ObliviousForest.from_arrays(forest.arrays(), list(heads)[:2])
    with pytest.raises(ArtifactError, match="expected"):
        ObliviousForest.from_arrays({k: v for k, v in forest.arrays().items() if "scale" not in k}, list(heads))


@pytest.mark.parametrize(
    ("kind", "options", "labels"),
    [
        (CatBoostClassifier, {}, np.arange(60) % 3),  # three classes: three outputs
        (CatBoostRegressor, {"loss_function": "Poisson"}, np.arange(60) % 5),  # predicts exp(raw score)
        (CatBoostRegressor, {"nan_mode": "Max"}, np.arange(60.0)),  # NaN above every border
    ],
)
def test_models_the_forest_would_misread_are_refused(kind: type, options: dict, labels: np.ndarray) -> None:
    features = np.random.default_rng(0).normal(size=(60, 3))
    features[::7, 0] = np.nan
    model = kind(iterations=3, verbose=False, allow_writing_files=False, **options).fit(features, labels)
    with pytest.raises(ArtifactError, match="does not qualify"):
        ObliviousForest.from_catboost({"head": model})


def test_artifact_without_stored_trees_compiles_them(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = load_model(tiny_model_dir)
    assert model.forest is not None
    older = save_model(model, tmp_path / "older")
    weights = load_file(older / "weights.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("trees.")}, older / "weights.safetensors")
    reloaded = load_model(older)
    assert reloaded.forest is None
    before, after = model.predict_smiles(MOLECULES), reloaded.predict_smiles(MOLECULES)
    assert reloaded.forest is not None  # compiled on first use
    for name in model.endpoints:
        np.testing.assert_array_equal(before.values[name], after.values[name])


def test_forest_follows_a_replaced_head(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A head whose CatBoost model is replaced predicts with the new trees, in memory and after saving,
    even when the .cbm file is swapped behind a stored forest."""
    model = load_model(tiny_model_dir)
    features, graphs = model.featurize(MOLECULES), model.graphs_for(MOLECULES)
    head = model.heads["Caco2_Wang"]
    shorter = head.gbm.copy()
    shorter.shrink(10)
    expected = predict_gbm(shorter, model.gbm_input(features), n_jobs=1)

    def trees(of: ADMETModel) -> np.ndarray:
        return of.head_components(features, graphs)["Caco2_Wang"].gbm

    assert not np.allclose(trees(model), expected)
    head.gbm = shorter
    np.testing.assert_allclose(trees(model), expected, rtol=1e-12)
    saved = save_model(model, tmp_path / "saved")
    np.testing.assert_allclose(trees(load_model(saved)), expected, rtol=1e-12)
    swapped = save_model(load_model(tiny_model_dir), tmp_path / "swapped")  # stored forest: the 40-tree head
    shorter.save_model(str(swapped / "gbm" / "Caco2_Wang.cbm"), format="cbm")
    np.testing.assert_allclose(trees(load_model(swapped)), expected, rtol=1e-12)
