"""Gradient-boosted tree heads (CatBoost) over the feature vector, one per endpoint."""

from __future__ import annotations

import numpy as np
from catboost import CatBoostClassifier, CatBoostRegressor

from fedadmet.models.config import GBMConfig

GBMModel = CatBoostClassifier | CatBoostRegressor


def fit_gbm(
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
