"""Small real partner data sets for federation tests: bundled BBB and lipophilicity rows split three ways."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fedadmet.data.assay import Measurements, measurements_from_tdc
from fedadmet.data.public import bundled_path
from fedadmet.federated.prepare import prepare_partner

TEST_KEY = bytes(range(32))
ENDPOINTS = ("BBB_Martins", "Lipophilicity_AstraZeneca")


def partner_measurements(n_partners: int = 3, rows_per_partner: int = 400) -> list[Measurements]:
    frames = [
        measurements_from_tdc(bundled_path("tdc_admet_group", e.lower(), "train_val.csv.gz"), e).frame
        for e in ENDPOINTS
    ]
    pooled = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=0)
    return [
        Measurements(pooled.iloc[i::n_partners].head(rows_per_partner).reset_index(drop=True), [])
        for i in range(n_partners)
    ]


def prepare_partners(root: Path, n_partners: int = 3, key: bytes = TEST_KEY) -> list[Path]:
    folders = []
    for i, measurements in enumerate(partner_measurements(n_partners)):
        folder = root / f"partner{i}"
        prepare_partner(measurements, key, folder, f"partner{i}", cache_dir=root / "feature-cache")
        folders.append(folder)
    return folders
