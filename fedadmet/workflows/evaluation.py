"""Scoring predictions as the benchmarks report them, with the model family's one scorer."""

from __future__ import annotations

from fedadmet.models.metrics import HIGHER_IS_BETTER, score

__all__ = ["at_least_as_good", "score"]


def at_least_as_good(metric: str, value: float, reference: float) -> bool:
    """Whether ``value`` matches or beats ``reference`` in ``metric``'s own direction."""
    return value >= reference if HIGHER_IS_BETTER[metric] else value <= reference
