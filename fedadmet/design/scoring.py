"""One number per molecule from its full ADMET/Tox profile, with the range its uncertainty allows.

Each goal maps a predicted value onto a desirability in 0..1 (REINVENT-style sigmoid or step); the
desirabilities, a synthetic-accessibility term and a similarity term are combined by a weighted geometric
mean, so that one failed goal sinks the molecule. Structural alerts, the applicability domain, the
similarity floor and the size limits (relative to the most similar start molecule) are hard constraints
(the molecule is dropped, with the reason) or soft factors. The score is evaluated again across each
prediction's interval; the half-width of that range, weighted by ``domain.uncertainty_weight``, is
subtracted, so that a confident molecule outranks a lucky guess.

The profile function is injected: this room never loads a model or touches the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from fedadmet.chem.properties import synthetic_accessibility
from fedadmet.design.objective import Goal, Objective
from fedadmet.exceptions import InputError

ProfileFunction = Callable[[Sequence[str]], pd.DataFrame]
"""SMILES in, one profile row per SMILES out, in order (the columns of :func:`fedadmet.inference.predict`)."""

SA_TERM = "synthetic_accessibility"
SIMILARITY_TERM = "similarity"
_FLOOR = 1e-6  # a desirability of exactly 0 would make the logarithm of the geometric mean infinite
_INTERVAL_POINTS = 5  # where across a prediction's interval its desirability is evaluated


def desirability(
    values: np.ndarray, direction: str, low: float, high: float, shape: str, steepness: float
) -> np.ndarray:
    """A value's desirability in 0..1: 0.5 halfway between ``low`` and ``high`` for "higher"/"lower";
    for "range", near 1 between them and falling off outside (a target is a narrow range)."""
    values = np.asarray(values, dtype=float)
    middle, width = (low + high) / 2, high - low
    if shape == "step":
        if direction == "higher":
            return (values >= middle).astype(float)
        if direction == "lower":
            return (values <= middle).astype(float)
        return ((values >= low) & (values <= high)).astype(float)

    def rising(centre: float) -> np.ndarray:
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + 10.0 ** (steepness * 10.0 * (centre - values) / width))

    if direction == "higher":
        return rising(middle)
    if direction == "lower":
        return 1.0 - rising(middle)
    return rising(low) * (1.0 - rising(high))


def _goal_desirability(goal: Goal, values: np.ndarray) -> np.ndarray:
    return desirability(values, goal.direction, goal.low, goal.high, goal.shape, goal.steepness)


@dataclass(frozen=True)
class MoleculeScore:
    """Why a molecule scores what it does; ``dropped`` names the hard constraint it failed, if any."""

    smiles: str
    parent: str | None
    score: float  # the geometric mean with soft factors, less the uncertainty penalty; 0 when dropped
    raw_score: float  # before the uncertainty penalty
    score_low: float  # the score at the least favourable end of every prediction's interval
    score_high: float
    components: dict[str, float] = field(default_factory=dict)  # goal or term -> desirability
    values: dict[str, float] = field(default_factory=dict)  # endpoint -> predicted value
    uncertainties: dict[str, float] = field(default_factory=dict)
    alerts: tuple[str, ...] = ()
    in_domain: bool | None = None
    sa_score: float | None = None
    similarity: float | None = None
    size_ratio: float | None = None  # heavy atoms over those of the most similar start molecule
    dropped: str | None = None
    failed_limits: tuple[str, ...] = ()  # goals (or "domain") outside the objective's limits, if it enforces them
    violation: float = 0.0  # how far outside them: summed desirability short of the limit, +1 outside the domain


class Scorer:
    """Scores batches against one objective; ``references`` are the starting molecules similarity is to."""

    def __init__(self, objective: Objective, profile: ProfileFunction, references: Sequence[str]) -> None:
        self.objective = objective
        self.profile = profile
        self.references = tuple(references)

    @cached_property
    def _reference_mols(self) -> list[Chem.Mol]:
        mols = [Chem.MolFromSmiles(smiles) for smiles in self.references]
        return [mol for mol in mols if mol is not None]

    @cached_property
    def _reference_fingerprints(self) -> list[DataStructs.ExplicitBitVect]:
        return [fingerprint(mol) for mol in self._reference_mols]

    def nearest(self, mol: Chem.Mol) -> tuple[float, float | None]:
        """Tanimoto to the nearest reference and the molecule's heavy atoms over that reference's
        (1 and None when there are no references: nothing to stay near)."""
        if not self._reference_fingerprints:
            return 1.0, None
        similarities = DataStructs.BulkTanimotoSimilarity(fingerprint(mol), self._reference_fingerprints)
        index = int(np.argmax(similarities))
        return similarities[index], mol.GetNumHeavyAtoms() / self._reference_mols[index].GetNumHeavyAtoms()

    def score(self, smiles: Sequence[str]) -> list[MoleculeScore]:
        """One :class:`MoleculeScore` per SMILES, in order, from ONE batched profile call."""
        if not smiles:
            return []
        profile = self.profile(list(smiles)).reset_index(drop=True)
        missing = [goal.endpoint for goal in self.objective.goal if goal.endpoint not in profile.columns]
        if missing:
            raise InputError(
                f"the model does not predict {', '.join(missing)}", expected="endpoints that `fedadmet endpoints` lists"
            )
        return [self._score_row(text, row) for text, (_, row) in zip(smiles, profile.iterrows(), strict=True)]

    def _score_row(self, text: str, row: pd.Series) -> MoleculeScore:
        error = row.get("error")
        if isinstance(error, str) and error:
            return MoleculeScore(text, None, 0.0, 0.0, 0.0, 0.0, dropped=f"invalid: {error}")
        parent = str(row["smiles"])
        mol = Chem.MolFromSmiles(parent)
        alerts = tuple(name for name in str(row.get("alerts") or "").split("; ") if name)
        in_domain = None if pd.isna(row.get("in_domain")) else bool(row.get("in_domain"))
        similarity, size_ratio = self.nearest(mol)
        sa_score = synthetic_accessibility(mol)
        values = {goal.endpoint: float(row[goal.endpoint]) for goal in self.objective.goal}
        uncertainties = {
            goal.endpoint: float(row.get(f"{goal.endpoint}_uncertainty", np.nan)) for goal in self.objective.goal
        }
        common = {
            "values": values,
            "uncertainties": uncertainties,
            "alerts": alerts,
            "in_domain": in_domain,
            "sa_score": sa_score,
            "similarity": similarity,
            "size_ratio": size_ratio,
        }
        dropped = self._hard_failure(alerts, in_domain, similarity, size_ratio)
        if dropped:
            return MoleculeScore(text, parent, 0.0, 0.0, 0.0, 0.0, dropped=dropped, **common)
        terms: list[tuple[float, float, float, float]] = []  # weight, desirability, lowest, highest
        components: dict[str, float] = {}
        for goal in self.objective.goal:
            desirabilities = _goal_desirability(goal, _interval_points(row, goal.endpoint))
            components[goal.endpoint] = float(desirabilities[0])
            terms.append((goal.weight, desirabilities[0], desirabilities.min(), desirabilities.max()))
        policy = self.objective.synthetic_accessibility
        if policy.weight:
            centre = policy.max_score
            components[SA_TERM] = float(
                desirability(np.array([sa_score]), "lower", centre - 1.5, centre + 1.5, "sigmoid", 0.25)[0]
            )
            terms.append((policy.weight, components[SA_TERM], components[SA_TERM], components[SA_TERM]))
        if self.objective.similarity.weight:
            components[SIMILARITY_TERM] = similarity
            terms.append((self.objective.similarity.weight, similarity, similarity, similarity))
        weights = [term[0] for term in terms]
        factor = self._soft_factor(alerts, in_domain)
        raw, low, high = (factor * _geometric_mean([term[i] for term in terms], weights) for i in (1, 2, 3))
        penalty = self.objective.domain.uncertainty_weight * (high - low) / 2
        score = max(0.0, raw - penalty)
        failed, violation = self._limits(components, in_domain)
        return MoleculeScore(
            text,
            parent,
            score,
            raw,
            low,
            high,
            components=components,
            failed_limits=failed,
            violation=violation,
            **common,
        )

    def _limits(self, components: dict[str, float], in_domain: bool | None) -> tuple[tuple[str, ...], float]:
        """The goals whose desirability falls below the objective's limit (and "domain" if the molecule lies
        outside it), with the total shortfall; none where the objective does not enforce limits."""
        limits = self.objective.limits
        if not limits.enforce:
            return (), 0.0
        short = {
            goal.endpoint: limits.min_desirability - components[goal.endpoint]
            for goal in self.objective.goal
            if components[goal.endpoint] < limits.min_desirability
        }
        outside = limits.in_domain and not in_domain
        return (*short, *(["domain"] if outside else [])), float(sum(short.values()) + outside)

    def _hard_failure(
        self, alerts: tuple[str, ...], in_domain: bool | None, similarity: float, size_ratio: float | None
    ) -> str | None:
        if alerts and self.objective.alerts.mode == "hard":
            return f"structural alert: {alerts[0]}"
        if self.objective.domain.require_in_domain and not in_domain:
            return "outside the model's applicability domain"
        if similarity < self.objective.similarity.min_tanimoto:
            floor = self.objective.similarity.min_tanimoto
            return f"Tanimoto {similarity:.2f} to the nearest start molecule is below {floor}"
        size = self.objective.size
        if size_ratio is not None and not (
            size.min_heavy_atom_ratio <= size_ratio <= (size.max_heavy_atom_ratio or float("inf"))
        ):
            return f"heavy atoms {size_ratio:.2f} times the nearest start molecule's, outside the size limits"
        return None

    def _soft_factor(self, alerts: tuple[str, ...], in_domain: bool | None) -> float:
        factor = 1.0
        if self.objective.alerts.mode == "soft":
            factor *= self.objective.alerts.penalty ** len(alerts)
        if in_domain is False:
            factor *= self.objective.domain.out_of_domain_factor
        return factor


def fingerprint(mol: Chem.Mol) -> DataStructs.ExplicitBitVect:
    """Morgan radius-2, 2048 bits: the similarity every design step uses."""
    return _MORGAN.GetFingerprint(mol)


_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


def _interval_points(row: pd.Series, endpoint: str) -> np.ndarray:
    """The value first, then points across its interval: the regression interval columns where the profile
    has them, else value ± uncertainty (classifiers: a probability, kept within 0..1)."""
    value = float(row[endpoint])
    lower, upper = row.get(f"{endpoint}_lower"), row.get(f"{endpoint}_upper")
    if lower is None or upper is None or pd.isna(lower) or pd.isna(upper):
        spread = float(row.get(f"{endpoint}_uncertainty", 0.0) or 0.0)
        lower, upper = max(0.0, value - spread), min(1.0, value + spread)
    return np.concatenate([[value], np.linspace(float(lower), float(upper), _INTERVAL_POINTS)])


def _geometric_mean(terms: Sequence[float], weights: Sequence[float]) -> float:
    logs = np.log(np.maximum(np.asarray(terms, dtype=float), _FLOOR))
    return float(np.exp(np.dot(weights, logs) / np.sum(weights)))
