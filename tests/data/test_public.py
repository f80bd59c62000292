"""Training data from a user's files: which columns are labels, and which endpoint a file holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedadmet.data.public import training_frames_from_path
from fedadmet.exceptions import InputError


def test_label_columns_are_found_in_any_spelling_of_an_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("smiles,herg,Caco2 Wang,notes\nCCO,1,-4.5,a\nc1ccccc1O,0,-5.0,b\n")
    frames = training_frames_from_path(path)
    assert sorted(frames) == ["Caco2_Wang", "hERG"]
    assert frames["hERG"]["y"].tolist() == [1.0, 0.0] and frames["Caco2_Wang"]["y"].tolist() == [-4.5, -5.0]


def test_two_columns_for_one_endpoint_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("smiles,hERG,herg\nCCO,1,0\n")
    with pytest.raises(InputError, match="columns 'hERG' and 'herg' both name hERG"):
        training_frames_from_path(path)


def test_a_tdc_file_named_in_another_spelling_gives_its_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "Caco2-Wang.csv"
    path.write_text("Drug_ID,Drug,Y\na,CCO,-4.5\n")
    assert list(training_frames_from_path(path)) == ["Caco2_Wang"]
