"""The pure parts of the external comparison: censored labels, Spearman with a paired bootstrap, MAE, and
the measured coverage of prediction intervals (directly, or through a monotone mapping fitted on half the
molecules and scored on the other half)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.isotonic import IsotonicRegression

from fedadmet.exceptions import InputError

CENSOR_PREFIXES = ("<=", ">=", "<", ">")


@dataclass(frozen=True)
class Measurements:
    """One label column as numbers: ``values`` (NaN where missing) and whether each is censored (``<x``,
    ``>x``: the bound is kept as the value, so that a caller can choose what to do with it)."""

    values: np.ndarray
    censored: np.ndarray

    @property
    def usable(self) -> np.ndarray:
        """Exact measurements: present and not censored."""
        return np.isfinite(self.values) & ~self.censored


def parse_censored(column: pd.Series) -> Measurements:
    """Numbers from a label column read as text, with ``<``/``>``/``<=``/``>=`` prefixes marking censored
    values; an entry that is neither empty nor a number (after its prefix) is an error naming its row."""
    values = np.full(len(column), np.nan)
    censored = np.zeros(len(column), dtype=bool)
    for position, entry in enumerate(column.tolist()):
        if entry is None or (isinstance(entry, float) and np.isnan(entry)):
            continue
        text = str(entry).strip()
        if not text:
            continue
        prefix = next((p for p in CENSOR_PREFIXES if text.startswith(p)), "")
        try:
            values[position] = float(text[len(prefix) :])
        except ValueError:
            raise InputError(
                f"column {column.name!r}, row {position + 1}: not a number", got=entry, expected="a number, or <x / >x"
            ) from None
        censored[position] = bool(prefix)
    return Measurements(values, censored)


def spearman(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rank correlation (ties get average ranks); NaN with fewer than 3 pairs or a constant side."""
    return float(_rank_correlation(np.asarray(first, float)[None, :], np.asarray(second, float)[None, :])[0])


def _rank_correlation(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Row-wise Spearman of two (rows × n) arrays."""
    if first.shape[1] < 3:
        return np.full(first.shape[0], np.nan)
    a = rankdata(first, axis=1)
    b = rankdata(second, axis=1)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=1) / denominator


@dataclass(frozen=True)
class Estimate:
    """A statistic and its bootstrap percentile interval."""

    value: float
    low: float
    high: float

    def as_dict(self, digits: int = 3) -> dict[str, float | None]:
        return {
            key: _rounded(number, digits)
            for key, number in (("value", self.value), ("low", self.low), ("high", self.high))
        }


@dataclass(frozen=True)
class PairedSpearman:
    """Two predictors' Spearman against the same measurements, and their difference (first − second), each
    with a 95 % interval from one paired bootstrap: every resample draws molecules, and both predictors and
    their difference are scored on that same draw."""

    n: int
    first: Estimate
    second: Estimate
    difference: Estimate


def paired_spearman(
    measured: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
    chunk: int = 100,
) -> PairedSpearman:
    """Spearman of ``first`` and of ``second`` against ``measured`` (same molecules), with paired bootstrap
    95 % percentile intervals for each and for the difference."""
    measured, first, second = (np.asarray(values, dtype=float) for values in (measured, first, second))
    n = len(measured)
    point_first, point_second = spearman(first, measured), spearman(second, measured)
    rng = np.random.default_rng(seed)
    draws_first, draws_second = [], []
    for start in range(0, resamples, chunk):
        rows = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        draws_first.append(_rank_correlation(first[rows], measured[rows]))
        draws_second.append(_rank_correlation(second[rows], measured[rows]))
    sample_first, sample_second = np.concatenate(draws_first), np.concatenate(draws_second)
    return PairedSpearman(
        n=n,
        first=_estimate(point_first, sample_first),
        second=_estimate(point_second, sample_second),
        difference=_estimate(point_first - point_second, sample_first - sample_second),
    )


def _estimate(value: float, sample: np.ndarray) -> Estimate:
    finite = sample[np.isfinite(sample)]
    if not len(finite):
        return Estimate(value, np.nan, np.nan)
    low, high = np.percentile(finite, [2.5, 97.5])
    return Estimate(value, float(low), float(high))


def mean_absolute_error(predicted: np.ndarray, measured: np.ndarray) -> float:
    """MAE over the pairs where both are finite; NaN if none."""
    predicted, measured = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    both = np.isfinite(predicted) & np.isfinite(measured)
    return float(np.abs(predicted[both] - measured[both]).mean()) if both.any() else np.nan


def interval_coverage(lower: np.ndarray, upper: np.ndarray, measured: np.ndarray) -> float:
    """Share of finite measurements inside [lower, upper]."""
    lower, upper, measured = (np.asarray(values, dtype=float) for values in (lower, upper, measured))
    finite = np.isfinite(measured) & np.isfinite(lower) & np.isfinite(upper)
    if not finite.any():
        return np.nan
    return float(((lower[finite] <= measured[finite]) & (measured[finite] <= upper[finite])).mean())


def mapped_interval_coverage(
    prediction: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    measured: np.ndarray,
    *,
    increasing: bool,
    seed: int = 0,
) -> float:
    """Coverage where prediction and measurement are in different units: an isotonic mapping from the
    prediction to the measurement is fitted on a random half of the molecules, carries the interval's bounds
    of the other half into the measurement's units, and is scored there; then the halves swap, and the two
    scores are pooled (every molecule is scored once, by a mapping that never saw it)."""
    prediction, lower, upper, measured = (np.asarray(v, dtype=float) for v in (prediction, lower, upper, measured))
    order = np.random.default_rng(seed).permutation(len(measured))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    covered = []
    for fit, score in (halves, halves[::-1]):
        mapping = IsotonicRegression(increasing=increasing, out_of_bounds="clip").fit(prediction[fit], measured[fit])
        ends = np.stack([mapping.predict(lower[score]), mapping.predict(upper[score])])
        covered.append((ends.min(axis=0) <= measured[score]) & (measured[score] <= ends.max(axis=0)))
    return float(np.concatenate(covered).mean())


def _rounded(value: float, digits: int) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)
