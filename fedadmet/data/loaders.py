"""Loaders for labelled molecule files: TDC-format CSV, generic CSV/TSV with chosen columns, and SDF.

Every loader standardises SMILES through the chemistry layer and returns a :class:`MoleculeTable`
that keeps every input row (rejects carry their reason), so nothing is silently dropped.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem

from fedadmet.chem.standardize import Reject, standardize_many
from fedadmet.exceptions import InputError, TooLargeError

SD_PROBLEM_COLUMN = "sd_problem"
_SD_COLUMNS = ("sd_record", "name", SD_PROBLEM_COLUMN, "smiles")
SMILES_COLUMN_CANDIDATES = ("smiles", "SMILES", "Smiles", "Drug", "canonical_smiles", "Smiles_unify")


@dataclass
class MoleculeTable:
    """Input rows with canonical ``smiles`` (missing, i.e. None/NaN, for rejects) and label columns;
    ``row`` is the 0-based input row."""

    frame: pd.DataFrame
    label_columns: list[str]
    rejects: list[Reject]
    source: str

    @property
    def valid(self) -> pd.DataFrame:
        return self.frame[self.frame["smiles"].notna()].reset_index(drop=True)

    def labelled(self, column: str) -> pd.DataFrame:
        """Valid rows that carry a label in ``column``, as the ``smiles``/``form``/``y`` frame models train on."""
        rows = self.valid[self.valid[column].notna()]
        return pd.DataFrame(
            {"smiles": rows["smiles"].to_numpy(), "form": rows["form"].to_numpy(), "y": rows[column].astype(float)}
        ).reset_index(drop=True)


def read_table(
    path: Path, *, max_bytes: int | None = None, max_rows: int | None = None, source: str | None = None
) -> pd.DataFrame:
    """Read a CSV/TSV (optionally .gz) as text columns with clear errors for unusable files.

    ``source`` names the file in messages (default: its name); at most ``max_rows`` data rows are read,
    so that a caller with a row limit can tell it was exceeded without reading everything.
    """
    path = Path(path)
    source = source or path.name
    raw = _file_content(path, max_bytes, source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{source} is not UTF-8 text: undecodable byte 0x{raw[exc.start]:02x} on line {line}",
            expected="a UTF-8 encoded CSV (re-save it as 'CSV UTF-8')",
        ) from None
    if not text.strip():
        raise InputError(f"{source} is empty", expected="a header line and at least one data row")
    delimiter = "\t" if path.name.lower().removesuffix(".gz").endswith((".tsv", ".tab")) else _sniff_delimiter(text)
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_values=[""], nrows=max_rows
        )
    except (pd.errors.ParserError, csv.Error) as exc:
        raise InputError(f"{source} is not a well-formed table: {str(exc).strip()}") from None
    if frame.empty:
        raise InputError(f"{source} has a header but no data rows", got=list(frame.columns))
    stripped = [str(column).strip() for column in frame.columns]  # " smiles" from a hand-edited header
    if len(set(stripped)) == len(stripped):
        frame.columns = stripped
    return frame


def _file_content(path: Path, max_bytes: int | None, source: str) -> bytes:
    """The file's bytes, decompressed if its name ends in .gz. ``max_bytes`` bounds the file and also
    what it decompresses to, so that a small archive cannot expand without end."""
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise TooLargeError(f"{source} is {path.stat().st_size} bytes", expected=f"at most {max_bytes} bytes")
    if path.suffix.lower() != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as archive:
            content = archive.read(-1 if max_bytes is None else max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{source} is not a readable gzip file: {exc}") from None
    if max_bytes is not None and len(content) > max_bytes:
        raise TooLargeError(f"{source} decompresses to more than {max_bytes} bytes", expected=f"at most {max_bytes}")
    return content


def free_name(name: str, taken: Container[str], prefix: str) -> str:
    """``name``, prefixed with ``prefix`` as often as needed to be none of ``taken``: how a column keeps
    its value beside another of the same name."""
    while name in taken:
        name = prefix + name
    return name


def _sniff_delimiter(text: str) -> str:
    header = text.splitlines()[0]
    return max([",", "\t", ";"], key=header.count)


def find_smiles_column(frame: pd.DataFrame, requested: str | None = None) -> str:
    """The SMILES column: the requested one, or the first usual name present."""
    if requested is not None:
        if requested not in frame.columns:
            raise InputError(f"column {requested!r} not found", got=list(frame.columns), expected="a SMILES column")
        return requested
    for candidate in SMILES_COLUMN_CANDIDATES:
        if candidate in frame.columns:
            return candidate
    raise InputError(
        "no SMILES column found; choose it with smiles_column (CLI: --smiles-column)",
        got=list(frame.columns),
        expected=f"one of {', '.join(SMILES_COLUMN_CANDIDATES)}",
    )


def table_from_frame(
    frame: pd.DataFrame, smiles_column: str | None, label_columns: Sequence[str], source: str
) -> MoleculeTable:
    column = find_smiles_column(frame, smiles_column)
    missing = [c for c in label_columns if c not in frame.columns]
    if missing:
        raise InputError(f"label column(s) {missing} not found in {source}", got=list(frame.columns))
    batch = standardize_many(frame[column].tolist())
    out = pd.DataFrame(
        {
            "row": np.arange(len(frame)),
            "input_smiles": frame[column].to_numpy(),
            "smiles": batch.smiles,
            "form": batch.forms,
        }
    )
    for label in label_columns:
        values = pd.to_numeric(frame[label], errors="coerce")
        bad = frame[label].notna() & values.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"column {label!r} of {source} has a non-numeric value on data row {row + 1}",
                got=frame[label].iloc[row],
                expected="a number or an empty cell",
            )
        out[label] = values.to_numpy()
    return MoleculeTable(out, list(label_columns), batch.rejects, source)


def load_csv(path: Path, smiles_column: str | None = None, label_columns: Sequence[str] = ()) -> MoleculeTable:
    """A CSV/TSV with a SMILES column and any number of numeric label columns."""
    return table_from_frame(read_table(path), smiles_column, label_columns, Path(path).name)


def load_tdc(path: Path) -> MoleculeTable:
    """A TDC file with columns ``Drug_ID, Drug, Y``."""
    frame = read_table(path)
    if not {"Drug", "Y"} <= set(frame.columns):
        raise InputError(f"{Path(path).name} is not in TDC format", got=list(frame.columns), expected="Drug_ID,Drug,Y")
    return table_from_frame(frame, "Drug", ["Y"], Path(path).name)


def load_sdf(path: Path, label_properties: Sequence[str] = ()) -> MoleculeTable:
    """An SD file (optionally gzipped) with numeric data fields as labels; records RDKit cannot read
    become rejects at their record index, with RDKit's reason."""
    frame = read_molecules(path)
    table = table_from_frame(frame, "smiles", label_properties, Path(path).name)
    problems = frame[SD_PROBLEM_COLUMN]
    table.rejects = [
        Reject(r.index, "", problems.iloc[r.index]) if isinstance(problems.iloc[r.index], str) else r
        for r in table.rejects
    ]
    return table


