"""A consortium of five partners, each holding the data of one real public source, as companies differ.

Each partner's labels come from a different origin (different assays, chemistry and label kinds), so the
partners are non-IID the way a real consortium is:

- ``astrazeneca``: AstraZeneca's ChEMBL deposits (logD7.4, plasma protein binding, microsomal and
  hepatocyte clearance; TDC ADMET group files);
- ``ncats_cyp``: the NCATS CYP inhibition panel (Veith et al. 2009, PubChem AID 1851; five isoforms);
- ``tox21``: the Tox21 challenge's twelve nuclear-receptor and stress-response assays (MoleculeNet);
- ``pharmabench``: PharmaBench's curated ChEMBL sets (logD, solubility, fraction unbound, human
  microsomal clearance, CYP IC50s);
- ``expansionrx``: the OpenADMET × ExpansionRx company set (logD, kinetic solubility, Caco-2 Papp) as one
  company's private data; its endpoints take the catalogue names of the same quantity (logD7.4,
  log10 mol/L, log10 cm/s), so the "pooled, shared heads" arm pools them with PharmaBench's and TDC's.

The federated benchmark never trains the served default model, so the ExpansionRx set (a validation
set for that model) may be a partner's data here.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from fedadmet.config import get_settings
from fedadmet.data.assay import measurements_from_tdc, tdc_measurements
from fedadmet.data.catalogue import Transform, get_endpoint
from fedadmet.data.public import PHARMABENCH, TOX21_ASSAYS, non_benchmark_frames, pharmabench_frames

AZ_ENDPOINTS = {
    "Lipophilicity_AstraZeneca": "lipophilicity_astrazeneca",
    "PPBR_AZ": "ppbr_az",
    "Clearance_Microsome_AZ": "clearance_microsome_az",
    "Clearance_Hepatocyte_AZ": "clearance_hepatocyte_az",
}
NCATS_ENDPOINTS = {"CYP2C9_Veith": "cyp2c9_veith", "CYP2D6_Veith": "cyp2d6_veith", "CYP3A4_Veith": "cyp3a4_veith"}
PHARMABENCH_ENDPOINTS = (
    "LogD_PharmaBench",
    "Solubility_PharmaBench",
    "Fraction_Unbound_PharmaBench",
    "Clearance_Microsome_Human_PharmaBench",
    "CYP3A4_IC50_PharmaBench",
)
MICRO = 1e-6
# ExpansionRx column -> (catalogue endpoint of the same quantity, conversion to its units)
EXPANSIONRX_COLUMNS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "LogD": ("LogD_PharmaBench", lambda v: v),
    "KSOL": ("Solubility_PharmaBench", lambda v: np.log10(v * MICRO)),  # uM -> log10 mol/L
    "Caco-2 Permeability Papp A>B": ("Caco2_Wang", lambda v: np.log10(v * MICRO)),  # 1e-6 cm/s -> log10 cm/s
}
PARTNERS = ("astrazeneca", "ncats_cyp", "tox21", "pharmabench", "expansionrx")
COLUMNS = ["compound_id", "smiles", "form", "endpoint", "relation", "value"]


def _tdc(data_dir: Path, endpoints: dict[str, str]) -> list[pd.DataFrame]:
    settings = get_settings()
    limits, parallel = settings.molecule_limits(), settings.parallel()
    return [
        measurements_from_tdc(
            data_dir / "tdc_admet_group" / folder / f"{split}.csv", endpoint, limits=limits, parallel=parallel
        ).frame
        for endpoint, folder in endpoints.items()
        for split in ("train_val", "test")
    ]


def _labelled(frames: dict[str, pd.DataFrame], names: tuple[str, ...]) -> list[pd.DataFrame]:
    """``smiles``/``form``/``y`` frames as exact measurements of the endpoints ``names``."""
    return [
        pd.DataFrame(
            {
                "compound_id": [f"{name}:{i}" for i in range(len(frames[name]))],
                "smiles": frames[name]["smiles"].to_numpy(),
                "form": frames[name]["smiles"].to_numpy(),  # the parent: these frames keep no salt form
                "endpoint": name,
                "relation": np.zeros(len(frames[name]), dtype=np.int8),
                "value": frames[name]["y"].to_numpy(dtype=float),
            }
        )
        for name in names
    ]


def _expansionrx(data_dir: Path) -> list[pd.DataFrame]:
    settings = get_settings()
    limits, parallel = settings.molecule_limits(), settings.parallel()
    raw = pd.read_csv(data_dir / "openadmet_expansionrx" / "expansion_data_train.csv")
    parts = []
    for column, (endpoint, convert) in EXPANSIONRX_COLUMNS.items():
        values = pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=float)
        usable = np.isfinite(values) & (values > 0 if endpoint != "LogD_PharmaBench" else True)
        table = pd.DataFrame(
            {"Drug_ID": raw["Molecule Name"][usable], "Drug": raw["SMILES"][usable], "Y": convert(values[usable])}
        )
        parts.append(
            tdc_measurements(
                table, endpoint, f"expansion_data_train.csv:{column}", limits=limits, parallel=parallel
            ).frame
        )
    return parts


def source_files(data_dir: Path) -> list[Path]:
    """The data files the consortium reads, relative to ``data_dir``."""
    tdc = [
        Path("tdc_admet_group") / folder / f"{split}.csv"
        for folder in [*AZ_ENDPOINTS.values(), *NCATS_ENDPOINTS.values()]
        for split in ("train_val", "test")
    ]
    extra = [Path("tdc_single_pred_extra") / f"{n}.csv" for n in ("cyp1a2_veith", "cyp2c19_veith")]
    moleculenet = [Path("moleculenet") / f"{n}.csv" for n in ("tox21", "clintox")]
    pharmabench = [Path("pharmabench") / f"{PHARMABENCH[name].stem}_final_data.csv" for name in PHARMABENCH_ENDPOINTS]
    return [*tdc, *extra, *moleculenet, *pharmabench, Path("openadmet_expansionrx") / "expansion_data_train.csv"]


def subsampled_sources(data_dir: Path, out: Path, rows: int) -> Path:
    """A copy of the consortium's source files with at most ``rows`` rows each (seed 0), laid out like
    ``data_dir``: the quick run standardises a few thousand molecules instead of about a hundred thousand."""
    for relative in source_files(data_dir):
        target = out / relative
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        frame = pd.read_csv(data_dir / relative, dtype=str, keep_default_na=False)
        if len(frame) <= rows:
            shutil.copyfile(data_dir / relative, target)
        else:
            frame.sample(n=rows, random_state=0).to_csv(target, index=False)
    return out


def partner_measurements(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Every partner's labels (long form: one row per compound and endpoint, catalogue units)."""
    settings = get_settings()
    limits, parallel = settings.molecule_limits(), settings.parallel()
    extra = non_benchmark_frames(data_dir, ".csv", limits=limits, parallel=parallel)
    pharmabench = pharmabench_frames(data_dir, ".csv", PHARMABENCH_ENDPOINTS, limits=limits, parallel=parallel)
    parts = {
        "astrazeneca": _tdc(data_dir, AZ_ENDPOINTS),
        "ncats_cyp": _tdc(data_dir, NCATS_ENDPOINTS) + _labelled(extra, ("CYP1A2_Veith", "CYP2C19_Veith")),
        "tox21": _labelled(extra, TOX21_ASSAYS),
        "pharmabench": _labelled(pharmabench, PHARMABENCH_ENDPOINTS),
        "expansionrx": _expansionrx(data_dir),
    }
    return {name: within_range(pd.concat(frames, ignore_index=True)[COLUMNS], name) for name, frames in parts.items()}


