"""Long assay tables: unit conversion, relations, errors naming the row, replicate aggregation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from fedadmet.data.assay import aggregate_replicates, load_assay_table
from fedadmet.exceptions import InputError

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
CAFFEINE = "Cn1c(=O)c2c(ncn2C)n(C)c1=O"


def write(tmp_path: Path, rows: list[tuple]) -> Path:
    path = tmp_path / "assay.csv"
    pd.DataFrame(rows, columns=["compound_id", "smiles", "endpoint", "relation", "value", "unit"]).to_csv(
        path, index=False
    )
    return path


def test_units_are_converted_and_order_reversing_units_flip_the_relation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            ("c1", ASPIRIN, "LD50_Zhu", ">", 200.0, "mg/kg"),
            ("c2", CAFFEINE, "Half_Life_Obach", "=", 300.0, "min"),
            ("c3", CAFFEINE, "Solubility_AqSolDB", "=", 10.0, "uM"),
        ],
    )
    frame = load_assay_table(path).frame.set_index("compound_id")
    molar_mass = Descriptors.MolWt(Chem.MolFromSmiles(ASPIRIN))
    assert frame.loc["c1", "value"] == pytest.approx(-np.log10(200.0e-3 / molar_mass))
    assert frame.loc["c1", "relation"] == -1  # "> 200 mg/kg" means "< x" in -log10(mol/kg)
    assert frame.loc["c2", "value"] == pytest.approx(5.0)
    assert frame.loc["c3", "value"] == pytest.approx(-5.0)


def test_endpoint_and_unit_names_are_read_as_people_write_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            ("c1", ASPIRIN, "half life obach", "=", 120.0, " min "),
            ("c2", ASPIRIN, "VDss_Lombardo", "=", 700.0, "ml/kg"),  # the litre symbol in either case
            ("c3", ASPIRIN, "Clearance_Hepatocyte_AZ", "=", 5.0, "\u03bcL / min / 10^6 cells"),  # Greek mu, spaces
            ("c4", ASPIRIN, "herg", "=", 1.0, "binary"),
        ],
    )
    frame = load_assay_table(path).frame.set_index("compound_id")
    assert frame["endpoint"].tolist() == ["Half_Life_Obach", "VDss_Lombardo", "Clearance_Hepatocyte_AZ", "hERG"]
    assert frame["value"].tolist() == pytest.approx([2.0, 0.7, 5.0, 1.0])


def test_unit_letters_other_than_the_litre_keep_their_case(tmp_path: Path) -> None:
    path = write(tmp_path, [("c1", ASPIRIN, "Solubility_AqSolDB", "=", 1.0, "MM")])  # not mM
    with pytest.raises(InputError, match="unknown unit 'MM' for Solubility_AqSolDB on data row 1"):
        load_assay_table(path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            ("c1", ASPIRIN, "Half_Life_Obach", "=", 1.0, "fortnights"),
            "unknown unit 'fortnights' for Half_Life_Obach on data row 2",
        ),
        (("c1", ASPIRIN, "Half_Life_Obach", "about", 1.0, "h"), "unknown relation 'about' on data row 2"),
        (("c1", ASPIRIN, "NotAnEndpoint", "=", 1.0, ""), "data row 2"),
        (("c1", ASPIRIN, "AMES", "=", 0.7, ""), "yes/no endpoint but data row 2 holds 0.7"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, row: tuple, message: str) -> None:
    path = write(tmp_path, [("c0", CAFFEINE, "Half_Life_Obach", "=", 2.0, "h"), row])
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_assay_table(path)


def test_missing_columns_and_bad_smiles(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("smiles,value\nCCO,1\n")
    with pytest.raises(InputError, match="lacks assay-table column"):
        load_assay_table(path)
    path = write(tmp_path, [("c1", "not-a-smiles", "AMES", "=", 1, ""), ("c2", CAFFEINE, "AMES", "=", 0, "")])
    loaded = load_assay_table(path)
    assert list(loaded.frame["compound_id"]) == ["c2"]
    assert loaded.rejects[0][0] == 0 and "parse" in loaded.rejects[0][1]


def test_replicates_aggregate_by_majority_mean_and_tightest_bound() -> None:
    measurements = pd.DataFrame(
        {
            "compound_id": ["a", "a", "a", "b", "b", "c", "c", "d", "d", "e", "e"],
            "smiles": ["A", "A", "A", "B", "B", "C", "C", "D", "D", "E", "E"],
            "form": ["A", "A", "A", "B", "B", "C", "C", "D", "D", "E", "E"],
            "endpoint": ["AMES"] * 5 + ["Half_Life_Obach"] * 6,
            "relation": [0, 0, 0, 0, 0, 0, 0, -1, -1, 1, -1],
            "value": [1, 1, 0, 1, 0, 1.0, 100.0, 5.0, 3.0, 2.0, 8.0],
        }
    )
    aggregated = aggregate_replicates(measurements)
    result = aggregated.frame.set_index("smiles")
    assert result.loc["A", "value"] == 1 and result.loc["A", "replicates"] == 3
    assert "B" not in result.index  # a 1-1 tie is a conflict
    assert result.loc["C", "value"] == pytest.approx(10.0)  # mean on the log10 training scale
    assert result.loc["D", "value"] == 3.0 and result.loc["D", "relation"] == -1
    assert "E" not in result.index
    assert aggregated.conflicts == {"AMES": 1, "Half_Life_Obach": 1}
