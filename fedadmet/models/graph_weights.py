"""A trained graph member as plain arrays: the D-MPNN forward pass in NumPy, so that serving needs no PyTorch.

Same weights and keys as :class:`~fedadmet.models.graph.GraphNet`'s ``state_dict``; sums over bonds and atoms are
sparse incidence-matrix products (SciPy), the rest matrix products.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from fedadmet.chem.graphs import GraphBatch, MolGraph

_BATCH = 256


def _summing(into: np.ndarray, size: int) -> sparse.csr_matrix:
    """The matrix that sums rows ``i`` of a block into row ``into[i]`` of a ``size``-row result."""
    return sparse.csr_matrix(
        (np.ones(len(into), dtype=np.float32), (into, np.arange(len(into)))), shape=(size, len(into))
    )


@dataclass
class GraphWeights:
    tasks: list[str]
    depth: int
    state: dict[str, np.ndarray]

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], tasks: Sequence[str], depth: int) -> GraphWeights:
        return cls(list(tasks), depth, {key: np.asarray(value, dtype=np.float32) for key, value in arrays.items()})

    def _linear(self, name: str, values: np.ndarray) -> np.ndarray:
        out = values @ self.state[f"{name}.weight"].T
        bias = self.state.get(f"{name}.bias")
        return out if bias is None else out + bias

    def _forward(self, batch: GraphBatch, extra: np.ndarray | None) -> np.ndarray:
        to_atoms = _summing(batch.target, len(batch.atoms))
        initial = np.maximum(self._linear("bond_input", np.hstack([batch.atoms[batch.source], batch.bonds])), 0.0)
        state = initial
        for _ in range(self.depth - 1):
            entering = to_atoms @ state
            state = np.maximum(initial + self._linear("bond_update", entering[batch.source] - state[batch.reverse]), 0)
        atom_states = np.maximum(self._linear("atom_output", np.hstack([batch.atoms, to_atoms @ state])), 0.0)
        counts = np.maximum(np.bincount(batch.molecule, minlength=batch.molecules), 1)[:, None]
        encoded = (_summing(batch.molecule, batch.molecules) @ atom_states) / counts
        hidden = encoded if extra is None else np.hstack([encoded, extra])
        # head: Dropout, Linear (head.1), ReLU, Dropout, Linear (head.4)
        return self._linear("head.4", np.maximum(self._linear("head.1", hidden), 0.0)).astype(np.float32)

    def __call__(self, graphs: Sequence[MolGraph | None], extra: np.ndarray | None = None) -> np.ndarray:
        """Raw outputs (logits or scaled values), one row per graph and one column per task; NaN rows for None."""
        out = np.full((len(graphs), len(self.tasks)), np.nan, dtype=np.float32)
        present = np.array([g is not None for g in graphs], dtype=bool)
        rows = np.flatnonzero(present)
        for start in range(0, len(rows), _BATCH):
            block = rows[start : start + _BATCH]
            batch = GraphBatch.of([graphs[i] for i in block])  # type: ignore[misc]
            out[block] = self._forward(batch, None if extra is None else extra[block].astype(np.float32))
        return out


@dataclass
class GraphMember:
    """A model's graph networks (averaged, like the trunk's members) and the columns of the model's scaled
    feature vector they read besides the graph (its 2D descriptors; None: the graph alone)."""

    networks: list[GraphWeights]
    extra_columns: tuple[int, int] | None

    def __post_init__(self) -> None:
        if not self.networks or any(net.tasks != self.networks[0].tasks for net in self.networks):
            raise ValueError("a graph member needs at least one network, all over the same tasks")

    @property
    def tasks(self) -> list[str]:
        return self.networks[0].tasks

    def extra(self, scaled_features: np.ndarray) -> np.ndarray | None:
        return None if self.extra_columns is None else scaled_features[:, slice(*self.extra_columns)]

    def __call__(self, graphs: Sequence[MolGraph | None], scaled_features: np.ndarray) -> np.ndarray:
        """The networks' mean raw output (logits or scaled values), one row per graph; NaN rows for None."""
        extra = self.extra(scaled_features)
        return np.mean([net(graphs, extra) for net in self.networks], axis=0, dtype=np.float32)
