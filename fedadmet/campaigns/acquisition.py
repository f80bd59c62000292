"""Acquisition strategies: given the scored candidates, which ``batch`` to make next and why.

Each strategy is one small class registered by name (:func:`register_acquisition`); its options come
from the campaign's spec. Every strategy returns distinct candidate indices, best first, with the value
it ranked them by and a one-line reason the order file carries.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.stats import norm

from fedadmet.campaigns.objective import Objective
from fedadmet.campaigns.surrogates import Features, Surrogate, tanimoto


@dataclass(frozen=True)
class Candidates:
    """The molecules that may be picked, scored: ``score_draws`` (s, n) sample the score's posterior,
    ``member_scores`` (m, n) score each ensemble member's prediction (None for a GP), ``best`` is the best
    measured score so far (NaN before any)."""

    score_mean: np.ndarray
    score_std: np.ndarray
    score_draws: np.ndarray
    member_scores: np.ndarray | None
    best: float
    features: Features
    surrogate: Surrogate
    objective: Objective

    def __len__(self) -> int:
        return len(self.score_mean)

    @property
    def incumbent(self) -> float:
        """What an improvement is measured against: the best measured score, else the best predicted."""
        return self.best if np.isfinite(self.best) else float(np.nanmax(self.score_mean))


@dataclass(frozen=True)
class Selection:
    indices: np.ndarray
    values: np.ndarray
    reasons: list[str]


class Acquisition(ABC):
    """Base of every strategy: ``select`` returns at most ``batch`` distinct indices into the candidates."""

    name: ClassVar[str]

    def __init__(self, **options: Any) -> None:
        if options:
            raise ValueError(f"strategy {self.name!r} takes no options {sorted(options)}")

    @abstractmethod
    def select(self, candidates: Candidates, batch: int, rng: np.random.Generator) -> Selection: ...


class RankedAcquisition(Acquisition):
    """A strategy that ranks every candidate by one value and takes the ``batch`` highest."""

    def select(self, candidates: Candidates, batch: int, rng: np.random.Generator) -> Selection:
        values = self.values(candidates)
        order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")[:batch]
        return Selection(order, values[order], [self.reason(candidates, i, values[i]) for i in order])

    @abstractmethod
    def values(self, candidates: Candidates) -> np.ndarray: ...

    def reason(self, candidates: Candidates, index: int, value: float) -> str:
        mean, std = candidates.score_mean[index], candidates.score_std[index]
        return f"{self.name}: value {value:.3g} (predicted score {mean:.3f} ± {std:.3f})"


ACQUISITIONS: dict[str, type[Acquisition]] = {}


def register_acquisition(cls: type[Acquisition]) -> type[Acquisition]:
    ACQUISITIONS[cls.name] = cls
    return cls


def make_acquisition(name: str, options: dict[str, Any] | None = None) -> Acquisition:
    if name not in ACQUISITIONS:
        raise KeyError(f"unknown acquisition strategy {name!r}; known: {sorted(ACQUISITIONS)}")
    try:
        return ACQUISITIONS[name](**(options or {}))
    except TypeError as exc:  # an option the strategy's constructor does not take
        raise ValueError(f"strategy {name!r}: {exc}") from None


@register_acquisition
class RandomPick(Acquisition):
    """Uniformly at random: the baseline every other strategy must beat."""

    name = "random"

    def select(self, candidates: Candidates, batch: int, rng: np.random.Generator) -> Selection:
        picks = rng.choice(len(candidates), size=min(batch, len(candidates)), replace=False)
        return Selection(picks, np.zeros(len(picks)), ["random: drawn uniformly from the pool"] * len(picks))


@register_acquisition
class Greedy(RankedAcquisition):
    """The highest predicted score (pure exploitation)."""

    name = "greedy"

    def values(self, candidates: Candidates) -> np.ndarray:
        return candidates.score_mean

    def reason(self, candidates: Candidates, index: int, value: float) -> str:
        return f"greedy: highest predicted score {value:.3f} ± {candidates.score_std[index]:.3f}"


@register_acquisition
class UpperConfidenceBound(RankedAcquisition):
    """Mean + ``beta`` standard deviations: optimism in the face of uncertainty."""

    name = "ucb"

    def __init__(self, beta: float = 2.0) -> None:
        self.beta = float(beta)

    def values(self, candidates: Candidates) -> np.ndarray:
        return candidates.score_mean + self.beta * candidates.score_std

    def reason(self, candidates: Candidates, index: int, value: float) -> str:
        mean, std = candidates.score_mean[index], candidates.score_std[index]
        return f"ucb: score {mean:.3f} + {self.beta:g} × {std:.3f} = {value:.3f}"


@register_acquisition
class ExpectedImprovement(RankedAcquisition):
    """Analytic expected improvement over the best measured score, on the score's mean and std."""

    name = "ei"

    def values(self, candidates: Candidates) -> np.ndarray:
        std = np.maximum(candidates.score_std, 1e-9)
        gap = candidates.score_mean - candidates.incumbent
        z = gap / std
        return gap * norm.cdf(z) + std * norm.pdf(z)

    def reason(self, candidates: Candidates, index: int, value: float) -> str:
        mean, std = candidates.score_mean[index], candidates.score_std[index]
        return f"ei: expected improvement {value:.3g} over {candidates.incumbent:.3f} (score {mean:.3f} ± {std:.3f})"


