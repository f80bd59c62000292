"""How a prediction is made of its parts, and choosing how much the GBM and the trunk each count.

A prediction is ``g × graph + (1 − g) × (w × trees + (1 − w) × trunk)``: the graph member (where the model
has one, for the endpoints it learned) takes a fixed share ``g`` (``ModelConfig.graph_weight``), and the GBM
weight ``w`` is chosen on validation, pooled over endpoints.

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
class Components:
    """One endpoint's predictions by each part of a model, on the model scale: the trees, the MLP trunk and,
    where the model has one, the graph member."""

    gbm: np.ndarray
    trunk: np.ndarray
    graph: np.ndarray | None = None

    def blend(self, gbm_weight: float, graph_weight: float) -> np.ndarray:
        rest = gbm_weight * self.gbm + (1 - gbm_weight) * self.trunk
        return rest if self.graph is None else graph_weight * self.graph + (1 - graph_weight) * rest

    @property
    def disagreement(self) -> np.ndarray:
        """How far apart the parts are (largest minus smallest): the spread conformal intervals scale with."""
        parts = [self.gbm, self.trunk, *([] if self.graph is None else [self.graph])]
        return np.max(parts, axis=0) - np.min(parts, axis=0)


@dataclass
class ValidationParts:
    """One endpoint's validation labels and its parts' outputs on the model scale (the graph member's
    share fixed)."""

    metric: str
    labels: np.ndarray
    gbm: np.ndarray
    trunk: np.ndarray
    graph: np.ndarray | None = None
    graph_weight: float = 0.0

    @property
    def usable(self) -> bool:
        return len(np.unique(self.labels)) > 1

    @property
    def components(self) -> Components:
        return Components(self.gbm, self.trunk, self.graph)

    def blend(self, gbm_weight: float) -> np.ndarray:
        return self.components.blend(gbm_weight, self.graph_weight)


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
