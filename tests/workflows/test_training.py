"""The training workflow: one recipe, and the leakage guard for the benchmark and the deployable model alike."""

from pathlib import Path

import catboost
import pytest
import torch

from fedadmet.chem.featurizers import full_feature_set
from fedadmet.data.splits import molecule_set_hash, split_for_validation
from fedadmet.exceptions import InputError
from fedadmet.models.artifacts import load_model
from fedadmet.workflows.training import (
    LeakageError,
    TrainingData,
    TrainingRecipe,
    recipe_for,
    train_and_save,
    train_model,
)
from tests.tiny_model import TINY_CONFIG, endpoint_frame, tiny_side_frames, tiny_side_tasks

RECIPE = TrainingRecipe(side_tasks=False, valid_fraction=0.2, config=TINY_CONFIG)


def frames() -> dict:
    return {"hERG": endpoint_frame("herg", rows=150), "Caco2_Wang": endpoint_frame("caco2_wang", rows=150)}


def test_validation_molecules_never_train_the_trunk_of_a_deployable_model() -> None:
    data = frames()
    model = train_model(data, RECIPE, progress=False)
    train, valid = split_for_validation(data, RECIPE.valid_fraction, RECIPE.seed)
    held_out = {s for frame in valid.values() for s in frame["smiles"]}
    trunk = {s for frame in train.values() for s in frame["smiles"]} - held_out
    assert model.metadata["trunk_molecules_sha256"] == molecule_set_hash(trunk)
    assert model.metadata["valid_fraction"] == 0.2 and len(model.metadata["data_sha256"]["hERG"]) == 64
    # what a retrain must match to give the same numbers
    assert model.metadata["versions"]["catboost"] == catboost.__version__
    assert model.metadata["versions"]["torch"].startswith(torch.__version__.split("+")[0])


def test_a_side_task_predictor_trained_on_judging_molecules_is_refused() -> None:
    data = frames()
    side = tiny_side_tasks()
    judging = set(list(side.out_of_fold)[:3])
    with pytest.raises(LeakageError, match="3 molecule"):
        train_model(data, TrainingRecipe(config=TINY_CONFIG), valid=data, side_tasks=side, exclude=judging)


def test_the_recipe_trains_only_the_endpoints_asked_for() -> None:
    model = train_model(frames(), TrainingRecipe(side_tasks=False, endpoints=("hERG",), config=TINY_CONFIG))
    assert model.endpoints == ["hERG"]
    with pytest.raises(InputError, match="no labels for these endpoints"):
        train_model(frames(), TrainingRecipe(endpoints=("AMES",), config=TINY_CONFIG))


def test_the_served_model_on_bundled_data_trains_on_all_descriptors_and_a_users_data_on_the_lean_set() -> None:
    served = recipe_for(TrainingData({}, "bundled", bundled=True), seed=3)
    assert served.config.feature_set == "full" and served.seed == 3
    assert recipe_for(TrainingData({}, "mine.csv", bundled=False)).config.feature_set == "lean"
    model = train_model(
        frames(), TrainingRecipe(side_tasks=False, config=TINY_CONFIG.model_copy(update={"feature_set": "full"}))
    )
    assert model.feature_set.signature == full_feature_set().signature


def test_train_and_save_writes_the_model_and_its_drug_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fedadmet.workflows.training as training

    monkeypatch.setattr(training, "bundled_side_frames", lambda _: tiny_side_frames())
    written: list[Path] = []
    monkeypatch.setattr(training, "write_reference", lambda model, folder: written.append(folder))
    data = TrainingData(frames(), "two endpoints", bundled=False)
    recipe = TrainingRecipe(gbm_iterations=15, config=TINY_CONFIG)
    trained = train_and_save(data, recipe, tmp_path / "model", progress=False)
    assert written == [trained.folder]
    loaded = load_model(trained.folder)
    assert loaded.auxiliary is not None and loaded.auxiliary.tasks == [
        "Fraction_Unbound_PharmaBench",
        "PharmaBench_bbb",
    ]
    assert loaded.config.gbm.iterations == 15 and loaded.config.gbm.depth == TINY_CONFIG.gbm.depth


def test_heavy_atom_limit_set_in_the_environment_reaches_training_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training data is standardised under the settings' limits, which the workflow passes down."""
    from fedadmet.config import get_settings
    from fedadmet.workflows.training import load_training_data

    path = tmp_path / "caco2.csv"
    path.write_text("Drug,Y\nCCCCC,-5.0\nCCCCCC,-5.5\n")
    monkeypatch.setenv("FEDADMET_MAX_HEAVY_ATOMS", "5")
    get_settings.cache_clear()
    data = load_training_data(path, endpoint="Caco2_Wang")
    assert data.frames["Caco2_Wang"]["smiles"].tolist() == ["CCCCC"]
