"""The public training data shipped with the package, and turning user files into training frames."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from fedadmet.chem.parallel import ParallelOptions
from fedadmet.chem.standardize import MoleculeLimits
from fedadmet.data.catalogue import CATALOGUE, TDC_BENCHMARK_ENDPOINTS, close_endpoints, find_endpoint, get_endpoint
from fedadmet.data.loaders import MoleculeTable, find_smiles_column, load_tdc, read_table, table_from_frame
from fedadmet.exceptions import InputError

TOX21_ASSAYS = tuple(name for name, e in CATALOGUE.items() if e.source == "MoleculeNet tox21.csv")
NON_BENCHMARK_ENDPOINTS = ("CYP1A2_Veith", "CYP2C19_Veith", *TOX21_ASSAYS, "ClinTox")
TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tab")


def bundled_path(*parts: str) -> Path:
    return Path(str(files("fedadmet.data").joinpath("bundled", *parts)))


def example_molecules_path() -> Path:
    return bundled_path("examples", "example_molecules.csv")


def approved_drugs() -> pd.DataFrame:
    """DrugBank approved drugs (name, id, smiles, atc): the reference set for percentiles and the demo."""
    return pd.read_csv(bundled_path("examples", "drugbank_approved.csv.gz"), dtype=str, keep_default_na=False)


@cache
def atc_class_names() -> dict[str, str]:
    """WHO ATC class code (levels 1-4: ``N``, ``N06``, ``N06A``, ``N06AB``) -> its name, where known."""
    frame = pd.read_csv(bundled_path("examples", "atc_classes.csv"), dtype=str, keep_default_na=False)
    return dict(zip(frame["code"], frame["name"], strict=True))


def public_training_frames(
    *, limits: MoleculeLimits | None = None, parallel: ParallelOptions | None = None
) -> dict[str, pd.DataFrame]:
    """Every public labelled data set in the catalogue as ``smiles``/``form``/``y`` frames (TDC train_val + test)."""
    frames: dict[str, pd.DataFrame] = {}
    for name, endpoint in TDC_BENCHMARK_ENDPOINTS.items():
        parts = [
            load_tdc(bundled_path("tdc_admet_group", name, f"{p}.csv.gz"), limits=limits, parallel=parallel).labelled(
                "Y"
            )
            for p in ("train_val", "test")
        ]
        frames[endpoint.name] = pd.concat(parts, ignore_index=True)
    return frames | non_benchmark_frames(bundled_path(), ".csv.gz", limits=limits, parallel=parallel)


def non_benchmark_frames(
    root: Path, suffix: str, *, limits: MoleculeLimits | None = None, parallel: ParallelOptions | None = None
) -> dict[str, pd.DataFrame]:
    """CYP1A2/CYP2C19 (Veith), the Tox21 assays and ClinTox from a folder laid out like ``shared/data``
    (``suffix`` ".csv") or like the bundled copies (".csv.gz")."""
    frames = {
        name: load_tdc(
            root / "tdc_single_pred_extra" / f"{name.lower()}{suffix}", limits=limits, parallel=parallel
        ).labelled("Y")
        for name in ("CYP1A2_Veith", "CYP2C19_Veith")
    }
    tox21 = _table(
        root / "moleculenet" / f"tox21{suffix}", "smiles", list(TOX21_ASSAYS), limits=limits, parallel=parallel
    )
    frames |= {assay: tox21.labelled(assay) for assay in TOX21_ASSAYS}
    frames["ClinTox"] = _table(
        root / "moleculenet" / f"clintox{suffix}", "smiles", ["CT_TOX"], limits=limits, parallel=parallel
    ).labelled("CT_TOX")
    return frames


# PharmaBench (Niu et al., Sci Data 2024; CC0) files that train the side-task predictor, and whether
# their values are log-transformed for the model: the CYP IC50s are plain uM spanning six decades.
# The units are doubtful (see shared/data/README.md), so these tasks are features, never predictions.
PHARMABENCH_SIDE_TASKS: dict[str, tuple[str, bool]] = {
    "PharmaBench_ames": ("ames_cls", False),
    "PharmaBench_bbb": ("bbb_cls", False),
    "PharmaBench_cyp2c9_ic50": ("cyp_2c9_reg", True),
    "PharmaBench_cyp2d6_ic50": ("cyp_2d6_reg", True),
    "PharmaBench_cyp3a4_ic50": ("cyp_3a4_reg", True),
    "PharmaBench_human_microsomal_clearance": ("hum_mic_cl_reg", False),
    "PharmaBench_mouse_microsomal_clearance": ("mou_mic_cl_reg", False),
    "PharmaBench_rat_microsomal_clearance": ("rat_mic_cl_reg", False),
    "PharmaBench_logd": ("logd_reg", False),
    "PharmaBench_ppb": ("ppb_reg", False),
    "PharmaBench_water_solubility": ("water_sol_reg", False),
}


def pharmabench_frames(
    root: Path,
    suffix: str,
    names: Collection[str] | None = None,
    *,
    limits: MoleculeLimits | None = None,
    parallel: ParallelOptions | None = None,
) -> dict[str, pd.DataFrame]:
    """PharmaBench side tasks (all, or ``names``) from a folder laid out like ``shared/data`` (``suffix``
    ".csv") or the bundled copies (".csv.gz"), with ``y`` on the model scale."""
    frames = {}
    for name, (stem, log10) in PHARMABENCH_SIDE_TASKS.items():
        if names is not None and name not in names:
            continue
        frame = _table(
            root / "pharmabench" / f"{stem}_final_data{suffix}",
            "Smiles_unify",
            ["value"],
            limits=limits,
            parallel=parallel,
        ).labelled("value")
        if log10:
            frame["y"] = np.log10(frame["y"])
        frames[name] = frame
    return frames


def side_task_frames(
    loaded: Mapping[str, pd.DataFrame],
    root: Path,
    suffix: str,
    *,
    limits: MoleculeLimits | None = None,
    parallel: ParallelOptions | None = None,
) -> dict[str, pd.DataFrame]:
    """The side-task predictor's data: CYP1A2/CYP2C19, Tox21 and ClinTox taken from ``loaded`` (frames
    already read by :func:`non_benchmark_frames` or :func:`public_training_frames`, so they are not read
    and standardised again), plus PharmaBench from ``root``."""
    return {name: loaded[name] for name in NON_BENCHMARK_ENDPOINTS} | pharmabench_frames(
        root, suffix, limits=limits, parallel=parallel
    )


def _table(
    path: Path,
    smiles_column: str,
    labels: list[str],
    *,
    limits: MoleculeLimits | None,
    parallel: ParallelOptions | None,
) -> MoleculeTable:
    return table_from_frame(read_table(path), smiles_column, labels, path.name, limits=limits, parallel=parallel)


@dataclass
class TrainingFiles:
    """Training frames read from a user's files, with what was made of their columns."""

    frames: dict[str, pd.DataFrame]
    labels: list[tuple[str, str, str]] = field(default_factory=list)  # (file, column, endpoint) read as labels
    ignored: dict[str, list[str]] = field(default_factory=dict)  # file -> columns read as neither SMILES nor label


