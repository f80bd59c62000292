"""A simulated pharma consortium built from real public data, the way portfolios differ.

Five partners of unequal size; each owns a different subset of endpoints (every endpoint is held by
2–4 partners), and its compounds come from its own scaffold clusters: a scaffold's "home" partner is
drawn by hash with unequal weights, so chemical series are not shared at random (non-IID). Each
(compound, endpoint) label goes to exactly one partner, as in a real consortium where each company
measured its own compounds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from fedadmet.chem.scaffolds import murcko_scaffold
from fedadmet.config import get_settings
from fedadmet.data.assay import Measurements, measurements_from_tdc
from fedadmet.data.public import non_benchmark_frames

PARTNER_WEIGHTS = {"pharma_a": 0.32, "pharma_b": 0.26, "biotech_c": 0.20, "hospital_d": 0.13, "university_e": 0.09}
HOLDERS: dict[str, tuple[str, ...]] = {
    "CYP1A2_Veith": ("pharma_a", "pharma_b", "biotech_c"),
    "CYP2C9_Veith": ("pharma_a", "pharma_b", "hospital_d"),
    "CYP2C19_Veith": ("pharma_b", "biotech_c", "university_e"),
    "CYP2D6_Veith": ("pharma_a", "biotech_c", "hospital_d"),
    "CYP3A4_Veith": ("pharma_a", "hospital_d", "university_e"),
    "AMES": ("pharma_b", "university_e"),
    "LD50_Zhu": ("biotech_c", "hospital_d"),
    "Lipophilicity_AstraZeneca": ("pharma_a", "pharma_b", "university_e"),
    "Solubility_AqSolDB": ("biotech_c", "hospital_d", "university_e"),
    "PPBR_AZ": ("pharma_a", "pharma_b"),
    "NR-AhR": ("biotech_c", "university_e"),
    "SR-MMP": ("pharma_b", "hospital_d"),
    "SR-ARE": ("pharma_a", "biotech_c"),
    "NR-ER": ("hospital_d", "university_e"),
}
TDC_GROUP = {
    "CYP2C9_Veith": "cyp2c9_veith",
    "CYP2D6_Veith": "cyp2d6_veith",
    "CYP3A4_Veith": "cyp3a4_veith",
    "AMES": "ames",
    "LD50_Zhu": "ld50_zhu",
    "Lipophilicity_AstraZeneca": "lipophilicity_astrazeneca",
    "Solubility_AqSolDB": "solubility_aqsoldb",
    "PPBR_AZ": "ppbr_az",
}


def _unit_hash(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def _pick(weights: dict[str, float], u: float) -> str:
    total, cumulative = sum(weights.values()), 0.0
    for name, weight in weights.items():
        cumulative += weight / total
        if u < cumulative:
            return name
    return next(reversed(weights))


def owner(scaffold: str, endpoint: str) -> str:
    """The partner holding this label: the scaffold's home partner if it measures the endpoint, else one
    of the endpoint's holders chosen by hash (weighted by size), so series stay together."""
    home = _pick(PARTNER_WEIGHTS, _unit_hash(f"home:{scaffold}"))
    holders = HOLDERS[endpoint]
    if home in holders:
        return home
    return _pick({p: PARTNER_WEIGHTS[p] for p in holders}, _unit_hash(f"{endpoint}:{scaffold}"))


def all_measurements(data_dir: Path) -> pd.DataFrame:
    """Every label of the consortium's endpoints, standardised, from ``data_dir`` (laid out as shared/data)."""
    parts = []
    settings = get_settings()
    limits, parallel = settings.molecule_limits(), settings.parallel()
    for endpoint, folder in TDC_GROUP.items():
        for split in ("train_val", "test"):
            path = data_dir / "tdc_admet_group" / folder / f"{split}.csv"
            parts.append(measurements_from_tdc(path, endpoint, limits=limits, parallel=parallel).frame)
    extra = non_benchmark_frames(data_dir, ".csv", limits=limits, parallel=parallel)
    for endpoint in HOLDERS:
        if endpoint in TDC_GROUP:
            continue
        frame = extra[endpoint]
        parts.append(
            pd.DataFrame(
                {
                    "compound_id": [f"{endpoint}:{i}" for i in range(len(frame))],
                    "smiles": frame["smiles"],
                    "form": frame["form"],
                    "endpoint": endpoint,
                    "relation": np.zeros(len(frame), dtype=np.int8),
                    "value": frame["y"].astype(float),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def split_into_partners(measurements: pd.DataFrame) -> dict[str, Measurements]:
    scaffolds = {s: murcko_scaffold(s) for s in measurements["smiles"].unique()}
    owners = [owner(scaffolds[s], e) for s, e in zip(measurements["smiles"], measurements["endpoint"], strict=True)]
    grouped = measurements.assign(partner=owners).groupby("partner")
    return {
        name: Measurements(group.drop(columns="partner").reset_index(drop=True), [])
        for name, group in grouped
        if name in PARTNER_WEIGHTS
    }
