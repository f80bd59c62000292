"""Input scaling for the neural trunk: signed log1p tames counts and descriptors, then z-scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CLIP = 6.0


@dataclass
class FeatureScaler:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> FeatureScaler:
        squashed = _squash(features)
        std = squashed.std(0)
        return cls(mean=squashed.mean(0).astype(np.float32), std=np.where(std > 1e-6, std, 1.0).astype(np.float32))

    def transform(self, features: np.ndarray) -> np.ndarray:
        return np.clip((_squash(features) - self.mean) / self.std, -_CLIP, _CLIP).astype(np.float32)


def _squash(features: np.ndarray) -> np.ndarray:
    return np.sign(features) * np.log1p(np.abs(features))
