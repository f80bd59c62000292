"""What a campaign wants: desirability terms combined as a weighted geometric mean, and hard constraints.

A term scores one column (a measured assay such as potency, or a platform endpoint such as
``Lipophilicity_AstraZeneca``) between 0 and 1. The score of a molecule is the weighted geometric mean
of its terms, so that one very bad property cannot be bought back by another. Uncertainty is carried
through by scoring draws of every column from the surrogate's posterior.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

DESIRABILITY_FLOOR = 0.01  # a term never scores 0, so that the geometric mean still ranks bad molecules


class Term(BaseModel):
    """One desirability: ``within`` [low, high] (either may be open), or ``maximize``/``minimize`` as a ramp
    from ``low`` to ``high``. ``log_scale`` models and scores log10(value + 1) (skewed assays, exact zeros);
    bounds are always given in the column's own units."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str = Field(min_length=1, max_length=200)
    goal: Literal["within", "maximize", "minimize"] = "maximize"
    low: float | None = None
    high: float | None = None
    weight: float = Field(default=1.0, gt=0)
    tolerance: float | None = Field(
        default=None, gt=0, description="For 'within': how far outside a bound (model scale) the term falls to 0."
    )
    log_scale: bool = False
    unit: str = Field(default="", max_length=50, description="The unit lab results must report (assay columns).")

    @model_validator(mode="after")
    def _bounds_fit_the_goal(self) -> Term:
        if self.goal == "within" and self.low is None and self.high is None:
            raise ValueError(f"term {self.column!r}: 'within' needs low, high or both")
        if self.goal != "within" and (self.low is None or self.high is None or self.low >= self.high):
            raise ValueError(f"term {self.column!r}: {self.goal} needs low < high (the ramp)")
        return self

    def to_model_scale(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if not self.log_scale:
            return values
        return np.log10(np.clip(values, 0.0, None) + 1.0)

    def from_model_scale(self, values: np.ndarray) -> np.ndarray:
        return np.power(10.0, values) - 1.0 if self.log_scale else np.asarray(values, dtype=float)

    def desirability(self, scaled: np.ndarray) -> np.ndarray:
        """Desirability in [floor, 1] of values on the model scale."""
        low = None if self.low is None else float(self.to_model_scale(np.array(self.low)))
        high = None if self.high is None else float(self.to_model_scale(np.array(self.high)))
        if self.goal == "within":
            span = (high - low) if low is not None and high is not None else 1.0
            tolerance = self.tolerance or max(span / 2, 1e-6)
            below = (low - scaled) / tolerance if low is not None else np.zeros_like(scaled)
            above = (scaled - high) / tolerance if high is not None else np.zeros_like(scaled)
            value = 1.0 - np.clip(np.maximum(below, above), 0.0, 1.0)
        else:
            assert low is not None and high is not None  # checked by the validator
            ramp = (scaled - low) / (high - low)
            value = np.clip(ramp if self.goal == "maximize" else 1.0 - ramp, 0.0, 1.0)
        return np.maximum(value, DESIRABILITY_FLOOR)


class Constraint(BaseModel):
    """A hard limit on a column (measured or predicted mean): candidates outside it are never proposed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str = Field(min_length=1, max_length=200)
    low: float | None = None
    high: float | None = None

    def allows(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        ok = np.ones(len(values), dtype=bool)
        if self.low is not None:
            ok &= ~(values < self.low)  # NaN (nothing known) is allowed
        if self.high is not None:
            ok &= ~(values > self.high)
        return ok


class Objective(BaseModel):
    """Terms combined as a weighted geometric mean of desirabilities."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    terms: list[Term] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _columns_unique(self) -> Objective:
        columns = [term.column for term in self.terms]
        if len(set(columns)) != len(columns):
            raise ValueError(f"each column may appear in one term only; got {columns}")
        return self

    @property
    def columns(self) -> list[str]:
        return [term.column for term in self.terms]

    def score(self, scaled: np.ndarray) -> np.ndarray:
        """Score of values on the model scale, shaped (..., n_terms) → (...). NaN columns (unknown) are
        left out of the mean for that molecule; a molecule with no known column scores NaN."""
        scaled = np.asarray(scaled, dtype=float)
        weights = np.array([term.weight for term in self.terms])
        logs = np.stack([np.log(term.desirability(scaled[..., i])) for i, term in enumerate(self.terms)], axis=-1)
        known = np.isfinite(scaled)
        total = np.where(known, weights, 0.0).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.exp(np.where(known, logs * weights, 0.0).sum(axis=-1) / total)

    def score_distribution(self, mean: np.ndarray, std: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
        """Draws of the score, (draws, n), from independent normal posteriors per column (model scale)."""
        noise = rng.standard_normal((draws, *mean.shape))
        return self.score(mean[None] + noise * std[None])
