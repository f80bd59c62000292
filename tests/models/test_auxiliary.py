"""Side-task predictor: out-of-fold features for its own molecules, fold mean elsewhere, stored with the model."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fedadmet.data.public as public
from fedadmet.chem.compute import compute_features
from fedadmet.chem.featurizers import default_feature_set
from fedadmet.data.public import (
    NON_BENCHMARK_ENDPOINTS,
    bundled_path,
    on_model_scale,
    pharmabench_frames,
    side_task_frames,
)
from fedadmet.data.splits import without_molecules
from fedadmet.models.artifacts import load_model, save_model
from fedadmet.models.auxiliary import fit_auxiliary
from tests.tiny_model import TINY_CONFIG, tiny_side_frames, tiny_side_tasks

NEW_MOLECULES = ["CCO", "CC(=O)Nc1ccc(O)cc1"]


def test_side_molecules_get_the_held_out_fold_and_new_molecules_the_fold_mean() -> None:
    fitted = tiny_side_tasks()
    side_molecules = list(fitted.out_of_fold)[:20]
    features = compute_features(side_molecules + NEW_MOLECULES, default_feature_set())
    scaled = fitted.predictor.scaler.transform(features)
    per_fold = np.stack([net(scaled) for net in fitted.predictor.folds.members])
    got = fitted.features_for(side_molecules + NEW_MOLECULES, features)
    for row in range(len(side_molecules)):
        matches = [k for k in range(len(per_fold)) if np.allclose(got[row], per_fold[k, row], atol=1e-5)]
        assert len(matches) == 1, "a side molecule's feature must come from exactly one fold network"
    assert not np.allclose(got[: len(side_molecules)], per_fold.mean(0)[: len(side_molecules)], atol=1e-4)
    np.testing.assert_allclose(got[len(side_molecules) :], per_fold.mean(0)[len(side_molecules) :], atol=1e-5)


def test_side_predictor_trains_only_on_the_molecules_it_is_given() -> None:
    frames = tiny_side_frames()
    excluded = set(frames["Fraction_Unbound_PharmaBench"]["smiles"].head(50))
    kept = without_molecules(frames, excluded)
    fitted = fit_auxiliary(kept, default_feature_set(), TINY_CONFIG.auxiliary, seed=0)
    assert not excluded & set(fitted.out_of_fold)
    assert set(fitted.out_of_fold) == {s for f in kept.values() for s in f["smiles"]}


def test_model_heads_see_side_task_features_and_they_survive_saving(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = load_model(tiny_model_dir)
    assert model.auxiliary is not None and model.auxiliary.tasks == ["Fraction_Unbound_PharmaBench", "PharmaBench_bbb"]
    n_features = len(model.feature_set) + len(model.auxiliary.tasks)
    assert all(len(head.gbm.feature_names_) == n_features for head in model.heads.values())
    copy = load_model(save_model(model, tmp_path / "copy"))
    features = compute_features(NEW_MOLECULES, model.feature_set)
    np.testing.assert_array_equal(model.auxiliary(features), copy.auxiliary(features))


def test_pharmabench_sets_come_in_the_units_of_their_catalogue_endpoints() -> None:
    names = {"CYP2D6_IC50_PharmaBench", "Fraction_Unbound_PharmaBench", "Solubility_PharmaBench"}
    names |= {"Clearance_Microsome_Human_PharmaBench"}
    frames = pharmabench_frames(bundled_path(), ".csv.gz", names=names)
    assert set(frames) == names

    def raw(stem: str) -> pd.Series:
        return pd.read_csv(bundled_path("pharmabench", f"{stem}_final_data.csv.gz"))["value"]

    assert np.isclose(frames["CYP2D6_IC50_PharmaBench"]["y"].iloc[0], raw("cyp_2d6_reg").iloc[0])  # uM as filed
    assert np.isclose(frames["Solubility_PharmaBench"]["y"].iloc[0], raw("water_sol_reg").iloc[0] - 9)  # log10 nM -> M
    clint = frames["Clearance_Microsome_Human_PharmaBench"]["y"].iloc[0]
    assert np.isclose(np.log10(clint), raw("hum_mic_cl_reg").iloc[0])  # filed as log10(uL/min/mg)
    unbound = frames["Fraction_Unbound_PharmaBench"]["y"]
    assert unbound.between(1e-3, 1).all()
    assert np.isclose(unbound.iloc[0], max(1 - raw("ppb_reg").iloc[0], 1e-3))  # filed as fraction bound
    scaled = on_model_scale(frames)
    assert np.isclose(scaled["CYP2D6_IC50_PharmaBench"]["y"].iloc[0], np.log10(raw("cyp_2d6_reg").iloc[0]))


def test_side_data_reuses_the_loaded_public_sets_and_adds_pharmabench(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = {name: pd.DataFrame({"smiles": ["C"], "y": [1.0]}) for name in (*NON_BENCHMARK_ENDPOINTS, "Caco2_Wang")}
    pharmabench = {"LogD_PharmaBench": pd.DataFrame({"smiles": ["CC"], "y": [0.5]})}
    monkeypatch.setattr(public, "pharmabench_frames", lambda root, suffix, names=None, **_: pharmabench)
    side = side_task_frames(loaded, bundled_path(), ".csv.gz")
    assert set(side) == {*NON_BENCHMARK_ENDPOINTS, "LogD_PharmaBench"}  # benchmark endpoints stay out
    assert all(side[name] is loaded[name] for name in NON_BENCHMARK_ENDPOINTS)  # taken as loaded, not re-read
