"""A trained trunk as plain arrays, so that prediction needs neither PyTorch nor its ~180 MB of memory.

PyTorch is only needed to train (see :mod:`fedadmet.models.trunk`); the forward pass of the trained
MLP is a few matrix products, done here in NumPy on the same weights (same safetensors keys).
Several such networks over the same tasks are averaged by :class:`NetworkEnsemble`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

_BATCH = 4096


@dataclass
class TrunkWeights:
    """State of a :class:`~fedadmet.models.trunk.MultitaskNet` (keys as in its ``state_dict``) and its tasks."""

    tasks: list[str]
    state: dict[str, np.ndarray]
    _layers: list[tuple[np.ndarray, np.ndarray]] = field(init=False, repr=False, compare=False)
    _heads: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The trunk is Dropout, then (Linear, ReLU, Dropout) per hidden layer: only Linear layers hold weights.
        linear = sorted({int(key.split(".")[1]) for key in self.state if key.startswith("trunk.")})
        self._layers = [(self.state[f"trunk.{i}.weight"].T.copy(), self.state[f"trunk.{i}.bias"]) for i in linear]
        self._heads = (
            np.concatenate([self.state[f"heads.{task}.weight"] for task in self.tasks]).T.copy(),
            np.concatenate([self.state[f"heads.{task}.bias"] for task in self.tasks]),
        )

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], tasks: Sequence[str]) -> TrunkWeights:
        return cls(list(tasks), {key: np.asarray(value, dtype=np.float32) for key, value in arrays.items()})

    def __call__(self, scaled_features: np.ndarray) -> np.ndarray:
        """Raw outputs (logits or scaled regression values), one column per task, as the network in eval mode."""
        blocks = []
        for start in range(0, len(scaled_features), _BATCH):
            hidden = scaled_features[start : start + _BATCH].astype(np.float32, copy=False)
            for weight, bias in self._layers:
                hidden = np.maximum(hidden @ weight + bias, 0.0)
            blocks.append(hidden @ self._heads[0] + self._heads[1])
        return np.concatenate(blocks) if blocks else np.zeros((0, len(self.tasks)), dtype=np.float32)


@dataclass
class NetworkEnsemble:
    """Networks over the same tasks whose raw outputs are averaged: the model's trunk (members trained with
    different seeds, since one network's predictions on new chemistry move by as much as the differences
    being measured) and the side-task predictor (its fold networks)."""

    members: list[TrunkWeights]

    def __post_init__(self) -> None:
        if not self.members or any(member.tasks != self.members[0].tasks for member in self.members):
            raise ValueError("an ensemble needs at least one network, all over the same tasks")

    @property
    def tasks(self) -> list[str]:
        return self.members[0].tasks

    def __len__(self) -> int:
        return len(self.members)

    def __call__(self, scaled_features: np.ndarray) -> np.ndarray:
        """The members' mean raw output (logits or scaled values), one column per task; one member's mean
        is its output to the bit."""
        return np.mean([member(scaled_features) for member in self.members], axis=0, dtype=np.float32)
