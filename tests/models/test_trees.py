from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from catboost import CatBoostClassifier, CatBoostRegressor
from safetensors.numpy import load_file, save_file

from fedadmet.exceptions import ArtifactError
from fedadmet.models.admet_model import ADMETModel
from fedadmet.models.gbm import predict_gbm
from fedadmet.models.trees import ObliviousForest

MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CN1CCC[C@H]1c1cccnc1"]


@pytest.fixture(scope="module")
def heads() -> dict[str, CatBoostClassifier | CatBoostRegressor]:
    """A classifier and a regressor of different depths (the shallower one's trees are padded)."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 12)).astype(np.float32)
    features[:, 3] = rng.integers(0, 4, size=300)  # repeated values: rows land exactly on borders
    classes = (features[:, 0] + features[:, 3] > 1).astype(int)
    values = 3 * features[:, 1] - features[:, 3] ** 2 + rng.normal(size=300)
    options = {"verbose": False, "allow_writing_files": False, "random_seed": 0, "iterations": 30}
    return {
        "classifier": CatBoostClassifier(depth=4, **options).fit(features, classes),
        "regressor": CatBoostRegressor(depth=6, **options).fit(features, values),
    }


def test_forest_predicts_what_catboost_predicts(heads: dict) -> None:
    forest = ObliviousForest.from_catboost(heads)
    rows = np.random.default_rng(1).normal(size=(37, 12)).astype(np.float32)  # more than one block of rows
    rows[:, 3] = np.arange(37) % 4
    rows[0, :3], rows[1, :3] = np.nan, [np.inf, -np.inf, np.nan]  # CatBoost reads NaN as below every border
    expected = np.stack([predict_gbm(model, rows) for model in heads.values()], axis=1)
    got = forest.predict(rows, is_classification=[True, False])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert forest.predict(rows[:0], [True, False]).shape == (0, 2)


def test_forest_survives_its_arrays(heads: dict) -> None:
    forest = ObliviousForest.from_catboost(heads)
    copy = ObliviousForest.from_arrays({"other": np.zeros(1)} | forest.arrays(), list(heads))
    assert copy is not None
    rows = np.random.default_rng(2).normal(size=(5, 12)).astype(np.float32)
    np.testing.assert_array_equal(copy.raw(rows), forest.raw(rows))
    assert ObliviousForest.from_arrays({"other": np.zeros(1)}, list(heads)) is None


def test_multi_output_models_are_refused() -> None:
    rng = np.random.default_rng(0)
    model = CatBoostClassifier(iterations=3, verbose=False, allow_writing_files=False)
    model.fit(rng.normal(size=(60, 3)), np.arange(60) % 3)
    with pytest.raises(ArtifactError, match="single-output"):
        ObliviousForest.from_catboost({"three_classes": model})


def test_artifact_without_stored_trees_compiles_them(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = ADMETModel.load(tiny_model_dir)
    assert model.forest is not None
    older = model.save(tmp_path / "older")
    weights = load_file(older / "weights.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("trees.")}, older / "weights.safetensors")
    reloaded = ADMETModel.load(older)
    assert reloaded.forest is None
    before, after = model.predict_smiles(MOLECULES), reloaded.predict_smiles(MOLECULES)
    for name in model.endpoints:
        np.testing.assert_array_equal(before.values[name], after.values[name])