def training_frames_from_path(
    path: Path,
    endpoint: str | None = None,
    smiles_column: str | None = None,
    label_columns: Mapping[str, str] | None = None,
    *,
    limits: MoleculeLimits | None = None,
    parallel: ParallelOptions | None = None,
) -> TrainingFiles:
    """Training frames from a file or a folder of files.

    A file is either TDC-format (``Drug``, ``Y``; the endpoint comes from ``endpoint``, the file name
    or its folder name, e.g. ``caco2_wang/train_val.csv``) or a wide table whose label columns are
    named after catalogue endpoints (in any spelling) or mapped to one by ``label_columns``
    (column -> endpoint). Frames for the same endpoint from several files are concatenated.
    """
    path = Path(path)
    mapped = {column: get_endpoint(name).name for column, name in (label_columns or {}).items()}
    if path.is_dir():
        paths = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(TABLE_SUFFIXES))
        if not paths:
            raise InputError(
                f"folder {path} holds no data files", expected=f"files ending in {', '.join(TABLE_SUFFIXES)}"
            )
    else:
        paths = [path]
    frames: dict[str, list[pd.DataFrame]] = {}
    result = TrainingFiles({})
    for file in paths:
        for name, frame in _frames_from_file(
            file, endpoint, smiles_column, mapped, result, limits=limits, parallel=parallel
        ).items():
            frames.setdefault(name, []).append(frame)
    unused = sorted(set(mapped) - {column for _, column, _ in result.labels})
    if unused:
        raise InputError(f"label column(s) {unused} are in no data file", got=[str(p) for p in paths])
    result.frames = {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items()}
    return result


