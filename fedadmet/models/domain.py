"""Applicability domain from a model's own training molecules: nearest-neighbour Tanimoto similarity.

It needs nothing but the model owner's compounds, so each federation partner can score it locally.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_BATCH = 256  # rows per block: each block makes a few (rows × references) float32 temporaries


def tanimoto_matrix(query_bits: np.ndarray, reference_bits: np.ndarray) -> np.ndarray:
    """Tanimoto similarities between binary fingerprints given as 0/1 rows."""
    return _tanimoto(query_bits.astype(np.float32), reference_bits.astype(np.float32))


def _tanimoto(query: np.ndarray, reference: np.ndarray, reference_counts: np.ndarray | None = None) -> np.ndarray:
    intersection = query @ reference.T
    counts = reference.sum(1) if reference_counts is None else reference_counts
    union = query.sum(1, keepdims=True) + counts[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


@dataclass
class ApplicabilityDomain:
    reference_bits: np.ndarray  # packed with np.packbits, one row per reference molecule
    n_bits: int
    threshold: float = 0.0
    # Unpacked once per process: unpacking on every call cost more than scoring a small batch.
    _reference: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _reference_counts: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_counts(cls, morgan_counts: np.ndarray, max_reference: int, seed: int) -> ApplicabilityDomain:
        rows = np.arange(len(morgan_counts))
        if len(rows) > max_reference:
            rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_reference, replace=False))
        bits = morgan_counts[rows] > 0
        return cls(reference_bits=np.packbits(bits, axis=1), n_bits=morgan_counts.shape[1])

    def score(self, morgan_counts: np.ndarray) -> np.ndarray:
        """Similarity (0-1) of each molecule to its nearest reference molecule."""
        if self._reference is None:
            self._reference = np.unpackbits(self.reference_bits, axis=1, count=self.n_bits).astype(np.float32)
            self._reference_counts = self._reference.sum(1)
        query = (morgan_counts > 0).astype(np.float32)
        out = np.zeros(len(query), dtype=np.float32)
        for start in range(0, len(query), _BATCH):
            block = _tanimoto(query[start : start + _BATCH], self._reference, self._reference_counts)
            out[start : start + _BATCH] = block.max(1)
        return out

    def calibrate(self, validation_counts: np.ndarray, quantile: float) -> None:
        """Set the in-domain threshold so that ``1 - quantile`` of held-out molecules count as in domain."""
        if len(validation_counts):
            self.threshold = float(np.quantile(self.score(validation_counts), quantile))