def read_molecules(
    path: Path,
    smiles_column: str | None = None,
    *,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Molecules to predict from a CSV/TSV (all columns kept) or an SD file, either optionally gzipped.

    An SD file gives ``sd_record`` (1-based), ``name``, every data field, ``sd_problem`` (why RDKit
    could not read a record, whose ``smiles`` is then empty) and ``smiles``. The keyword arguments are
    as for :func:`read_table`.
    """
    path = Path(path)
    source = source or path.name
    if not path.name.lower().removesuffix(".gz").endswith(".sdf"):
        frame = read_table(path, max_bytes=max_bytes, max_rows=max_rows, source=source)
        find_smiles_column(frame, smiles_column)
        return frame
    content = _file_content(path, max_bytes, source)
    if not content.strip():
        raise InputError(f"{source} is empty", expected="an SD file with at least one record")
    # Read unsanitised and sanitised here, so that a record RDKit rejects keeps its fields and its reason.
    records = [
        _sd_record(number, mol)
        for number, mol in enumerate(Chem.ForwardSDMolSupplier(io.BytesIO(content), sanitize=False), start=1)
        if max_rows is None or number <= max_rows
    ]
    if not records:
        raise InputError(f"{source} holds no SD records", expected="records separated by $$$$")
    frame = pd.DataFrame.from_records(records)
    fields = [c for c in frame.columns if c not in _SD_COLUMNS]
    return frame[["sd_record", "name", *fields, SD_PROBLEM_COLUMN, "smiles"]]


def _sd_record(number: int, mol: Chem.Mol | None) -> dict[str, object]:
    record: dict[str, object] = {"sd_record": number, "name": None, SD_PROBLEM_COLUMN: None, "smiles": None}
    if mol is None:
        record[SD_PROBLEM_COLUMN] = f"SD record {number} could not be read by RDKit (not a valid molfile block)"
        return record
    for field in mol.GetPropNames():  # a field called "name" or "smiles" must not replace what is read here
        record[free_name(field, record, "sd_")] = mol.GetProp(field)
    if mol.HasProp("_Name") and mol.GetProp("_Name"):
        record["name"] = mol.GetProp("_Name")
    try:
        Chem.SanitizeMol(mol)
        record["smiles"] = Chem.MolToSmiles(Chem.RemoveHs(mol))
    except (ValueError, RuntimeError) as exc:  # RDKit's sanitisation errors (valence, kekulisation) derive from these
        record[SD_PROBLEM_COLUMN] = f"SD record {number} could not be read by RDKit: {exc}"
    return record
