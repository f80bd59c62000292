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
    # Built once per process (see _prepare): the references unpacked, one contiguous row of bytes per
    # fingerprint bit, so that a query's intersection with every reference is the sum of the rows of its
    # ~40 set bits (byte-wise additions, cheaper than an AND and popcount over packed words); references
    # ordered by the endpoints that trained them (their group), then by bit count: per-endpoint maxima are
    # maxima over group maxima, and a group's maximum over references with the same bit count is the
    # similarity of the largest intersection among them (c / (a + b - c) grows with c), so similarities
    # are computed per (group, bit count) segment rather than per reference.
    _by_bit: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _segment_starts: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.intp), init=False, repr=False, compare=False
    )
    _segment_counts: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.float32), init=False, repr=False, compare=False
    )
    _group_starts: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.intp), init=False, repr=False, compare=False
    )
    _groups_of: list[np.ndarray] = field(default_factory=list, init=False, repr=False, compare=False)

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
        """The domain of the training molecules (Morgan counts, one row each; ``reference_membership``: a
        boolean column per endpoint, true where the molecule trained it), its thresholds set so that
        ``1 - quantile`` of the held-out molecules count as in domain: per endpoint, that endpoint's
        validation molecules (``valid_membership``; none of them trained it); overall, those of them that
        trained no endpoint at all."""
        domain = cls(
            np.packbits(reference_counts > 0, axis=1),
            reference_counts.shape[1],
            endpoints=tuple(endpoints),
            membership=np.packbits(np.asarray(reference_membership, dtype=bool), axis=1),
            thresholds=np.zeros(len(endpoints)),
        )
        if len(valid_counts):
            scores = domain.score(valid_counts)
            unseen = scores.overall < 1.0  # an exact fingerprint match counts as a training molecule
            if unseen.any():
                domain.threshold = float(np.quantile(scores.overall[unseen], quantile))
            for j, name in enumerate(endpoints):
                held_out = np.asarray(valid_membership[:, j], dtype=bool)
                if held_out.any():
                    domain.thresholds[j] = float(np.quantile(scores.by_endpoint[name][held_out], quantile))
        return domain

    def _prepare(self) -> np.ndarray:
        if self._by_bit is None:
            membership = self.membership
            if len(membership) != len(self.reference_bits):  # no endpoints: one group of every reference
                membership = np.zeros((len(self.reference_bits), 1), dtype=np.uint8)
            # Groups from each packed row as one opaque value: 20x faster than np.unique over boolean rows.
            rows = np.ascontiguousarray(membership).view(np.dtype((np.void, membership.shape[1]))).ravel()
            packed_signatures, group = np.unique(rows, return_inverse=True)
            signatures = np.unpackbits(
                packed_signatures.view(np.uint8).reshape(len(packed_signatures), -1), axis=1, count=len(self.endpoints)
            ).astype(bool)
            counts = np.bitwise_count(self.reference_bits).sum(1, dtype=np.int64)
            order = np.lexsort((counts, group))
            # Unpacked from the transposed packed bits: row 8i + k of the result is bit k of byte i, the
            # by-bit layout, without transposing the unpacked (8x larger) matrix.
            by_byte = np.ascontiguousarray(self.reference_bits[order].T)
            self._by_bit = np.unpackbits(by_byte, axis=0, count=self.n_bits)
            group, counts = group[order], counts[order]
            new_segment = np.ones(len(order), dtype=bool)
            new_segment[1:] = (group[1:] != group[:-1]) | (counts[1:] != counts[:-1])
            self._segment_starts = np.flatnonzero(new_segment)
            self._segment_counts = counts[self._segment_starts].astype(np.float32)
            segment_group = group[self._segment_starts]
            self._group_starts = np.searchsorted(segment_group, np.arange(len(signatures)))
            self._groups_of = [np.flatnonzero(signatures[:, j]) for j in range(len(self.endpoints))]
        return self._by_bit

    def _intersections(self, on_bits: Sequence[np.ndarray]) -> np.ndarray:
        """(molecules × references) number of fingerprint bits each molecule (its set bits) shares with
        each reference, in reference order; bytes where no molecule has more than 255 bits."""
        by_bit = self._prepare()
        widest = max((len(bits) for bits in on_bits), default=0)
        out = np.zeros((len(on_bits), by_bit.shape[1]), dtype=np.uint8 if widest <= 255 else np.uint16)
        for row, bits in zip(out, on_bits, strict=True):
            for bit in bits:
                np.add(row, by_bit[bit], out=row)
        return out

    def score(self, morgan_counts: np.ndarray) -> DomainScores:
        """Similarity (0-1) of each molecule to its nearest reference, overall and per endpoint (a block
        of molecules at a time, so that the intersection matrix stays small)."""
        self._prepare()
        overall = np.zeros(len(morgan_counts), dtype=np.float32)
        by_endpoint = {name: np.zeros(len(morgan_counts), dtype=np.float32) for name in self.endpoints}
        for start in range(0, len(morgan_counts), _BLOCK):
            block = slice(start, start + _BLOCK)
            on_bits = [np.flatnonzero(present) for present in morgan_counts[block] > 0]
            if not len(self._segment_starts):
                continue
            largest = np.maximum.reduceat(self._intersections(on_bits), self._segment_starts, axis=1)
            bit_counts = np.array([len(bits) for bits in on_bits], dtype=np.float32)[:, None]
            union = self._segment_counts + bit_counts - largest
            similarity = np.zeros(largest.shape, dtype=np.float32)
            np.divide(largest, union, out=similarity, where=union > 0)
            group_max = np.maximum.reduceat(similarity, self._group_starts, axis=1)
            overall[block] = group_max.max(1)
            for groups, name in zip(self._groups_of, self.endpoints, strict=True):
                if len(groups):
                    by_endpoint[name][block] = group_max[:, groups].max(1)
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
