"""Gradient-boosted tree heads (CatBoost) over the feature vector, one per endpoint."""

from __future__ import annotations

import hashlib
from pathlib import Path

import catboost
import numpy as np
from catboost import CatBoostClassifier, CatBoostError, CatBoostRegressor

from fedadmet.atomic import written_atomically
from fedadmet.models.config import GBMConfig

GBMModel = CatBoostClassifier | CatBoostRegressor


def fit_gbm(
    features: np.ndarray,
    targets: np.ndarray,
    is_classification: bool,
    config: GBMConfig,
    seed: int,
    n_jobs: int,
    cache_dir: Path | None = None,
) -> GBMModel:
    """CatBoost on ``features``. With ``cache_dir`` the fitted trees are kept there under a digest of
    everything the fit reads, and read back instead of fitted when the same inputs come again: a
    benchmark whose change touches only the trunk then reruns without refitting its trees."""
    if cache_dir is None:
        return _fitted(features, targets, is_classification, config, seed, n_jobs)
    path = Path(cache_dir) / f"{_fit_digest(features, targets, is_classification, config, seed, n_jobs)}.cbm"
    if path.exists():
        try:
            return load_gbm(str(path), is_classification)
        except CatBoostError:
            pass  # damaged (an interrupted copy): fitted again
    model = _fitted(features, targets, is_classification, config, seed, n_jobs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_atomically(path) as partial:  # another process may fit the same trees
        model.save_model(str(partial), format="cbm")
    return model


def _fit_digest(
    features: np.ndarray, targets: np.ndarray, is_classification: bool, config: GBMConfig, seed: int, n_jobs: int
) -> str:
    digest = hashlib.sha256()
    for array in (features, targets):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    recipe = f"{is_classification}|{config.model_dump_json()}|{seed}|{n_jobs}|catboost-{catboost.__version__}"
    digest.update(recipe.encode())
    return digest.hexdigest()[:32]


def _fitted(
    features: np.ndarray, targets: np.ndarray, is_classification: bool, config: GBMConfig, seed: int, n_jobs: int
) -> GBMModel:
    kind = CatBoostClassifier if is_classification else CatBoostRegressor
    model = kind(
        iterations=config.iterations,
        depth=config.depth,
        random_seed=seed,
        thread_count=n_jobs,
        verbose=False,
        allow_writing_files=False,
    )
    return model.fit(features, targets)


def predict_gbm(model: GBMModel, features: np.ndarray, n_jobs: int) -> np.ndarray:
    """Probability of the positive class, or the regression value on the model scale, by CatBoost itself
    (while training; trained models predict with :class:`fedadmet.models.trees.ObliviousForest`)."""
    if isinstance(model, CatBoostClassifier):
        return model.predict_proba(features, thread_count=n_jobs)[:, 1]
    return model.predict(features, thread_count=n_jobs)


def load_gbm(path: str, is_classification: bool) -> GBMModel:
    model = CatBoostClassifier() if is_classification else CatBoostRegressor()
    model.load_model(path, format="cbm")
    return model
