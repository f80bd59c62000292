"""One round's decision, as a pure function of the pool, the measurements so far and the spec: fit the
surrogate, score the candidates with their uncertainty, and let the strategy pick the batch."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fedadmet.campaigns.acquisition import ACQUISITIONS, Candidates, RandomPick, make_acquisition
from fedadmet.campaigns.objective import Constraint, Objective
from fedadmet.campaigns.surrogates import Features, FitSummary, Posterior, Surrogate, make_surrogate

SCORE_DRAWS = 64  # posterior draws per candidate through which the score's uncertainty is estimated


class CampaignSpec(BaseModel):
    """What a campaign optimises and how it picks: stored with the campaign, so every round uses the same."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    objective: Objective
    constraints: list[Constraint] = Field(default_factory=list, max_length=20)
    strategy: str = "greedy"
    strategy_options: dict[str, Any] = Field(default_factory=dict)
    surrogate: Literal["auto", "ensemble", "gp"] = "auto"
    surrogate_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description='Options by surrogate kind, e.g. {"ensemble": {"members": 3}}.'
    )
    gp_below: int = Field(default=300, ge=0, description="'auto' uses the GP while fewer compounds are measured.")
    batch_size: int = Field(default=48, ge=1, le=10_000)
    seed: int = Field(default=0, ge=0)

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, name: str) -> str:
        if name not in ACQUISITIONS:
            raise ValueError(f"unknown strategy {name!r}; known: {sorted(ACQUISITIONS)}")
        return name

    @model_validator(mode="after")
    def _options_fit_the_strategy(self) -> CampaignSpec:
        make_acquisition(self.strategy, self.strategy_options)  # refused at creation, not at the first round
        return self

    def surrogate_for(self, measured_compounds: int) -> str:
        if self.strategy == "qei" or (self.surrogate == "auto" and measured_compounds < self.gp_below):
            return "gp"
        return "ensemble" if self.surrogate == "auto" else self.surrogate


@dataclass(frozen=True)
class Prior:
    """The default model's prediction of a column for every pool row, on the term's model scale."""

    mean: np.ndarray
    std: np.ndarray


@dataclass(frozen=True)
class RoundInputs:
    """Everything a round decides from. ``measured`` (n, k): each pool row's aggregated measurement of
    each objective column on the model scale (NaN: none); ``unavailable``: rows measured, pending or
    otherwise not to be proposed; ``priors`` by column; ``known`` by constraint column (measured, else
    predicted, in the column's own units); ``censored`` (n, k): +1 where a measurement is only a lower
    bound (">"), -1 an upper bound ("<"), 0 exact (None: every one exact)."""

    features: Features
    measured: np.ndarray
    unavailable: np.ndarray
    priors: dict[str, Prior] = field(default_factory=dict)
    known: dict[str, np.ndarray] = field(default_factory=dict)
    censored: np.ndarray | None = None


@dataclass(frozen=True)
class Proposal:
    """The batch (pool row indices, best first), what was predicted for each (model scale), why it was
    picked, and what model made the prediction."""

    rows: np.ndarray
    column_mean: np.ndarray
    column_std: np.ndarray
    score_mean: np.ndarray
    score_std: np.ndarray
    values: np.ndarray
    reasons: list[str]
    fit: FitSummary | None
    candidates: int