def _frames_from_file(
    path: Path,
    endpoint: str | None,
    smiles_column: str | None,
    mapped: Mapping[str, str],
    found: TrainingFiles,
    *,
    limits: MoleculeLimits | None,
    parallel: ParallelOptions | None,
) -> dict[str, pd.DataFrame]:
    frame = read_table(path)
    if {"Drug", "Y"} <= set(frame.columns):
        name = get_endpoint(endpoint or _endpoint_from_path(path)).name
        found.labels.append((path.name, "Y", name))
        return {name: table_from_frame(frame, "Drug", ["Y"], path.name, limits=limits, parallel=parallel).labelled("Y")}
    named = {column: known.name for column in frame.columns if (known := find_endpoint(str(column))) is not None}
    if endpoint in named:  # --endpoint picks one of several endpoint-named columns
        named = {endpoint: named[endpoint]}
    labels = {column: mapped[column] for column in frame.columns if column in mapped}
    # A mapped endpoint is trained on its mapped column; another column named after it is then ignored (and said so).
    labels |= {column: name for column, name in named.items() if column not in labels and name not in labels.values()}
    by_endpoint: dict[str, str] = {}
    for column, name in labels.items():
        other = by_endpoint.setdefault(name, column)
        if other != column:
            raise InputError(f"{path.name}: columns {other!r} and {column!r} both name {name}")
    if not labels:
        hints = [f"{c!r} looks like {close[0]}" for c in frame.columns if (close := close_endpoints(str(c), 1, 0.8))]
        missing = sorted(set(mapped) - set(frame.columns))
        hints += [f"--label column(s) not in it: {missing}"] if missing else []
        raise InputError(
            f"{path.name} has no label column named after a catalogue endpoint" + "".join(f"; {h}" for h in hints),
            got=list(frame.columns),
            expected="TDC format (Drug,Y), columns such as Caco2_Wang, hERG, AMES (see `fedadmet endpoints`), "
            "or --label <column>=<endpoint>",
        )
    smiles = find_smiles_column(frame, smiles_column)
    table = table_from_frame(frame, smiles, list(labels), path.name, limits=limits, parallel=parallel)
    found.labels += [(path.name, column, name) for column, name in labels.items()]
    ignored = [str(c) for c in frame.columns if c != smiles and c not in labels]
    if ignored:
        found.ignored[path.name] = ignored
    return {name: table.labelled(column) for column, name in labels.items()}


def _endpoint_from_path(path: Path) -> str:
    stem = path.name.split(".")[0]
    for candidate in (stem, path.parent.name):
        if find_endpoint(candidate) is not None:
            return candidate
    raise InputError(
        f"cannot tell which endpoint {path} holds",
        expected="pass --endpoint, or name the file or its folder after an endpoint (e.g. caco2_wang.csv)",
    )
