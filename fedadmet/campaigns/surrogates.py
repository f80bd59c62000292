"""Surrogates refitted on a campaign's own measurements, one registered class per kind.

``ensemble``: bootstrapped CatBoost regressors over the platform's features with the default model's
predictions appended (the prior), one ensemble per objective column; its members are the draws
Thompson sampling uses. ``gp``: an exact Gaussian process per column with a Tanimoto kernel on Morgan
count fingerprints (GPyTorch/BoTorch), for the small data of a campaign's first rounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

MIN_LABELS = 5  # a column with fewer measurements is not modelled (the prior or nothing stands in)


@dataclass(frozen=True)
class Features:
    """The pool's inputs: ``dense`` (platform features + prior predictions) for trees, ``fingerprints``
    (Morgan counts) for the Tanimoto kernel and for the diversity of a batch."""

    dense: np.ndarray
    fingerprints: np.ndarray

    def take(self, rows: np.ndarray) -> Features:
        return Features(self.dense[rows], self.fingerprints[rows])

    def __len__(self) -> int:
        return len(self.dense)


@dataclass(frozen=True)
class Posterior:
    """Per candidate and column (model scale): mean and standard deviation, NaN where a column is not
    modelled; ``members`` (m, n, k) are draws from the model itself (an ensemble's members), if it has any."""

    mean: np.ndarray
    std: np.ndarray
    members: np.ndarray | None = None


@dataclass(frozen=True)
class FitSummary:
    """What was fitted: labels per column, and the columns left to the prior for lack of data."""

    kind: str
    labels: dict[str, int]
    unmodelled: list[str] = field(default_factory=list)


class Surrogate(Protocol):
    """Fit on measured rows (``targets`` (n, k), NaN where not measured), then predict any rows."""

    name: ClassVar[str]

    def fit(self, features: Features, targets: np.ndarray, columns: list[str]) -> FitSummary: ...

    def posterior(self, features: Features) -> Posterior: ...


SURROGATES: dict[str, Callable[..., Surrogate]] = {}


def register_surrogate(cls: type[Any]) -> type[Any]:
    SURROGATES[cls.name] = cls
    return cls


def make_surrogate(name: str, seed: int, threads: int = 1, **options: Any) -> Surrogate:
    if name not in SURROGATES:
        raise KeyError(f"unknown surrogate {name!r}; known: {sorted(SURROGATES)}")
    return SURROGATES[name](seed=seed, threads=threads, **options)


@register_surrogate
class EnsembleSurrogate:
    """Bootstrapped CatBoost members per column. The uncertainty is the members' spread plus the
    out-of-bag error (each member scored on the rows its bootstrap left out): members trained on
    near-identical data agree far more closely than they predict new molecules, so their spread alone
    is overconfident."""

    name: ClassVar[str] = "ensemble"

    def __init__(
        self, seed: int, threads: int = 1, members: int = 5, iterations: int = 100, border_count: int = 64
    ) -> None:
        self.seed, self.threads, self.n_members, self.iterations = seed, threads, members, iterations
        self.border_count = border_count
        self._models: list[list[Any] | None] = []
        self._oob_error: list[float] = []  # per column: root-mean-square out-of-bag error (model scale)

    def fit(self, features: Features, targets: np.ndarray, columns: list[str]) -> FitSummary:
        from catboost import CatBoostRegressor  # imported on use: the campaigns room loads without it

        rng = np.random.default_rng(self.seed)
        self._models, self._oob_error, labels, unmodelled = [], [], {}, []
        for j, column in enumerate(columns):
            rows = np.flatnonzero(np.isfinite(targets[:, j]))
            labels[column] = len(rows)
            self._oob_error.append(0.0)
            if len(rows) < MIN_LABELS:
                self._models.append(None)
                unmodelled.append(column)
                continue
            members = []
            oob_sum, oob_count = np.zeros(len(targets)), np.zeros(len(targets))
            for m in range(self.n_members):
                sample = rng.choice(rows, size=len(rows), replace=True)
                model = CatBoostRegressor(
                    iterations=self.iterations,
                    depth=6,
                    learning_rate=0.1,
                    rsm=0.2,
                    border_count=self.border_count,  # coarser bins: a round's refit stays within a minute on 10k
                    random_seed=self.seed * 1000 + m,
                    thread_count=self.threads,
                    verbose=False,
                    allow_writing_files=False,
                )
                model.fit(features.dense[sample], targets[sample, j])
                members.append(model)
                left_out = np.setdiff1d(rows, sample)
                if len(left_out):
                    oob_sum[left_out] += model.predict(features.dense[left_out])
                    oob_count[left_out] += 1
            self._models.append(members)
            scored = oob_count > 0
            if scored.any():
                residual = targets[scored, j] - oob_sum[scored] / oob_count[scored]
                self._oob_error[-1] = float(np.sqrt(np.mean(residual**2)))
        return FitSummary(self.name, labels, unmodelled)

    def posterior(self, features: Features) -> Posterior:
        from catboost import Pool

        n, k = len(features), len(self._models)
        draws = np.full((self.n_members, n, k), np.nan)
        if any(members is not None for members in self._models):
            pool = Pool(features.dense)  # converted once for every member (the conversion costs as much as a predict)
            for j, members in enumerate(self._models):
                if members is not None:
                    draws[:, :, j] = np.stack([model.predict(pool) for model in members])
        with np.errstate(invalid="ignore"):
            spread = draws.std(axis=0, ddof=1)
        return Posterior(draws.mean(axis=0), np.sqrt(spread**2 + np.square(self._oob_error)[None, :]), draws)


def tanimoto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tanimoto similarity of count (or bit) vectors: a·b / (a·a + b·b − a·b), all pairs."""
    dot = a @ b.T
    return dot / np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - dot, 1e-9)


@register_surrogate
class TanimotoGPSurrogate:
    """An exact GP per column (BoTorch ``SingleTaskGP``, standardised outcome) with a Tanimoto kernel."""

    name: ClassVar[str] = "gp"
    PREDICT_CHUNK = 4096

    def __init__(self, seed: int, threads: int = 1) -> None:
        self.seed, self.threads = seed, threads
        self.models: list[Any | None] = []

    def fit(self, features: Features, targets: np.ndarray, columns: list[str]) -> FitSummary:
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms.outcome import Standardize
        from gpytorch.kernels import ScaleKernel
        from gpytorch.mlls import ExactMarginalLogLikelihood

        from fedadmet.campaigns.kernels import TanimotoKernel

        torch.manual_seed(self.seed)
        self.models, labels, unmodelled = [], {}, []
        for j, column in enumerate(columns):
            rows = np.flatnonzero(np.isfinite(targets[:, j]))
            labels[column] = len(rows)
            if len(rows) < MIN_LABELS:
                self.models.append(None)
                unmodelled.append(column)
                continue
            x = torch.as_tensor(features.fingerprints[rows], dtype=torch.float64)
            y = torch.as_tensor(targets[rows, j : j + 1], dtype=torch.float64)
            model = SingleTaskGP(x, y, covar_module=ScaleKernel(TanimotoKernel()), outcome_transform=Standardize(m=1))
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            model.eval()
            self.models.append(model)
        return FitSummary(self.name, labels, unmodelled)

    def posterior(self, features: Features) -> Posterior:
        import torch

        n, k = len(features), len(self.models)
        mean, std = np.full((n, k), np.nan), np.full((n, k), np.nan)
        x = torch.as_tensor(features.fingerprints, dtype=torch.float64)
        with torch.no_grad():
            for j, model in enumerate(self.models):
                if model is None:
                    continue
                for start in range(0, n, self.PREDICT_CHUNK):
                    block = slice(start, start + self.PREDICT_CHUNK)
                    part = model.posterior(x[block])
                    mean[block, j] = part.mean.squeeze(-1).numpy()
                    std[block, j] = part.variance.clamp_min(1e-12).sqrt().squeeze(-1).numpy()
        return Posterior(mean, std)