def propose(spec: CampaignSpec, inputs: RoundInputs, round_number: int, threads: int = 1) -> Proposal:
    """Pick the next batch; the same inputs and round always give the same batch (a resumed campaign
    repeats the decision it was about to record)."""
    rng = np.random.default_rng([spec.seed, round_number])
    allowed = ~inputs.unavailable
    for constraint in spec.constraints:
        if constraint.column in inputs.known:
            allowed &= constraint.allows(inputs.known[constraint.column])
    rows = np.flatnonzero(allowed)
    acquisition = make_acquisition(spec.strategy, spec.strategy_options)
    columns = spec.objective.columns
    if not len(rows):
        return Proposal(rows, *(np.empty((0, len(columns))),) * 2, *(np.empty(0),) * 3, [], None, 0)
    trained = np.flatnonzero(np.isfinite(inputs.measured).any(axis=1))
    candidate_features = inputs.features.take(rows)
    fit, posterior = None, Posterior(*(np.full((len(rows), len(columns)), np.nan),) * 2)
    if len(trained) and not isinstance(acquisition, RandomPick):
        kind = spec.surrogate_for(len(trained))
        options = spec.surrogate_options.get(kind, {})
        surrogate = make_surrogate(kind, seed=spec.seed * 1000 + round_number, threads=threads, **options)
        fit = fit_censored(
            surrogate,
            inputs.features.take(trained),
            inputs.measured[trained],
            columns,
            _rows_of(inputs.censored, trained),
        )
        posterior = surrogate.posterior(candidate_features)
    else:
        surrogate = make_surrogate("ensemble", seed=spec.seed, threads=threads)  # unfitted: random needs none
    mean, std, members = _with_priors(posterior, inputs.priors, columns, rows)
    draws = spec.objective.score_distribution(mean, std, SCORE_DRAWS, rng)
    with warnings.catch_warnings():  # a candidate with no known column has no score: NaN, said once here
        warnings.simplefilter("ignore", RuntimeWarning)
        score_mean, score_std = np.nanmean(draws, axis=0), np.nanstd(draws, axis=0)
    measured_scores = spec.objective.score(inputs.measured[trained]) if len(trained) else np.empty(0)
    candidates = Candidates(
        score_mean=score_mean,
        score_std=score_std,
        score_draws=draws,
        member_scores=None if members is None else spec.objective.score(members),
        best=float(np.nanmax(measured_scores)) if np.isfinite(measured_scores).any() else float("nan"),
        features=candidate_features,
        surrogate=surrogate,
        objective=spec.objective,
    )
    selection = acquisition.select(candidates, spec.batch_size, rng)
    picked = selection.indices
    return Proposal(
        rows=rows[picked],
        column_mean=mean[picked],
        column_std=std[picked],
        score_mean=score_mean[picked],
        score_std=score_std[picked],
        values=selection.values,
        reasons=selection.reasons,
        fit=fit,
        candidates=len(rows),
    )


def _rows_of(censored: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if censored is None else censored[rows]


def fit_censored(
    surrogate: Surrogate, features: Features, targets: np.ndarray, columns: list[str], censored: np.ndarray | None
) -> FitSummary:
    """Fit ``surrogate``; where some targets are only bounds, fit again with each bound replaced by its
    expected value beyond the bound under the first fit's normal posterior (one EM step of a Tobit model:
    E[y | y > b] = μ + σ φ(a) / (1 − Φ(a)), a = (b − μ) / σ), so that "> 7" is not learnt as 7 even by
    trees, which never predict beyond the values they were fitted on."""
    from scipy.stats import norm

    fit = surrogate.fit(features, targets, columns)
    if censored is None or not (censored != 0).any():
        return fit
    posterior = surrogate.posterior(features)
    mean, std = posterior.mean, np.maximum(np.nan_to_num(posterior.std, nan=0.0), 1e-6)
    a = (targets - np.nan_to_num(mean, nan=0.0)) / std
    with np.errstate(divide="ignore", invalid="ignore"):
        above = np.fmax(targets, mean + std * norm.pdf(a) / np.maximum(norm.sf(a), 1e-12))
        below = np.fmin(targets, mean - std * norm.pdf(a) / np.maximum(norm.cdf(a), 1e-12))
    imputed = np.where(censored > 0, above, np.where(censored < 0, below, targets))
    return surrogate.fit(features, np.where(np.isfinite(imputed), imputed, targets), columns)


def _with_priors(
    posterior: Posterior, priors: dict[str, Prior], columns: list[str], rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Columns the surrogate does not model take the default model's prediction, where it makes one."""
    mean, std = posterior.mean.copy(), posterior.std.copy()
    members = None if posterior.members is None else posterior.members.copy()
    for j, column in enumerate(columns):
        if column in priors and np.isnan(mean[:, j]).all():
            mean[:, j], std[:, j] = priors[column].mean[rows], priors[column].std[rows]
            if members is not None:
                members[:, :, j] = mean[:, j]
    return mean, np.nan_to_num(std, nan=0.0), members


def interval_coverage(mean: np.ndarray, std: np.ndarray, observed: np.ndarray) -> dict[str, float | int]:
    """How well the predicted uncertainty held: the share of observed values within ±1 and ±2 predicted
    standard deviations (0.68 and 0.95 for a calibrated normal), and the mean |z|."""
    usable = np.isfinite(mean) & np.isfinite(observed) & np.isfinite(std) & (std > 0)
    if not usable.any():
        return {"n": 0}
    z = np.abs(observed[usable] - mean[usable]) / std[usable]
    return {
        "n": int(usable.sum()),
        "within_1sd": float((z <= 1).mean()),
        "within_2sd": float((z <= 2).mean()),
        "mean_abs_z": float(z.mean()),
    }