@register_acquisition
class ThompsonSampling(Acquisition):
    """Each pick is the best candidate under one posterior draw (an ensemble member where there are
    members), so that the batch spreads over the plausible optima."""

    name = "thompson"

    def select(self, candidates: Candidates, batch: int, rng: np.random.Generator) -> Selection:
        draws = candidates.member_scores if candidates.member_scores is not None else candidates.score_draws
        draws = np.nan_to_num(draws, nan=-np.inf)
        taken = np.zeros(len(candidates), dtype=bool)
        picks, values, reasons = [], [], []
        for _ in range(min(batch, len(candidates))):
            which = int(rng.integers(len(draws)))
            scores = np.where(taken, -np.inf, draws[which])
            best = int(np.argmax(scores))
            taken[best] = True
            picks.append(best)
            values.append(float(scores[best]))
            reasons.append(f"thompson: best under posterior draw {which} (drawn score {scores[best]:.3f})")
        return Selection(np.array(picks, dtype=int), np.array(values), reasons)


@register_acquisition
class DiverseBatch(Acquisition):
    """UCB order, skipping any candidate more similar than ``max_similarity`` (Tanimoto on Morgan counts)
    to a pick already in the batch: no two picks are near-duplicates."""

    name = "diverse"

    def __init__(self, max_similarity: float = 0.6, beta: float = 1.0) -> None:
        if not 0 < float(max_similarity) <= 1:
            raise ValueError(f"max_similarity must be in (0, 1]; got {max_similarity}")
        self.max_similarity, self.beta = float(max_similarity), float(beta)

    def select(self, candidates: Candidates, batch: int, rng: np.random.Generator) -> Selection:
        values = UpperConfidenceBound(self.beta).values(candidates)
        order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")
        fingerprints = candidates.features.fingerprints.astype(float)
        picks: list[int] = []
        for index in order:
            if len(picks) == batch:
                break
            if picks and tanimoto(fingerprints[index : index + 1], fingerprints[picks]).max() > self.max_similarity:
                continue
            picks.append(int(index))
        reasons = [
            f"diverse: ucb {values[i]:.3f} and no pick in the batch more similar than {self.max_similarity:g}"
            for i in picks
        ]
        return Selection(np.array(picks, dtype=int), values[picks], reasons)


@register_acquisition
class BatchExpectedImprovement(Acquisition):
    """Batch (q) log expected improvement from BoTorch over the GP's joint posterior, chosen greedily
    one pick at a time among a ``shortlist`` × batch of the highest-UCB candidates. Needs the ``gp``
    surrogate; columns the GP does not model (left to the prior) are not part of its objective."""

    name = "qei"

    def __init__(self, shortlist: int = 4, mc_samples: int = 128) -> None:
        self.shortlist, self.mc_samples = int(shortlist), int(mc_samples)

    def select(self, candidates: Candidates, batch: int, rng: np.random.Generator) -> Selection:
        import torch
        from botorch.acquisition.logei import qLogExpectedImprovement
        from botorch.acquisition.objective import GenericMCObjective
        from botorch.models import ModelListGP
        from botorch.sampling import SobolQMCNormalSampler

        models = getattr(candidates.surrogate, "models", None)
        modelled = [j for j, model in enumerate(models or []) if model is not None]
        if not modelled:
            raise ValueError("qei needs the 'gp' surrogate with at least one modelled column")
        n_columns = len(candidates.objective.terms)
        score = _torch_score(candidates.objective.score, modelled, n_columns)
        model = ModelListGP(*[models[j] for j in modelled])  # type: ignore[index]
        acquisition = qLogExpectedImprovement(
            model,
            best_f=candidates.incumbent,
            sampler=SobolQMCNormalSampler(torch.Size([self.mc_samples]), seed=int(rng.integers(2**31))),
            objective=GenericMCObjective(score),
        )
        optimistic = np.nan_to_num(candidates.score_mean + 2 * candidates.score_std, nan=-np.inf)
        shortlist = np.argsort(-optimistic, kind="stable")[: max(batch, self.shortlist * batch)]
        x = torch.as_tensor(candidates.features.fingerprints[shortlist], dtype=torch.float64)
        picks: list[int] = []
        values: list[float] = []
        with torch.no_grad():
            for _ in range(min(batch, len(shortlist))):
                rest = np.setdiff1d(np.arange(len(shortlist)), picks)
                chosen = x[picks].unsqueeze(0).expand(len(rest), len(picks), x.shape[1])
                joint = torch.cat([chosen, x[rest].unsqueeze(1)], dim=1)
                gains = acquisition(joint).numpy()
                best = int(np.argmax(gains))
                picks.append(int(rest[best]))
                values.append(float(gains[best]))
        indices = shortlist[picks]
        reasons = [f"qei: batch log-EI {value:.3g} with the {k} picks before it" for k, value in enumerate(values)]
        return Selection(indices, np.array(values), reasons)


def _torch_score(score: Callable[[np.ndarray], np.ndarray], modelled: list[int], n_columns: int) -> Callable[..., Any]:
    """The objective over GP samples (…, q, len(modelled)) as BoTorch's MC objective wants it (no gradient
    is needed: candidates are a discrete set)."""
    import torch

    def objective(samples: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
        full = np.full((*samples.shape[:-1], n_columns), np.nan)
        full[..., modelled] = samples.detach().numpy()
        return torch.as_tensor(score(full), dtype=samples.dtype)

    return objective
