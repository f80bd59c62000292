"""A small model trained on real bundled data in seconds, shared by the model, API and CLI tests."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from fedadmet.chem.featurizers import default_feature_set
from fedadmet.chem.parallel import ParallelOptions
from fedadmet.data.loaders import load_tdc
from fedadmet.data.public import bundled_path, on_model_scale, pharmabench_frames
from fedadmet.models.artifacts import save_model
from fedadmet.models.auxiliary import FittedAuxiliary, fit_auxiliary
from fedadmet.models.config import AuxiliaryConfig, GBMConfig, GraphConfig, ModelConfig, TrunkConfig
from fedadmet.models.fitting import fit_model

QUIET = ParallelOptions(progress=False)  # what tests train with: no progress bars
TINY_CONFIG = ModelConfig(
    trunk_members=2,
    trunk=TrunkConfig(hidden_sizes=(64, 32), max_epochs=6, patience=3, batch_size=64),
    gbm=GBMConfig(iterations=40, depth=4),
    graph_members=1,  # as the served model: predictions read the molecular graph too, for its regression endpoints
    graph=GraphConfig(hidden_size=32, ffn_hidden_size=32, depth=2, max_epochs=3, batch_size=64, tasks="regression"),
    auxiliary=AuxiliaryConfig(
        folds=2, network=TrunkConfig(hidden_sizes=(32,), max_epochs=4, patience=2, batch_size=64)
    ),
)


def endpoint_frame(tdc_name: str, rows: int = 300) -> pd.DataFrame:
    return load_tdc(bundled_path("tdc_admet_group", tdc_name, "train_val.csv.gz")).labelled("Y").head(rows)


def tiny_frames() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    frames = {"hERG": endpoint_frame("herg"), "Caco2_Wang": endpoint_frame("caco2_wang")}
    train = {name: frame.iloc[: int(len(frame) * 0.8)].reset_index(drop=True) for name, frame in frames.items()}
    valid = {name: frame.iloc[int(len(frame) * 0.8) :].reset_index(drop=True) for name, frame in frames.items()}
    return train, valid


def tiny_side_tasks() -> FittedAuxiliary:
    """Side-task predictor over 200 rows each of two PharmaBench sets (one binary, one continuous)."""
    return fit_auxiliary(tiny_side_frames(), default_feature_set(), TINY_CONFIG.auxiliary, seed=0)


@lru_cache(maxsize=1)
def tiny_side_frames() -> dict[str, pd.DataFrame]:
    side = pharmabench_frames(bundled_path(), ".csv.gz", names={"PharmaBench_bbb", "Fraction_Unbound_PharmaBench"})
    return on_model_scale({name: frame.head(200) for name, frame in side.items()})


def train_tiny_model(folder: Path) -> Path:
    train, valid = tiny_frames()
    return save_model(fit_model(train, valid, config=TINY_CONFIG, parallel=QUIET, side_tasks=tiny_side_tasks()), folder)
