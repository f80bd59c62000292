"""Loaders for labelled molecule files: TDC-format CSV, generic CSV/TSV with chosen columns, and SDF.

Every loader standardises SMILES through the chemistry layer and returns a :class:`MoleculeTable`
that keeps every input row (rejects carry their reason), so nothing is silently dropped.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import tempfile
import warnings
import zlib
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem

from fedadmet.chem.parallel import ParallelOptions
from fedadmet.chem.standardize import MoleculeLimits, Reject, standardize_many
from fedadmet.data.catalogue import name_key
from fedadmet.exceptions import InputError, TooLargeError, readable_size

SD_PROBLEM_COLUMN = "sd_problem"
_SD_COLUMNS = ("sd_record", "name", SD_PROBLEM_COLUMN, "smiles")
_TEXT_TABLE = "a CSV or TSV text file (in a spreadsheet program: save as 'CSV UTF-8')"
SMILES_COLUMN_CANDIDATES = ("smiles", "Drug", "canonical_smiles", "isomeric_smiles", "Smiles_unify")


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
        """Valid rows that carry a label in ``column``, as the ``smiles``/``y``/``form`` frame models train on:
        ``smiles`` is the parent (a salt and its free base are one molecule to a model), ``form`` the input
        form, which only form-dependent endpoints featurise (``Endpoint.form_dependent``)."""
        rows = self.valid[self.valid[column].notna()]
        return pd.DataFrame(
            {"smiles": rows["smiles"].to_numpy(), "y": rows[column].astype(float), "form": rows["form"].to_numpy()}
        ).reset_index(drop=True)


GZIP_MAGIC = b"\x1f\x8b"  # how every gzip stream starts


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
    if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise InputError(f"{source} is a spreadsheet workbook or an archive, not a text table", expected=_TEXT_TABLE)
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
    header = [name.strip() for name in next(csv.reader(io.StringIO(text), delimiter=delimiter), [])]
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:  # pandas would rename the second "smiles" to "smiles.1" and go on with the first
        raise InputError(
            f"{source} names a column more than once: {', '.join(map(repr, repeated))}",
            expected="each column named once",
        )
    try:
        with warnings.catch_warnings():
            # index_col=False: a row with more fields than the header is an error here; pandas would
            # otherwise take the first column as an index and shift every column by one.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text),
                sep=delimiter,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                nrows=max_rows,
                index_col=False,
            )
    except pd.errors.ParserWarning:
        line, fields, width = _first_long_row(text, delimiter)
        raise InputError(
            f"{source} is not a well-formed table: line {line} has {fields} fields, the header {width}",
            expected="as many fields on every line as in the header (a trailing separator adds one)",
        ) from None
    except (pd.errors.ParserError, csv.Error) as exc:
        raise InputError(f"{source} is not a well-formed table: {str(exc).strip()}") from None
    if frame.empty:
        raise InputError(f"{source} has a header but no data rows", got=list(frame.columns))
    frame.columns = [str(column).strip() for column in frame.columns]  # " smiles" from a hand-edited header
    return frame


def _file_content(path: Path, max_bytes: int | None, source: str) -> bytes:
    """The file's bytes, decompressed if its name ends in .gz or it starts as gzip does (a compressed file
    saved as .csv). ``max_bytes`` bounds the file and also what it decompresses to, so that a small archive
    cannot expand without end."""
    if path.is_dir():
        raise InputError(f"{path} is a folder", expected="a file")
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise TooLargeError(
            f"{source} is {readable_size(path.stat().st_size)}", expected=f"at most {readable_size(max_bytes)}"
        )
    with path.open("rb") as handle:
        compressed = handle.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    if path.suffix.lower() != ".gz" and not compressed:
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as archive:
            content = archive.read(-1 if max_bytes is None else max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{source} is not a readable gzip file: {exc}") from None
    if max_bytes is not None and len(content) > max_bytes:
        raise TooLargeError(
            f"{source} decompresses to more than {readable_size(max_bytes)}",
            expected=f"at most {readable_size(max_bytes)}",
        )
    return content


def free_name(name: str, taken: Container[str], prefix: str) -> str:
    """``name``, prefixed with ``prefix`` as often as needed to be none of ``taken``: how a column keeps
    its value beside another of the same name."""
    while name in taken:
        name = prefix + name
    return name


def _first_long_row(text: str, delimiter: str) -> tuple[int, int, int]:
    """(line number, fields, header fields) of the first line with more fields than the header."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    width = len(next(reader))
    for row in reader:
        if len(row) > width:
            return reader.line_num, len(row), width
    raise AssertionError("pandas reported a line with more fields than the header; csv finds none")


