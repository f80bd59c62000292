"""Form-dependent endpoints (solubility) learn from and predict the input form; every other endpoint the parent
(issue 23: a salt may change a solubility, never a toxicity)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from fedadmet.chem.pipeline import FORM_NOTE
from fedadmet.data.catalogue import get_endpoint
from fedadmet.inference import predict
from fedadmet.models.artifacts import load_model, save_model
from fedadmet.models.fitting import fit_model
from fedadmet.models.labels import by_featurised_molecule, per_molecule
from tests.tiny_model import QUIET, TINY_CONFIG, endpoint_frame

IBUPROFEN = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
IBUPROFEN_SODIUM = "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+]"


def test_per_molecule_keeps_forms_apart_only_for_form_dependent_endpoints() -> None:
    frame = pd.DataFrame({"smiles": ["A", "A", "B"], "y": [-1.0, -3.0, -2.0], "form": ["A.[Na+]", "A", "B"]})
    solubility = per_molecule(frame, get_endpoint("Solubility_AqSolDB"))
    assert sorted(zip(solubility["form"], solubility["smiles"], solubility["y"], strict=True)) == [
        ("A", "A", -3.0),
        ("A.[Na+]", "A", -1.0),
        ("B", "B", -2.0),
    ]
    logd = per_molecule(frame, get_endpoint("Lipophilicity_AstraZeneca"))
    assert logd["smiles"].tolist() == ["A", "B"] and "form" not in logd


def test_only_form_dependent_frames_are_keyed_by_their_form_without_isotopes() -> None:
    labelled = pd.DataFrame({"smiles": ["CC(=O)O"], "y": [0.0], "form": ["[14CH3]C(=O)[O-].[Na+]"]})
    keyed = by_featurised_molecule({"Solubility_AqSolDB": labelled, "ClinTox": labelled.assign(y=1.0)})
    assert keyed["Solubility_AqSolDB"]["smiles"].tolist() == [Chem.CanonSmiles("CC(=O)[O-].[Na+]")]
    assert keyed["ClinTox"]["smiles"].tolist() == ["CC(=O)O"]
    assert all("form" not in frame for frame in keyed.values())


@pytest.fixture(scope="module")
def form_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    solubility = endpoint_frame("solubility_aqsoldb", rows=2000)
    salts = solubility[solubility["form"] != solubility["smiles"]]
    solubility = pd.concat([salts, solubility.head(400)]).drop_duplicates("form").reset_index(drop=True)
    frames = {"Solubility_AqSolDB": solubility, "hERG": endpoint_frame("herg")}
    train = {name: frame.iloc[: int(len(frame) * 0.8)].reset_index(drop=True) for name, frame in frames.items()}
    valid = {name: frame.iloc[int(len(frame) * 0.8) :].reset_index(drop=True) for name, frame in frames.items()}
    model = fit_model(train, valid, config=TINY_CONFIG, parallel=QUIET)
    return save_model(model, tmp_path_factory.mktemp("form-model") / "model")


def test_a_salt_changes_the_solubility_and_nothing_else(form_model_dir: Path) -> None:
    model = load_model(form_model_dir)
    assert model.form_endpoints == ["Solubility_AqSolDB"]
    result = predict([IBUPROFEN, IBUPROFEN_SODIUM], model=model)
    assert result["smiles"].tolist() == [IBUPROFEN, IBUPROFEN]  # the same parent profiled
    assert FORM_NOTE not in result.loc[0, "standardisation"] and FORM_NOTE in result.loc[1, "standardisation"]
    assert result.loc[0, "hERG"] == result.loc[1, "hERG"]
    assert result.loc[0, "Solubility_AqSolDB"] != result.loc[1, "Solubility_AqSolDB"]
    on_the_form = model.predict_smiles([Chem.CanonSmiles(IBUPROFEN_SODIUM)])
    np.testing.assert_allclose(result.loc[1, "Solubility_AqSolDB"], on_the_form.values["Solubility_AqSolDB"][0])
    np.testing.assert_allclose(
        result.loc[1, "Solubility_AqSolDB_domain"], on_the_form.endpoint_domain["Solubility_AqSolDB"][0]
    )


def test_a_model_saved_before_forms_predicts_every_endpoint_from_the_parent(form_model_dir: Path) -> None:
    model = load_model(form_model_dir)
    for head in model.heads.values():
        head.featurises_form = False
    result = predict([IBUPROFEN, IBUPROFEN_SODIUM], model=model)
    assert result.loc[0, "Solubility_AqSolDB"] == result.loc[1, "Solubility_AqSolDB"]
    assert FORM_NOTE not in result.loc[1, "standardisation"]
