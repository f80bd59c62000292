"""Target scaling shared by every network of the model family: z-scored regression targets, raw 0/1 labels.

Networks learn regression targets as z-scores of the endpoint's model scale (e.g. log10 of a half-life),
fitted on the training rows; classifiers keep their 0/1 labels (mean 0, standard deviation 1). The same
record turns a network's raw outputs back into probabilities or model-scale values, for the central
model, the side-task networks and a federation partner's network alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_MIN_STD = 1e-6  # a constant target keeps its values (std 1) instead of dividing by ~0


@dataclass
class TargetScaling:
    """Per task: the mean and standard deviation of its model-scale training values, and its kind."""

    mean: np.ndarray
    std: np.ndarray
    is_classification: np.ndarray

    @classmethod
    def fit(
        cls, columns: Sequence[np.ndarray], is_classification: Sequence[bool], dtype: type = np.float64
    ) -> TargetScaling:
        """From each task's model-scale training values (NaN where missing, ignored)."""
        kinds = np.asarray(is_classification, dtype=bool)
        mean, std = np.zeros(len(kinds), dtype), np.ones(len(kinds), dtype)
        for j in np.flatnonzero(~kinds):
            spread = np.nanstd(columns[j])
            mean[j], std[j] = np.nanmean(columns[j]), (spread if spread > _MIN_STD else 1.0)
        return cls(mean, std, kinds)

    def scale(self, j: int, values: np.ndarray) -> np.ndarray:
        """Task ``j``'s model-scale values as the network learns them."""
        return (values - self.mean[j]) / self.std[j]

    def unscale(self, j: int, scaled: np.ndarray) -> np.ndarray:
        """Task ``j``'s network-scale values back on the model scale."""
        return scaled * self.std[j] + self.mean[j]

    def outputs(self, raw: np.ndarray) -> np.ndarray:
        """A network's raw outputs (tasks as columns): probabilities for classifiers, model-scale values else."""
        out = raw.astype(np.float64)
        for j, classifier in enumerate(self.is_classification):
            out[:, j] = 1.0 / (1.0 + np.exp(-out[:, j])) if classifier else self.unscale(j, out[:, j])
        return out

    def columns(self, indices: Sequence[int]) -> TargetScaling:
        """The scaling of some tasks, in the order of ``indices``."""
        rows = np.asarray(indices, dtype=np.intp)
        return TargetScaling(self.mean[rows], self.std[rows], self.is_classification[rows])

    @classmethod
    def concatenate(cls, parts: Sequence[TargetScaling]) -> TargetScaling:
        """Several models' tasks side by side, in order."""
        return cls(
            np.concatenate([p.mean for p in parts]),
            np.concatenate([p.std for p in parts]),
            np.concatenate([p.is_classification for p in parts]),
        )
