"""The public training data shipped with the package, and turning user files into training frames."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from fedadmet.chem.parallel import ParallelOptions
from fedadmet.chem.standardize import MoleculeLimits, inchikeys
from fedadmet.data.catalogue import (
    CATALOGUE,
    TDC_BENCHMARK_ENDPOINTS,
    Transform,
    close_endpoints,
    find_endpoint,
    get_endpoint,
)
from fedadmet.data.loaders import MoleculeTable, find_smiles_column, load_tdc, read_table, table_from_frame
from fedadmet.exceptions import InputError
from fedadmet.models.labels import per_molecule

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
    names: Collection[str] | None = None,
    *,
    limits: MoleculeLimits | None = None,
    parallel: ParallelOptions | None = None,
) -> dict[str, pd.DataFrame]:
    """Every public labelled data set in the catalogue (or only the endpoints ``names``) as ``smiles``/``y``
    frames: TDC train_val + test, CYP1A2/CYP2C19, Tox21, ClinTox and the PharmaBench lab endpoints, as read
    (not de-duplicated). Only the files of the endpoints asked for are read and standardised."""
    wanted = set(CATALOGUE if names is None else names)
    unknown = sorted(wanted - set(CATALOGUE))
    if unknown:
        raise InputError("no public data for these endpoints", got=unknown, expected="catalogue endpoint names")
    frames: dict[str, pd.DataFrame] = {}
    for name, endpoint in TDC_BENCHMARK_ENDPOINTS.items():
        if endpoint.name not in wanted:
            continue
        parts = [
            load_tdc(bundled_path("tdc_admet_group", name, f"{p}.csv.gz"), limits=limits, parallel=parallel).labelled(
                "Y"
            )
            for p in ("train_val", "test")
        ]
        frames[endpoint.name] = pd.concat(parts, ignore_index=True)
    if wanted & set(NON_BENCHMARK_ENDPOINTS):
        side = non_benchmark_frames(bundled_path(), ".csv.gz", limits=limits, parallel=parallel)
        frames |= {name: frame for name, frame in side.items() if name in wanted}
    chosen = [name for name in PHARMABENCH_ENDPOINTS if name in wanted]
    return frames | pharmabench_frames(bundled_path(), ".csv.gz", chosen, limits=limits, parallel=parallel)


@dataclass
class ServedTrainingData:
    """What the served default model trains on, and what was taken out on the way."""

    frames: dict[str, pd.DataFrame]
    rows_read: dict[str, int]
    duplicates_merged: dict[str, int]  # rows folded into another row of the same structure, per endpoint
    out_of_range_removed: dict[str, int]  # rows whose value no such measurement can take, per endpoint
    external_molecules: int  # training molecules also in an external validation set, removed everywhere
    external_rows: int


def served_training_frames(
    names: Collection[str] | None = None,
    *,
    limits: MoleculeLimits | None = None,
    parallel: ParallelOptions | None = None,
) -> ServedTrainingData:
    """Every public label (:func:`public_training_frames`; or those of the endpoints ``names``), one row per
    standardised structure and endpoint, with every molecule of the external validation sets removed
    (compared by InChIKey of the parent)."""
    read = public_training_frames(names, limits=limits, parallel=parallel)
    plausible = within_declared_ranges(read)
    merged = deduplicated(plausible)
    kept, leaked = without_external_molecules(merged)
    return ServedTrainingData(
        kept,
        rows_read={name: len(frame) for name, frame in read.items()},
        duplicates_merged={name: len(plausible[name]) - len(merged[name]) for name in read},
        out_of_range_removed={name: len(read[name]) - len(plausible[name]) for name in read},
        external_molecules=len(leaked),
        external_rows=sum(len(merged[name]) - len(kept[name]) for name in merged),
    )


def within_declared_ranges(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``frames`` without the rows whose value lies outside their catalogue endpoint's declared range: a
    public deposit's unit slips (PharmaBench solubility below 1e-13.5 mol/L), left out of the served model's
    data and counted rather than refused, since the user cannot fix the bundled files."""
    return {
        name: frame[~CATALOGUE[name].outside_range(frame["y"].to_numpy())].reset_index(drop=True)
        for name, frame in frames.items()
    }


def without_external_molecules(frames: Mapping[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], set[str]]:
    """``frames`` without the molecules of the external validation sets, and those molecules (identities)."""
    molecules = sorted({s for frame in frames.values() for s in frame["smiles"]})
    held_out = external_validation_keys()
    leaked = {s for s, key in zip(molecules, inchikeys(molecules), strict=True) if key in held_out}
    kept = {name: frame[~frame["smiles"].isin(leaked)].reset_index(drop=True) for name, frame in frames.items()}
    return kept, leaked


