"""Training a deployable model from labelled frames: split, fit, and record what it was made from."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping
from datetime import UTC, datetime

import pandas as pd

import fedadmet
from fedadmet.config import get_settings
from fedadmet.data.splits import split_for_validation
from fedadmet.exceptions import InputError
from fedadmet.models.admet_model import ADMETModel
from fedadmet.models.config import ModelConfig

MIN_ROWS_PER_ENDPOINT = 20


def frame_hash(frame: pd.DataFrame) -> str:
    """Order-free hash of an endpoint's (smiles, label) pairs, stored in the model card."""
    rows = sorted(f"{s}\t{y!r}" for s, y in zip(frame["smiles"], frame["y"], strict=True))
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def train_model(
    frames: Mapping[str, pd.DataFrame],
    config: ModelConfig | None = None,
    valid_fraction: float = 0.1,
    data_description: str = "",
    progress: bool | None = None,
) -> ADMETModel:
    """Fit one model on every endpoint in ``frames``; a scaffold-held-out part of each calibrates it."""
    config = config or ModelConfig()
    too_small = {name: len(frame) for name, frame in frames.items() if len(frame) < MIN_ROWS_PER_ENDPOINT}
    if too_small:
        raise InputError("endpoints with too few labelled rows", got=too_small, expected=f">= {MIN_ROWS_PER_ENDPOINT}")
    if not frames:
        raise InputError("no labelled data to train on")
    train, valid = split_for_validation(frames, valid_fraction, config.seed)
    model = ADMETModel.fit(train, valid, config=config, progress=progress, cache_dir=get_settings().feature_cache_dir)
    model.metadata |= {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": data_description,
        "data_sha256": {name: frame_hash(frame) for name, frame in frames.items()},
        "rows": {name: len(frame) for name, frame in frames.items()},
        "valid_fraction": valid_fraction,
        "versions": {"fedadmet": fedadmet.__version__, "python": platform.python_version()},
    }
    return model
