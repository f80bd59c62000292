"""Choosing how much the GBM and the trunk each count, pooled over endpoints.

A validation set of 60 molecules cannot choose among blend weights (measured on TDC: per-endpoint
choices were noise that cost test accuracy), so one weight is chosen for the whole model by its mean
rank across every endpoint's validation set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fedadmet.models.metrics import HIGHER_IS_BETTER, score


@dataclass
class ValidationParts:
    """One endpoint's validation labels and its two predictors' outputs, on the model scale."""

    metric: str
    labels: np.ndarray
    gbm: np.ndarray
    trunk: np.ndarray

    @property
    def usable(self) -> bool:
        return len(np.unique(self.labels)) > 1

    def blend(self, gbm_weight: float) -> np.ndarray:
        return gbm_weight * self.gbm + (1 - gbm_weight) * self.trunk


def choose_blend_weight(parts: Sequence[ValidationParts], candidates: Sequence[float]) -> float:
    """The candidate GBM weight with the best mean rank over endpoints (ties go to more GBM)."""
    from scipy.stats import rankdata  # on use, as in metrics.score: training only

    rank_sums = np.zeros(len(candidates))
    counted = 0
    for part in parts:
        if not part.usable:
            continue
        scores = np.array([score(part.metric, part.labels, part.blend(w)) for w in candidates])
        rank_sums += rankdata(-scores if HIGHER_IS_BETTER[part.metric] else scores)
        counted += 1
    if not counted:
        return 0.5
    order = sorted(range(len(candidates)), key=lambda i: (rank_sums[i], -candidates[i]))
    return float(candidates[order[0]])