def deduplicated(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """One row per standardised parent and endpoint (:func:`~fedadmet.models.labels.per_molecule`: the mean
    on the model's scale, the majority class, ties dropped), as the model's heads see them. Data sets repeat
    molecules (TDC's PPBR_AZ 993 times) and sources overlap once train_val and test are pooled."""
    return {name: per_molecule(frame, get_endpoint(name)) for name, frame in frames.items()}


EXTERNAL_VALIDATION_KEYS = "external_validation_inchikeys.txt.gz"


def external_validation_keys() -> frozenset[str]:
    """InChIKeys of the standardised parents of every molecule in the external validation sets (OpenADMET
    ExpansionRx, ASAP antiviral 2025): the served model never trains on them. Only the keys are bundled
    (written by ``scripts/external_validation_keys.py``), not the sets."""
    with gzip.open(bundled_path(EXTERNAL_VALIDATION_KEYS), "rt") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


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


def _same(values: np.ndarray) -> np.ndarray:
    return values


def _from_log10(values: np.ndarray) -> np.ndarray:
    return np.power(10.0, values)


def _log10_nanomolar_to_log10_molar(values: np.ndarray) -> np.ndarray:
    return values - 9.0


# Below this fraction unbound plasma protein binding is rarely quantifiable; PharmaBench records such
# compounds as 100 % bound (43 rows), which would be fu = 0 and no finite log10.
MIN_FRACTION_UNBOUND = 1e-3


def _bound_to_unbound(values: np.ndarray) -> np.ndarray:
    return np.clip(1.0 - values, MIN_FRACTION_UNBOUND, 1.0)


@dataclass(frozen=True)
class PharmaBenchSet:
    """One PharmaBench file (Niu et al., Sci Data 2024; CC0): its stem and how its ``value`` column becomes
    the source units of the catalogue endpoint of the same name (side-task-only sets keep their values)."""

    stem: str
    to_source_units: Callable[[np.ndarray], np.ndarray] = _same


# The file units, checked on known drugs (see shared/data/README.md): logD as is; water solubility in
# log10(nM) (paracetamol 7.97, ibuprofen 5.21); PPB as fraction bound (warfarin 0.99); microsomal CLint
# already log10(uL/min/mg); CYP IC50s in plain uM. Endpoints are named as in the catalogue; the two
# classification sets overlap TDC's AMES and BBB and only train the side-task predictor.
PHARMABENCH: dict[str, PharmaBenchSet] = {
    "LogD_PharmaBench": PharmaBenchSet("logd_reg"),
    "Solubility_PharmaBench": PharmaBenchSet("water_sol_reg", _log10_nanomolar_to_log10_molar),
    "Fraction_Unbound_PharmaBench": PharmaBenchSet("ppb_reg", _bound_to_unbound),
    "Clearance_Microsome_Human_PharmaBench": PharmaBenchSet("hum_mic_cl_reg", _from_log10),
    "Clearance_Microsome_Rat_PharmaBench": PharmaBenchSet("rat_mic_cl_reg", _from_log10),
    "Clearance_Microsome_Mouse_PharmaBench": PharmaBenchSet("mou_mic_cl_reg", _from_log10),
    "CYP2C9_IC50_PharmaBench": PharmaBenchSet("cyp_2c9_reg"),
    "CYP2D6_IC50_PharmaBench": PharmaBenchSet("cyp_2d6_reg"),
    "CYP3A4_IC50_PharmaBench": PharmaBenchSet("cyp_3a4_reg"),
    "PharmaBench_ames": PharmaBenchSet("ames_cls"),
    "PharmaBench_bbb": PharmaBenchSet("bbb_cls"),
}
PHARMABENCH_ENDPOINTS = tuple(name for name in PHARMABENCH if name in CATALOGUE)


def pharmabench_frames(
    root: Path,
    suffix: str,
    names: Collection[str] | None = None,
    *,
    limits: MoleculeLimits | None = None,
    parallel: ParallelOptions | None = None,
) -> dict[str, pd.DataFrame]:
    """PharmaBench sets (all, or ``names``) from a folder laid out like ``shared/data`` (``suffix`` ".csv") or
    the bundled copies (".csv.gz"), with ``y`` in the source units of the catalogue endpoint they serve."""
    frames = {}
    for name, dataset in PHARMABENCH.items():
        if names is not None and name not in names:
            continue
        frame = _table(
            root / "pharmabench" / f"{dataset.stem}_final_data{suffix}",
            "Smiles_unify",
            ["value"],
            limits=limits,
            parallel=parallel,
        ).labelled("value")
        frame["y"] = dataset.to_source_units(frame["y"].to_numpy(dtype=float))
        frames[name] = frame
    return frames


def on_model_scale(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``frames`` with ``y`` on the scale models train on (log10 for log-scaled catalogue endpoints), as
    the side-task predictor, which knows no catalogue, takes them."""
    scaled = {}
    for name, frame in frames.items():
        endpoint = CATALOGUE.get(name)
        log_scaled = endpoint is not None and endpoint.transform is not Transform.NONE
        scaled[name] = frame.assign(y=endpoint.to_model_scale(frame["y"].to_numpy())) if log_scaled else frame
    return scaled


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
    and standardised again), plus PharmaBench (from ``loaded`` where it is there, else from ``root``), with
    ``y`` on the model's scale."""
    pharmabench = {name: loaded[name] for name in PHARMABENCH if name in loaded}
    missing = set(PHARMABENCH) - set(pharmabench)
    if missing:
        pharmabench |= pharmabench_frames(root, suffix, missing, limits=limits, parallel=parallel)
    return on_model_scale({name: loaded[name] for name in NON_BENCHMARK_ENDPOINTS} | pharmabench)


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