def _sniff_delimiter(text: str) -> str:
    header = text.splitlines()[0]
    return max([",", "\t", ";"], key=header.count)


def find_smiles_column(frame: pd.DataFrame, requested: str | None = None) -> str:
    """The SMILES column: the requested one, or the first usual name present."""
    if requested is not None:
        if requested not in frame.columns:
            raise InputError(f"column {requested!r} not found", got=list(frame.columns), expected="a SMILES column")
        return requested
    by_key = {name_key(column): column for column in reversed(frame.columns)}  # the first of equal keys wins
    for candidate in SMILES_COLUMN_CANDIDATES:
        if name_key(candidate) in by_key:
            return by_key[name_key(candidate)]
    first = str(frame.columns[0]) if len(frame.columns) else ""
    below = str(frame.iloc[0, 0]) if len(frame) and len(frame.columns) else ""
    # A header like "COC" parses too: an all-letter one counts as a SMILES when the cell below it does.
    if first and Chem.MolFromSmiles(first) is not None and (not first.isalpha() or Chem.MolFromSmiles(below)):
        raise InputError(
            f"no header line: the first line starts with a SMILES ({first[:40]!r})",
            expected="a first line naming the columns, e.g. 'smiles' (or a .smi file: SMILES and name per line)",
        )
    raise InputError(
        "no SMILES column found; say which column holds the SMILES "
        "(--smiles-column on the command line, the SMILES column field on the web page)",
        got=list(frame.columns),
        expected=f"one of {', '.join(SMILES_COLUMN_CANDIDATES)} (in any case; spaces, _ and - are ignored)",
    )


def table_from_frame(
    frame: pd.DataFrame,
    smiles_column: str | None,
    label_columns: Sequence[str],
    source: str,
    *,
    limits: MoleculeLimits | None = None,
    parallel: ParallelOptions | None = None,
) -> MoleculeTable:
    column = find_smiles_column(frame, smiles_column)
    missing = [c for c in label_columns if c not in frame.columns]
    if missing:
        raise InputError(f"label column(s) {missing} not found in {source}", got=list(frame.columns))
    batch = standardize_many(frame[column].tolist(), limits, parallel)
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


def load_tdc(
    path: Path, *, limits: MoleculeLimits | None = None, parallel: ParallelOptions | None = None
) -> MoleculeTable:
    """A TDC file with columns ``Drug_ID, Drug, Y``."""
    frame = read_table(path)
    if not {"Drug", "Y"} <= set(frame.columns):
        raise InputError(f"{Path(path).name} is not in TDC format", got=list(frame.columns), expected="Drug_ID,Drug,Y")
    return table_from_frame(frame, "Drug", ["Y"], Path(path).name, limits=limits, parallel=parallel)