def within_range(frame: pd.DataFrame, partner: str) -> pd.DataFrame:
    """The labels inside each endpoint's declared range (what ``prepare`` accepts): public sets hold a few
    values past an assay's limits (PharmaBench: a microsomal CLint of 0.0096 uL/min/mg); they are left out
    and counted, as a partner's QC would make it do."""
    keep = np.ones(len(frame), dtype=bool)
    for name, rows in frame.groupby("endpoint").indices.items():
        endpoint = get_endpoint(str(name))
        values = frame["value"].to_numpy(dtype=float)[rows]
        low, high = endpoint.label_range or endpoint.value_range or (-np.inf, np.inf)
        inside = (values >= low) & (values <= high)
        if endpoint.transform is Transform.LOG10:
            inside &= values > 0
        if not inside.all():
            print(f"{partner}: {int((~inside).sum())} {name} label(s) outside {low:g}..{high:g} left out", flush=True)
        keep[rows] = inside
    return frame[keep].reset_index(drop=True)


def sample_compounds(frame: pd.DataFrame, max_compounds: int | None, seed: int = 0) -> pd.DataFrame:
    """At most ``max_compounds`` distinct structures of a partner with all their labels (a compound keeps
    every endpoint it was measured on, so multitask rows stay whole and quorums stay reachable)."""
    smiles = frame["smiles"].unique()
    if max_compounds is None or len(smiles) <= max_compounds:
        return frame.reset_index(drop=True)
    chosen = set(np.random.default_rng(seed).choice(smiles, size=max_compounds, replace=False))
    return frame[frame["smiles"].isin(chosen)].reset_index(drop=True)
