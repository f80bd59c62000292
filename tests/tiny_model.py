"""A small model trained on real bundled data in seconds, shared by the model, API and CLI tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fedadmet.data.loaders import load_tdc
from fedadmet.data.public import bundled_path
from fedadmet.models.admet_model import ADMETModel
from fedadmet.models.config import GBMConfig, ModelConfig, TrunkConfig

TINY_CONFIG = ModelConfig(
    trunk=TrunkConfig(hidden_sizes=(64, 32), max_epochs=6, patience=3, batch_size=64),
    gbm=GBMConfig(iterations=40, depth=4),
    ad_reference_size=400,
)


def endpoint_frame(tdc_name: str, rows: int = 300) -> pd.DataFrame:
    return load_tdc(bundled_path("tdc_admet_group", tdc_name, "train_val.csv.gz")).labelled("Y").head(rows)


def tiny_frames() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    frames = {"hERG": endpoint_frame("herg"), "Caco2_Wang": endpoint_frame("caco2_wang")}
    train = {name: frame.iloc[: int(len(frame) * 0.8)].reset_index(drop=True) for name, frame in frames.items()}
    valid = {name: frame.iloc[int(len(frame) * 0.8) :].reset_index(drop=True) for name, frame in frames.items()}
    return train, valid


def train_tiny_model(folder: Path) -> Path:
    train, valid = tiny_frames()
    return ADMETModel.fit(train, valid, config=TINY_CONFIG, progress=False).save(folder)
