"""Applicability domain from a model's own training molecules: nearest-neighbour Tanimoto similarity.

Scored twice: against every training molecule (``applicability_domain``, ``in_domain``), and per endpoint
against the molecules that trained that endpoint, so that a molecule measured for one endpoint counts as
in domain there whatever the other endpoints saw. It needs nothing but the model owner's compounds, so
each federation partner can score it locally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_WORD_BITS = 64
_BLOCK = 256  # molecules scored at once: a 256 × references float32 matrix


@dataclass
class DomainScores:
    """Per molecule: similarity to the nearest training molecule overall and per endpoint, and whether it
    reaches the matching threshold."""

    overall: np.ndarray
    in_domain: np.ndarray
    by_endpoint: dict[str, np.ndarray]
    in_domain_by_endpoint: dict[str, np.ndarray]


@dataclass
class ApplicabilityDomain:
    """``reference_bits``: the training molecules' Morgan bits, packed with ``np.packbits`` (one row each);
    ``membership``: which endpoints each reference trained (packed the same way, one column per name in
    ``endpoints``); ``threshold`` and ``thresholds``: the in-domain cut overall and per endpoint. A domain
    without endpoints (partner models, models saved before endpoints had their own) scores every endpoint
    against all references with the overall threshold."""

    reference_bits: np.ndarray
    n_bits: int
    threshold: float = 0.0
    endpoints: tuple[str, ...] = ()
    membership: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint8))
    thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    # Built once per process: the references as 64-bit words (a query's intersection with all of them is
    # one AND and one popcount per word), their bit counts, and each endpoint's reference rows.
    _words: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _counts: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _rows: list[np.ndarray] = field(default_factory=list, init=False, repr=False, compare=False)

    @classmethod
    def fitted(
        cls,
        reference_counts: np.ndarray,
        reference_membership: np.ndarray,
        endpoints: Sequence[str],
        valid_counts: np.ndarray,
        valid_membership: np.ndarray,
        quantile: float,
    ) -> ApplicabilityDomain:
        """The domain of the training molecules (Morgan counts, one row each; ``*_membership``: a boolean
        column per endpoint, true where the molecule has that endpoint's label), its thresholds set so that
        ``1 - quantile`` of the held-out molecules, overall and of each endpoint, count as in domain."""
        domain = cls(
            np.packbits(reference_counts > 0, axis=1),
            reference_counts.shape[1],
            endpoints=tuple(endpoints),
            membership=np.packbits(np.asarray(reference_membership, dtype=bool), axis=1),
            thresholds=np.zeros(len(endpoints)),
        )
        if len(valid_counts):
            scores = domain.score(valid_counts)
            domain.threshold = float(np.quantile(scores.overall, quantile))
            for j, name in enumerate(endpoints):
                held_out = np.asarray(valid_membership[:, j], dtype=bool)
                if held_out.any():
                    domain.thresholds[j] = float(np.quantile(scores.by_endpoint[name][held_out], quantile))
        return domain

    def _prepare(self) -> tuple[np.ndarray, np.ndarray]:
        if self._words is None:
            self._words = _as_words(self.reference_bits)
            self._counts = np.bitwise_count(self._words).sum(1, dtype=np.int32)
            members = np.unpackbits(self.membership, axis=1, count=len(self.endpoints)).astype(bool)
            self._rows = [np.flatnonzero(members[:, j]) for j in range(len(self.endpoints))]
        assert self._counts is not None
        return self._words, self._counts

    def similarities(self, morgan_counts: np.ndarray) -> np.ndarray:
        """(molecules × references) Tanimoto similarity of the molecules' Morgan bits to every reference."""
        words, counts = self._prepare()
        queries = _as_words(np.packbits(morgan_counts > 0, axis=1))
        out = np.zeros((len(queries), len(words)), dtype=np.float32)
        for i, query in enumerate(queries):
            intersection = np.bitwise_count(words & query).sum(1, dtype=np.int32)
            union = counts + np.bitwise_count(query).sum(dtype=np.int32) - intersection
            np.divide(intersection, union, out=out[i], where=union > 0)
        return out

    def score(self, morgan_counts: np.ndarray) -> DomainScores:
        """Similarity (0-1) of each molecule to its nearest reference, overall and per endpoint (a block
        of molecules at a time, so that the similarity matrix stays small)."""
        self._prepare()
        overall = np.zeros(len(morgan_counts), dtype=np.float32)
        by_endpoint = {name: np.zeros(len(morgan_counts), dtype=np.float32) for name in self.endpoints}
        for start in range(0, len(morgan_counts), _BLOCK):
            block = slice(start, start + _BLOCK)
            similarity = self.similarities(morgan_counts[block])
            if similarity.shape[1]:
                overall[block] = similarity.max(1)
            for rows, name in zip(self._rows, self.endpoints, strict=True):
                if len(rows):
                    by_endpoint[name][block] = similarity[:, rows].max(1)
        inside = {name: by_endpoint[name] >= self.thresholds[j] for j, name in enumerate(self.endpoints)}
        return DomainScores(overall, overall >= self.threshold, by_endpoint, inside)

    def for_endpoints(self, scores: DomainScores, names: Sequence[str]) -> DomainScores:
        """``scores`` with an entry for each of ``names``: an endpoint the domain does not know by name is
        scored as the whole domain is (overall similarity and threshold)."""
        return DomainScores(
            scores.overall,
            scores.in_domain,
            {name: scores.by_endpoint.get(name, scores.overall) for name in names},
            {name: scores.in_domain_by_endpoint.get(name, scores.in_domain) for name in names},
        )


def _as_words(packed: np.ndarray) -> np.ndarray:
    """Packed bit rows (uint8) as rows of 64-bit words, zero-padded to a whole word."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    width = -(-packed.shape[1] * 8 // _WORD_BITS) * (_WORD_BITS // 8)
    padded = np.zeros((packed.shape[0], width), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    return padded.view(np.uint64)
