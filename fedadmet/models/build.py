"""Training a deployable model from labelled frames: split, fit, and record what it was made from."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping
from datetime import UTC, datetime

import pandas as pd

import fedadmet
from fedadmet.chem.featurizers import default_feature_set
from fedadmet.config import get_settings
from fedadmet.data.catalogue import get_endpoint
from fedadmet.data.splits import split_for_validation
from fedadmet.exceptions import InputError
from fedadmet.models.admet_model import ADMETModel
from fedadmet.models.auxiliary import fit_auxiliary
from fedadmet.models.config import ModelConfig

MIN_ROWS_PER_ENDPOINT = 20


def frame_hash(frame: pd.DataFrame) -> str:
    """Order-free hash of an endpoint's (smiles, label) pairs, stored in the model card."""
    rows = sorted(f"{s}\t{y!r}" for s, y in zip(frame["smiles"], frame["y"], strict=True))
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def train_model(
    frames: Mapping[str, pd.DataFrame],
    config: ModelConfig | None = None,
    side_frames: Mapping[str, pd.DataFrame] | None = None,
    valid_fraction: float = 0.1,
    data_description: str = "",
    progress: bool | None = None,
) -> ADMETModel:
    """Fit one model on every endpoint in ``frames``; a scaffold-held-out part of each calibrates it.
    ``side_frames`` (model-scale labels) train the side-task predictor whose outputs the heads also see."""
    config = config or ModelConfig()
    too_small = {name: len(frame) for name, frame in frames.items() if len(frame) < MIN_ROWS_PER_ENDPOINT}
    if too_small:
        raise InputError("endpoints with too few labelled rows", got=too_small, expected=f">= {MIN_ROWS_PER_ENDPOINT}")
    if not frames:
        raise InputError("no labelled data to train on")
    for name, frame in frames.items():
        problem = get_endpoint(name).label_problem(frame["y"].to_numpy())
        if problem is not None:
            raise InputError(f"cannot train {name}: {problem}")
    train, valid = split_for_validation(frames, valid_fraction, config.seed)
    settings = get_settings()
    cache_dir, progress = settings.feature_cache_dir, settings.progress if progress is None else progress
    side_tasks = None
    if side_frames:
        side_tasks = fit_auxiliary(
            side_frames, default_feature_set(), config.auxiliary, config.seed, cache_dir, progress
        )
    model = ADMETModel.fit(train, valid, config=config, progress=progress, cache_dir=cache_dir, side_tasks=side_tasks)
    model.metadata |= {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": data_description,
        "data_sha256": {name: frame_hash(frame) for name, frame in frames.items()},
        "rows": {name: len(frame) for name, frame in frames.items()},
        "valid_fraction": valid_fraction,
        "versions": {"fedadmet": fedadmet.__version__, "python": platform.python_version()},
    }
    return model
