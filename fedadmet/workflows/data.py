"""Labelled data use cases: a file's quality report, and a partner's prepared folder for a federation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fedadmet.config import get_settings
from fedadmet.data.catalogue import find_endpoint
from fedadmet.data.loaders import MoleculeTable, read_table, table_from_frame
from fedadmet.data.qc import QCReport, qc_report
from fedadmet.exceptions import InputError

LONG_TABLE_COLUMNS = {"endpoint", "value", "unit"}


def labelled_table(path: Path, *, smiles_column: str | None = None, labels: Sequence[str] = ()) -> MoleculeTable:
    """A CSV/TSV or TDC file's rows, standardised, with its numeric ``labels`` (default: ``Y`` and the
    columns named after an endpoint); every row is kept, rejects with their reason."""
    frame = read_table(path)
    if set(frame.columns) >= LONG_TABLE_COLUMNS and not labels:
        raise InputError(
            f"{path.name} is a long assay table (endpoint, value, unit per row): its QC report is the qc.md "
            "that `fedadmet data prepare` writes after converting units and aggregating replicates"
        )
    labels = list(labels) or [c for c in frame.columns if c == "Y" or find_endpoint(str(c)) is not None]
    settings = get_settings()
    smiles_column = smiles_column or ("Drug" if "Drug" in frame else None)
    return table_from_frame(
        frame, smiles_column, labels, path.name, limits=settings.molecule_limits(), parallel=settings.parallel()
    )


def quality_report(
    path: Path, *, labels: Sequence[str] = (), smiles_column: str | None = None, endpoint: str | None = None
) -> QCReport:
    """Rejects with reasons, duplicates with conflicting labels, ranges and outliers of a CSV/TSV or TDC
    file's :func:`labelled_table`; ``endpoint`` is the catalogue endpoint of the first label (its unit and
    range)."""
    table = labelled_table(path, smiles_column=smiles_column, labels=labels)
    first = table.label_columns[:1]
    return qc_report(table, {first[0]: endpoint} if endpoint and first else None)


@dataclass(frozen=True)
class PreparedFolder:
    folder: Path
    compounds: int
    tasks: int
    trainable: list[str]  # tasks that meet the quorum: what this partner can train in a federation
    key_id: str
    reference_hash: str  # compared with the consortium's published one

    @property
    def qc_report(self) -> Path:
        return self.folder / "qc.md"


def prepare(
    inputs: Sequence[Path],
    *,
    key_file: Path,
    output: Path,
    partner: str,
    endpoints: Sequence[str] = (),
    expected_reference_hash: str | None = None,
    cache_dir: Path | None = None,
    overwrite: bool = False,
) -> PreparedFolder:
    """Standardise, convert units, aggregate replicates, apply the quorum and key the features of a
    partner's assay tables and TDC-style files (``endpoints``: the latter's, in order) into ``output``."""
    from fedadmet.federated.keys import read_key
    from fedadmet.federated.prepare import load_partner_inputs, prepare_partner
    from fedadmet.names import check_partner_name

    check_partner_name(partner)  # before the inputs are read and standardised
    settings = get_settings()
    parallel = settings.parallel()
    manifest = prepare_partner(
        load_partner_inputs(inputs, endpoints, limits=settings.molecule_limits(), parallel=parallel),
        read_key(key_file),
        output,
        partner,
        expected_reference_hash=expected_reference_hash,
        cache_dir=cache_dir,
        overwrite=overwrite,
        parallel=parallel,
    )
    tasks = manifest["tasks"]
    assert isinstance(tasks, list)
    return PreparedFolder(
        output,
        int(manifest["n_compounds"]),  # type: ignore[call-overload]
        len(tasks),
        [task["name"] for task in tasks if task["trainable"]],
        str(manifest["key_id"]),
        str(manifest["reference_hash"]),
    )
