"""Calibrated uncertainty: Platt scaling for probabilities, normalised split-conformal intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class PlattCalibrator:
    slope: float = 1.0
    intercept: float = 0.0

    @classmethod
    def fit(cls, probabilities: np.ndarray, labels: np.ndarray) -> PlattCalibrator:
        if len(np.unique(labels)) < 2:
            return cls()
        model = LogisticRegression(C=1e4).fit(_logit(probabilities)[:, None], labels.astype(int))
        return cls(slope=float(model.coef_[0, 0]), intercept=float(model.intercept_[0]))

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.slope * _logit(probabilities) + self.intercept)))


@dataclass
class ConformalRegressor:
    """Interval half-width = quantile × (disagreement of the ensemble members + scale).

    The non-conformity score is normalised by how much the trunk and the GBM disagree, so the
    interval is wider where the model is less sure, while coverage holds by the conformal argument.
    """

    quantile: float = 1.0
    scale: float = 1.0

    @classmethod
    def fit(
        cls, y_true: np.ndarray, y_pred: np.ndarray, disagreement: np.ndarray, coverage: float
    ) -> ConformalRegressor:
        scale = float(np.median(disagreement)) + _EPS
        scores = np.abs(y_true - y_pred) / (disagreement + scale)
        n = len(scores)
        level = min(1.0, np.ceil((n + 1) * coverage) / n) if n else 1.0
        return cls(quantile=float(np.quantile(scores, level)) if n else 1.0, scale=scale)

    def half_width(self, disagreement: np.ndarray) -> np.ndarray:
        return self.quantile * (disagreement + self.scale)