def read_molecules(
    path: Path,
    smiles_column: str | None = None,
    *,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Molecules to predict from a CSV/TSV (all columns kept), a SMILES file (.smi: SMILES and name per
    line) or an SD file (.sdf, .sd), each optionally gzipped.

    An SD file gives ``sd_record`` (1-based), ``name``, every data field, ``sd_problem`` (why RDKit
    could not read a record, whose ``smiles`` is then empty) and ``smiles``. The keyword arguments are
    as for :func:`read_table`.
    """
    path = Path(path)
    source = source or path.name
    kind = path.name.lower().removesuffix(".gz")
    if kind.endswith(".smi"):
        return _read_smiles_file(_file_content(path, max_bytes, source), source, max_rows)
    if not kind.endswith((".sdf", ".sd")):
        frame = read_table(path, max_bytes=max_bytes, max_rows=max_rows, source=source)
        find_smiles_column(frame, smiles_column)
        return frame
    content = _file_content(path, max_bytes, source)
    if not content.strip():
        raise InputError(f"{source} is empty", expected="an SD file with at least one record")
    text = content.decode("utf-8", errors="replace")
    blocks = [block for block in _SD_SEPARATOR.split(text) if block.strip()]
    if max_rows is not None:
        blocks = blocks[:max_rows]
    records = [_sd_record(number, block) for number, block in enumerate(blocks, start=1)]
    if not records:
        raise InputError(f"{source} holds no SD records", expected="records separated by $$$$")
    frame = pd.DataFrame.from_records(records)
    fields = [c for c in frame.columns if c not in _SD_COLUMNS]
    return frame[["sd_record", "name", *fields, SD_PROBLEM_COLUMN, "smiles"]]


def read_unnamed_molecules(
    content: bytes, smiles_column: str | None = None, source: str = "standard input"
) -> pd.DataFrame:
    """:func:`read_molecules` for input without a file name to tell its type (standard input)."""
    if content.startswith(GZIP_MAGIC):  # `zcat` was left out of the pipe
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{source} is not a readable gzip stream: {exc}") from None
    if b"\x00" in content:
        raise InputError(f"{source} holds binary data", expected="text: SD records, a CSV/TSV table or SMILES lines")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{_unnamed_suffix(content, smiles_column)}"
        path.write_bytes(content)
        return read_molecules(path, smiles_column, source=source)


def _unnamed_suffix(content: bytes, smiles_column: str | None) -> str:
    """An SD file if it has record ends; a table if its first line names the SMILES column or holds a comma
    or semicolon (never part of a SMILES), so that a table without a usable header is explained as one;
    else a SMILES list (SMILES and name per line, separated by white space)."""
    text = content.decode("utf-8-sig", errors="replace")
    if _SD_SEPARATOR.search(text):
        return ".sdf"
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if "," in first_line or ";" in first_line:
        return ".csv"
    if first_line:
        try:
            names = [name.strip().strip('"') for name in first_line.split(_sniff_delimiter(first_line))]
            find_smiles_column(pd.DataFrame(columns=names), smiles_column)
            return ".csv"
        except InputError:
            pass
    return ".smi"


def _read_smiles_file(content: bytes, source: str, max_rows: int | None) -> pd.DataFrame:
    """A SMILES file: one molecule per line, its SMILES and optionally a name after white space; lines
    starting with # and a first line starting with the word "smiles" are skipped."""
    text = content.decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if lines and lines[0].split()[0].lower() == "smiles":
        lines = lines[1:]
    rows = [smiles_and_name(line) for line in lines]
    if not rows:
        raise InputError(f"{source} holds no SMILES", expected="one SMILES per line, optionally followed by a name")
    rows = rows[:max_rows] if max_rows is not None else rows
    return pd.DataFrame({"smiles": [row[0] for row in rows], "name": [row[1] for row in rows]})


def smiles_and_name(line: str) -> tuple[str, str | None]:
    """A SMILES line's structure and the name after white space, as in a .smi file ("CCO ethanol"); a
    CXSMILES extension (``CCO |$;;X$|``) stays with its structure."""
    structure, *rest = line.split(maxsplit=1) or [""]
    if not rest:
        return structure, None
    if rest[0].startswith("|"):
        return line.strip(), None
    return structure, rest[0].strip()


_SD_SEPARATOR = re.compile(r"^\$\$\$\$[^\n]*(?:\n|$)", flags=re.MULTILINE)
_SD_FIELD_HEADER = re.compile(r"^>.*?<([^>]*)>")


def _sd_fields(block: str) -> dict[str, str]:
    """The data fields after ``M  END``, read from the record's text, so that they survive a molfile
    block RDKit cannot read (unknown element, bad counts line); values spanning lines keep their breaks."""
    _, end, data = block.partition("M  END")
    fields: dict[str, str] = {}
    if not end:
        return fields
    name, lines = None, []
    for line in [*data.splitlines(), ""]:
        header = _SD_FIELD_HEADER.match(line)
        if header:
            name, lines = header.group(1), []
        elif name is not None and not line.strip():
            fields[name] = "\n".join(lines)
            name = None
        elif name is not None:
            lines.append(line)
    return fields


def _sd_record(number: int, block: str) -> dict[str, object]:
    record: dict[str, object] = {"sd_record": number, "name": None, SD_PROBLEM_COLUMN: None, "smiles": None}
    for field, value in _sd_fields(block).items():  # a field called "name" or "smiles" must not replace ours
        record[free_name(field, record, "sd_")] = value
    record["name"] = block.splitlines()[0].strip() or None  # a molfile's first line is its title
    mol = Chem.MolFromMolBlock(block, sanitize=False, removeHs=False)
    if mol is None:
        record[SD_PROBLEM_COLUMN] = f"SD record {number} could not be read by RDKit (not a valid molfile block)"
        return record
    try:
        Chem.SanitizeMol(mol)
        record["smiles"] = Chem.MolToSmiles(Chem.RemoveHs(mol))
    except (ValueError, RuntimeError) as exc:  # RDKit's sanitisation errors (valence, kekulisation) derive from these
        record[SD_PROBLEM_COLUMN] = f"SD record {number} could not be read by RDKit: {exc}"
    return record
