"""Loaders read CSV/TSV, TDC and SDF files, keep every row, and explain unusable input.

Labelled CSV/TSV files are read as `fedadmet data qc` reads them (:func:`labelled_table`)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from fedadmet.data.loaders import load_tdc, read_molecules, read_table
from fedadmet.exceptions import InputError
from fedadmet.workflows.data import labelled_table


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_chosen_smiles_and_label_columns(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "assay.csv",
        "id,structure,logS,pIC50,note\na,CCO,-0.5,5.1,x\nb,C[NH3+].[Cl-],,6.2,y\nc,c1ccccc1O,1.25,,z\n",
    )
    table = labelled_table(path, smiles_column="structure", labels=["logS", "pIC50"])

    assert table.label_columns == ["logS", "pIC50"]
    assert table.source == "assay.csv"
    assert table.rejects == []
    assert table.frame["row"].tolist() == [0, 1, 2]
    assert table.frame["input_smiles"].tolist() == ["CCO", "C[NH3+].[Cl-]", "c1ccccc1O"]
    assert table.frame["smiles"].tolist() == ["CCO", "CN", "Oc1ccccc1"]
    np.testing.assert_array_equal(table.frame["logS"].to_numpy(), [-0.5, np.nan, 1.25])
    np.testing.assert_array_equal(table.frame["pIC50"].to_numpy(), [5.1, 6.2, np.nan])
    assert "note" not in table.frame.columns

    labelled = table.labelled("logS")
    assert labelled.columns.tolist() == ["smiles", "y", "form"]
    assert labelled["smiles"].tolist() == ["CCO", "Oc1ccccc1"]
    assert labelled["y"].tolist() == [-0.5, 1.25]
    salt = table.labelled("pIC50")  # the salt's form travels with its parent
    assert salt.loc[1, "smiles"] == "CN" and salt.loc[1, "form"] == "C[NH3+].[Cl-]"


def test_smiles_column_is_found_by_usual_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "name,SMILES\nethanol,OCC\n")
    assert labelled_table(path).frame["smiles"].tolist() == ["CCO"]


def test_tsv_and_semicolon_and_gzip_are_read(tmp_path: Path) -> None:
    tsv = _write(tmp_path / "x.tsv", "smiles\ty\nCCO\t1\n")
    semicolon = _write(tmp_path / "y.csv", "smiles;y\nCCO;1\n")
    gz = tmp_path / "z.csv.gz"
    gz.write_bytes(gzip.compress(b"smiles,y\nCCO,1\n"))
    for path in (tsv, semicolon, gz):
        table = labelled_table(path, labels=["y"])
        assert table.labelled("y").to_dict("records") == [{"smiles": "CCO", "y": 1.0, "form": "CCO"}], path.name


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("smiles,y\nCCO,1\n".encode("utf-8-sig"))
    assert labelled_table(path, labels=["y"]).frame["smiles"].tolist() == ["CCO"]


def test_tdc_format(tmp_path: Path) -> None:
    path = _write(tmp_path / "caco2.csv", "Drug_ID,Drug,Y\nd1,CCO,-4.5\nd2,CC(=O)[O-].[Na+],-5.25\n")
    table = load_tdc(path)
    assert table.label_columns == ["Y"]
    assert table.labelled("Y").to_dict("records") == [
        {"smiles": "CCO", "y": -4.5, "form": "CCO"},
        {"smiles": "CC(=O)O", "y": -5.25, "form": "CC(=O)[O-].[Na+]"},
    ]


def test_tdc_format_is_checked(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "smiles,y\nCCO,1\n")
    with pytest.raises(InputError, match="not in TDC format") as info:
        load_tdc(path)
    assert "Drug" in str(info.value)


def test_rejected_rows_stay_in_the_frame_and_are_listed_with_their_index(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "smiles,y\nCCO,1\nnot_smiles,2\n,3\nc1ccccc1,4\n")
    table = labelled_table(path, labels=["y"])

    assert len(table.frame) == 4
    assert table.frame["row"].tolist() == [0, 1, 2, 3]
    assert table.frame["smiles"].isna().tolist() == [False, True, True, False]
    assert table.frame["y"].tolist() == [1.0, 2.0, 3.0, 4.0]  # labels of rejects are kept too
    assert [r.index for r in table.rejects] == [1, 2]
    assert "not_smiles" in table.rejects[0].reason
    assert "missing" in table.rejects[1].reason
    assert table.valid["smiles"].tolist() == ["CCO", "c1ccccc1"]
    assert table.labelled("y")["y"].tolist() == [1.0, 4.0]


def test_sd_data_fields_named_like_our_columns_are_kept_aside(tmp_path: Path) -> None:
    path = tmp_path / "mols.sdf"
    with Chem.SDWriter(str(path)) as writer:
        mol = Chem.MolFromSmiles("CCO")
        mol.SetProp("_Name", "ethanol")
        for field, value in [("name", "A"), ("sd_name", "B"), ("smiles", "C")]:
            mol.SetProp(field, value)
        writer.write(mol)
    row = read_molecules(path).iloc[0]
    assert (row["name"], row["sd_name"], row["sd_sd_name"], row["sd_smiles"], row["smiles"]) == (
        "ethanol",
        "A",
        "B",
        "C",
        "CCO",
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\n  \n", "is empty"),
        (b"smiles,y\n", "header but no data rows"),
        (b"smiles\nC\xe9\n", "not UTF-8.*line 2"),
        (b"smiles\nCCO\nCCN\nCC\xff\n", "not UTF-8.*line 4"),
    ],
)
def test_unusable_csv_gives_a_clear_input_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        labelled_table(path)
    assert "bad.csv" in str(info.value)


def test_non_utf8_message_says_how_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("smiles\nCé\n".encode("latin-1"))
    with pytest.raises(InputError) as info:
        labelled_table(path)
    message = str(info.value)
    assert "UTF-8" in message
    assert "line 2" in message
    assert "0xe9" in message


def test_missing_smiles_column_lists_the_columns_found(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "id,structure,activity\n1,CCO,2\n")
    with pytest.raises(InputError, match="no SMILES column") as info:
        labelled_table(path)
    for column in ("id", "structure", "activity"):
        assert repr(column) in str(info.value)


def test_requested_smiles_column_must_exist(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "smiles,y\nCCO,1\n")
    with pytest.raises(InputError, match="'mol' not found") as info:
        labelled_table(path, smiles_column="mol")
    assert "'smiles'" in str(info.value)


def test_missing_label_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "smiles,y\nCCO,1\n")
    with pytest.raises(InputError, match="label column") as info:
        labelled_table(path, labels=["y", "pIC50"])
    assert "pIC50" in str(info.value)
    assert "'y'" in str(info.value)  # the columns that do exist are listed


def test_non_numeric_label_names_the_row_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "smiles,y\nCCO,1\nCCN,2.5\nCCC,high\n")
    with pytest.raises(InputError) as info:
        labelled_table(path, labels=["y"])
    message = str(info.value)
    assert "'y'" in message
    assert "data row 3" in message
    assert "'high'" in message


@pytest.mark.parametrize(
    "loader", [labelled_table, load_tdc, read_molecules, lambda path: read_molecules(path.with_suffix(".sdf"))]
)
def test_missing_file(tmp_path: Path, loader) -> None:
    with pytest.raises(InputError, match="file not found"):
        loader(tmp_path / "nowhere.csv")


def test_empty_sdf(tmp_path: Path) -> None:
    path = tmp_path / "empty.sdf"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="is empty"):
        read_molecules(path)


def test_max_bytes_limit(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "smiles\n" + "CCO\n" * 100)
    assert isinstance(read_table(path), pd.DataFrame)
    with pytest.raises(InputError, match="at most 10 bytes"):
        read_table(path, max_bytes=10)


def test_salt_form_is_kept_beside_the_parent(tmp_path: Path) -> None:
    """Models learn from the neutral parent; the table keeps the form as drawn (molar masses, caveats)."""
    path = tmp_path / "salts.csv"
    path.write_text("smiles,logS\nCC(=O)[O-].[Na+],0.5\nCC(=O)O,1.0\n")
    table = labelled_table(path, smiles_column="smiles", labels=["logS"])
    assert table.labelled("logS")["smiles"].tolist() == ["CC(=O)O", "CC(=O)O"]
    assert table.frame["form"].tolist() == ["CC(=O)[O-].[Na+]", "CC(=O)O"]


def test_sd_record_with_an_unknown_element_keeps_its_name_and_fields(tmp_path: Path) -> None:
    good = Chem.MolToMolBlock(Chem.MolFromSmiles("CCO"))
    unreadable = "stilbene" + good[good.index("\n") :].replace(" O ", " Xx", 1)  # RDKit cannot parse the block
    second = f"{unreadable}>  <id>\nA-2\n\n>  <note>\ntwo\nlines\n\n$$$$\n"
    path = _write(tmp_path / "x.sd", f"{good}>  <id>\nA-1\n\n$$$$\n{second}")
    frame = read_molecules(path)
    assert frame[["name", "id"]].fillna("").values.tolist() == [["", "A-1"], ["stilbene", "A-2"]]
    assert frame.loc[1, "note"] == "two\nlines"
    assert "SD record 2 could not be read" in frame.loc[1, "sd_problem"] and pd.isna(frame.loc[1, "smiles"])


def test_smiles_files_are_read_with_their_names(tmp_path: Path) -> None:
    path = _write(tmp_path / "mols.smi", "# a comment first\nSMILES Name\nCCO ethanol\nc1ccccc1 benzene ring\nCCN\n")
    frame = read_molecules(path)
    assert frame.fillna("").values.tolist() == [["CCO", "ethanol"], ["c1ccccc1", "benzene ring"], ["CCN", ""]]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("extra.csv", b"name,smiles\naspirin,CC(=O)O,5.2\n", "line 2 has 3 fields, the header 2"),
        ("book.xlsx", b"PK\x03\x04rest-of-a-zip", "spreadsheet workbook"),
        ("plain.csv", b"C1=Cc2ccccc2NN=C1\nCCO\n", "no header line: the first line starts with a SMILES"),
    ],
)
def test_misshapen_tables_are_named_for_what_they_are(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_molecules(path)


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        read_molecules(tmp_path)


@pytest.mark.parametrize("header", ["SMILES", "Smiles", "IsomericSMILES", "Canonical SMILES", "canonical_smiles"])
def test_smiles_column_is_found_whatever_its_case_and_spacing(tmp_path: Path, header: str) -> None:
    path = _write(tmp_path / "x.csv", f"id,{header}\n1,CCO\n")
    assert read_molecules(path).columns.tolist() == ["id", header]
    assert labelled_table(path).frame["smiles"].tolist() == ["CCO"]


@pytest.mark.parametrize("header", ["smiles,smiles", "smiles, smiles ", "id,smiles,id"])
def test_a_column_named_twice_is_refused_by_name(tmp_path: Path, header: str) -> None:
    """pandas would keep the first and rename the second (``smiles.1``): the user never learns which was used."""
    path = _write(tmp_path / "x.csv", f"{header}\n" + ",".join(["CCO"] * len(header.split(","))) + "\n")
    repeated = "'id'" if header.startswith("id") else "'smiles'"
    with pytest.raises(InputError, match=f"names a column more than once: {repeated}"):
        read_molecules(path)


def test_unnamed_columns_may_repeat(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", ",,smiles\n1,2,CCO\n")
    assert read_molecules(path)["smiles"].tolist() == ["CCO"]


def test_a_gzip_file_named_without_gz_is_read(tmp_path: Path) -> None:
    """Browsers and mail programs often drop the .gz; the bytes still say gzip."""
    path = tmp_path / "molecules.csv"
    path.write_bytes(gzip.compress(b"smiles,name\nCCO,ethanol\n"))
    assert read_molecules(path)["name"].tolist() == ["ethanol"]
