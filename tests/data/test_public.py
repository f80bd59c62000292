"""Training data from a user's files: which columns are labels, and which endpoint a file holds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fedadmet.chem.standardize import inchikeys, standardize_smiles
from fedadmet.data.catalogue import get_endpoint
from fedadmet.data.public import (
    external_validation_keys,
    public_training_frames,
    served_training_frames,
    training_frames_from_path,
    within_declared_ranges,
    without_external_molecules,
)
from fedadmet.exceptions import InputError


def test_label_columns_are_found_in_any_spelling_of_an_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("smiles,herg,Caco2 Wang,notes\nCCO,1,-4.5,a\nc1ccccc1O,0,-5.0,b\n")
    files = training_frames_from_path(path)
    assert sorted(files.frames) == ["Caco2_Wang", "hERG"]
    assert files.frames["hERG"]["y"].tolist() == [1.0, 0.0] and files.frames["Caco2_Wang"]["y"].tolist() == [-4.5, -5.0]
    assert files.labels == [("mine.csv", "herg", "hERG"), ("mine.csv", "Caco2 Wang", "Caco2_Wang")]
    assert files.ignored == {"mine.csv": ["notes"]}  # reported, so a label column under another name is noticed


def test_a_column_named_otherwise_is_mapped_to_an_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("smiles,blocker,herg\nCCO,1,0\nc1ccccc1O,0,1\n")
    files = training_frames_from_path(path, label_columns={"blocker": "hERG"})
    assert files.frames["hERG"]["y"].tolist() == [1.0, 0.0]  # the mapped column, not the one named herg
    assert files.ignored == {"mine.csv": ["herg"]}
    with pytest.raises(InputError, match=r"label column\(s\) \['potency'\] are in no data file"):
        training_frames_from_path(path, label_columns={"potency": "hERG"})
    with pytest.raises(InputError, match="unknown endpoint 'hERGG'"):
        training_frames_from_path(path, label_columns={"blocker": "hERGG"})


def test_two_columns_for_one_endpoint_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("smiles,hERG,herg\nCCO,1,0\n")
    with pytest.raises(InputError, match="columns 'hERG' and 'herg' both name hERG"):
        training_frames_from_path(path)


def test_a_tdc_file_named_in_another_spelling_gives_its_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "Caco2-Wang.csv"
    path.write_text("Drug_ID,Drug,Y\na,CCO,-4.5\n")
    assert list(training_frames_from_path(path).frames) == ["Caco2_Wang"]


def test_a_file_without_label_columns_says_what_comes_close(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("smiles,herrg,notes\nCCO,1,a\n")
    with pytest.raises(InputError) as refused:
        training_frames_from_path(path, label_columns={"ic50": "hERG"})
    assert "; 'herrg' looks like hERG; --label column(s) not in it: ['ic50']" in str(refused.value)


# E-0001321, the first row of OpenADMET ExpansionRx (CC BY 4.0), which the served model must never train on
EXPANSIONRX_FIRST_MOLECULE = "CN1CCC[C@H]1COc1ccc(-c2nc3cc(-c4ccc5[nH]c(-c6ccc(O)cc6)nc5c4)ccc3[nH]2)cc1"


def test_molecules_of_the_external_validation_sets_never_reach_the_served_training_data() -> None:
    keys = external_validation_keys()
    assert len(keys) > 6000  # ExpansionRx 5,326 + ASAP molecules
    first, _ = standardize_smiles(EXPANSIONRX_FIRST_MOLECULE)
    assert first is not None and inchikeys([first])[0] in keys
    frames = {"LogD_PharmaBench": pd.DataFrame({"smiles": [first, "CCO"], "y": [1.0, 2.0]})}
    kept, removed = without_external_molecules(frames)
    assert removed == {first} and kept["LogD_PharmaBench"]["smiles"].tolist() == ["CCO"]


def test_public_training_frames_reads_only_the_endpoints_asked_for() -> None:
    frames = public_training_frames(["Caco2_Wang", "Fraction_Unbound_PharmaBench"])
    assert sorted(frames) == ["Caco2_Wang", "Fraction_Unbound_PharmaBench"]
    assert len(frames["Caco2_Wang"]) == 910  # TDC train_val + test
    with pytest.raises(InputError, match="no public data"):
        public_training_frames(["Caco2_Wrong"])


def test_the_served_data_leaves_out_and_counts_values_no_such_measurement_can_take() -> None:
    frames = {"Solubility_PharmaBench": pd.DataFrame({"smiles": ["CCO", "CCN", "CCC"], "y": [-2.0, -14.5, 3.0]})}
    kept = within_declared_ranges(frames)
    assert kept["Solubility_PharmaBench"]["smiles"].tolist() == ["CCO"]
    served = served_training_frames(["Solubility_PharmaBench"])
    assert served.out_of_range_removed["Solubility_PharmaBench"] == 10  # PharmaBench's unit slips below 1e-13.5 M
    solubility = served.frames["Solubility_PharmaBench"]["y"]
    assert get_endpoint("Solubility_PharmaBench").range_problem(solubility.to_numpy()) is None
