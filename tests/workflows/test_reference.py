"""Approved-drug percentiles: among all drugs, or among the drugs of one ATC class."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fedadmet.data.public import approved_drugs
from fedadmet.exceptions import InputError
from fedadmet.inference import load_model
from fedadmet.workflows.reference import (
    MIN_CLASS_DRUGS,
    REFERENCE_FILE,
    DrugReference,
    load_reference,
    percentile,
    write_reference,
)


def made_up_reference() -> DrugReference:
    """Nervous-system drugs predicted high, cardiovascular ones low, one drug in both, one in none."""
    atc = [("N06AB",)] * 20 + [("C07AB",)] * 20 + [("N02BA", "C01EB")] + [()]
    values = np.array([10.0 + i for i in range(20)] + [i / 2 for i in range(20)] + [5.0, 50.0])
    return DrugReference({"hERG": values}, atc)


def test_class_percentiles_compare_with_the_drugs_of_that_class_only() -> None:
    reference = made_up_reference()
    assert int(reference.members("N").sum()) == 21 and int(reference.members("C07").sum()) == 20
    everyone, nervous, cardio = (percentile(reference.quantiles_for(c)["hERG"], 12.0) for c in (None, "N", "C"))
    assert nervous < everyone < cardio == 100.0
    classes = {c.code: c for c in reference.classes()}
    assert set(classes) == {"C", "C07", "N", "N06"}  # C01 and N02 hold one drug each: too few
    assert classes["N"].drugs == 21 and classes["N"].name == "NERVOUS SYSTEM"


@pytest.mark.parametrize(("code", "cause"), [("n", "not an ATC class"), ("N02", "too few"), ("Z", "0 approved")])
def test_a_class_that_cannot_give_percentiles_is_refused_with_the_reason(code: str, cause: str) -> None:
    with pytest.raises(InputError, match=cause):
        made_up_reference().quantiles_for(code)
    assert MIN_CLASS_DRUGS == 10


def test_the_reference_is_stored_with_each_drugs_atc_codes(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = load_model(tiny_model_dir)
    drugs = approved_drugs().iloc[::60]
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.json").write_text("{}")
    write_reference(model, folder, drugs)
    stored = json.loads((folder / REFERENCE_FILE).read_text())
    assert stored["format"] == 2 and len(stored["atc"]) == stored["n_molecules"] >= len(drugs) - 5  # a few refused
    assert set(stored["atc"]) <= set(drugs["atc"]) and len(stored["values"]["hERG"]) == stored["n_molecules"]
    loaded = load_reference(model, folder, tmp_path / "cache")
    for name, quantiles in stored["quantiles"].items():  # from the stored values, 4 significant digits
        assert loaded.quantiles[name] == pytest.approx(quantiles, rel=1e-3, abs=1e-3)
    multi = next(i for i, codes in enumerate(stored["atc"]) if ";" in codes)
    assert loaded.atc[multi] == tuple(stored["atc"][multi].split(";")) and len(loaded.atc[multi]) > 1
