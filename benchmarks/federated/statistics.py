"""The fair protocol's numbers that do not depend on a model: confidence intervals over seeds, rounds to
95 % of the final score, MELLODDY's improve-to-perfect and conformal efficiency, and the LiRA-style
membership attack of an adversary holding only the shared trunk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """A mean with its 95 % confidence interval (None where one value cannot give one)."""

    mean: float
    low: float | None
    high: float | None
    n: int

    def to_json(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "ci95": None if self.low is None else [self.low, self.high], "n": self.n}


def t_interval(values: list[float] | np.ndarray) -> Interval:
    """Mean and Student-t 95 % interval over independent repeats (seeds) of a paired difference."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return Interval(mean, None, None, len(values))
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return Interval(mean, mean - half, mean + half, len(values))


def rounds_to_fraction(curve: list[float], fraction: float = 0.95) -> int | None:
    """The first round (counted from 1) whose score reaches ``fraction`` of the final round's score
    (for a final score at or below zero: within ``1 - fraction`` of its magnitude); None for no rounds."""
    if not curve:
        return None
    final = curve[-1]
    threshold = final * fraction if final > 0 else final - (1 - fraction) * abs(final)
    return next(i + 1 for i, value in enumerate(curve) if value >= threshold)


def improve_to_perfect(federated: float, local: float) -> float | None:
    """MELLODDY's relative gain: the share of the local model's distance to a perfect score closed."""
    return None if local >= 1.0 else (federated - local) / (1.0 - local)


def conformal_efficiency(
    calibration_scores: np.ndarray,
    calibration_labels: np.ndarray,
    test_scores: np.ndarray,
    error: float = 0.1,
) -> float:
    """Share of test compounds whose label-conditional (Mondrian) inductive conformal prediction set at
    ``error`` holds exactly one label (MELLODDY's efficiency). Scores are any output that rises with the
    chance of the positive class (probability or logit); calibration is on the validation fold."""
    calibration_scores, calibration_labels = np.asarray(calibration_scores, float), np.asarray(calibration_labels)
    test_scores = np.asarray(test_scores, float)
    in_set = []
    for label, nonconformity in ((1, lambda s: -s), (0, lambda s: s)):
        reference = nonconformity(calibration_scores[calibration_labels == label])
        if len(reference) == 0:
            return float("nan")
        test = nonconformity(test_scores)
        # p-value: (number of calibration nonconformities ≥ the test one + 1) / (n + 1)
        greater = len(reference) - np.searchsorted(np.sort(reference), test, side="left")
        in_set.append((greater + 1) / (len(reference) + 1) > error)
    return float(np.mean(np.logical_xor(in_set[0], in_set[1])))


@dataclass(frozen=True)
class AttackResult:
    """A membership attack's power: ROC-AUC and TPR at fixed FPRs, each with a bootstrap 95 % interval."""

    auc: Interval
    tpr_at_fpr: dict[str, Interval]
    members: int
    non_members: int

    def to_json(self) -> dict[str, object]:
        return {
            "auc": self.auc.to_json(),
            "tpr_at_fpr": {k: v.to_json() for k, v in self.tpr_at_fpr.items()},
            "members": self.members,
            "non_members": self.non_members,
        }


def _auc(members: np.ndarray, others: np.ndarray) -> float:
    """P(member score > non-member score), ties counted half (the ROC-AUC)."""
    ranks = stats.rankdata(np.concatenate([members, others]))
    return float((ranks[: len(members)].sum() - len(members) * (len(members) + 1) / 2) / (len(members) * len(others)))


def _tpr(members: np.ndarray, others: np.ndarray, fpr: float) -> float:
    """True-positive rate at the threshold that flags at most ``fpr`` of the non-members."""
    threshold = np.quantile(others, 1.0 - fpr, method="higher")
    return float((members > threshold).mean())


def attack_power(
    members: np.ndarray,
    others: np.ndarray,
    fprs: tuple[float, ...] = (0.001, 0.01),
    resamples: int = 200,
    seed: int = 0,
) -> AttackResult:
    """AUC and TPR at each FPR of a score that is higher for members, with percentile-bootstrap
    intervals over the records (members and non-members resampled apart)."""
    members, others = np.asarray(members, float), np.asarray(others, float)
    rng = np.random.default_rng(seed)
    draws = [(rng.choice(members, len(members)), rng.choice(others, len(others))) for _ in range(resamples)]

    def interval(measure: Callable[[np.ndarray, np.ndarray], float]) -> Interval:
        values = np.array([measure(m, o) for m, o in draws])
        low, high = np.percentile(values, [2.5, 97.5])
        return Interval(measure(members, others), float(low), float(high), resamples)

    return AttackResult(
        interval(_auc),
        {f"{100 * f:g}%": interval(lambda m, o, f=f: _tpr(m, o, f)) for f in fprs},
        len(members),
        len(others),
    )


def lira_statistics(
    embedding: np.ndarray,
    targets: np.ndarray,
    is_classification: np.ndarray,
    reference: np.ndarray,
    calibration: np.ndarray,
    candidates: np.ndarray,
) -> np.ndarray:
    """LiRA-style (offline, one Gaussian per endpoint) membership statistics of an adversary holding only
    the shared trunk: per endpoint it fits its own head on the trunk's embedding of ``reference`` rows
    (labelled compounds it knows were not trained on), models the non-members' confidence (logit of the
    true class' probability, or minus the squared error) as a Gaussian fitted on ``calibration`` rows, and
    scores each candidate by how far above that Gaussian its confidence lies (z, averaged over the
    candidate's labelled endpoints). Higher means "more likely a member"."""
    from sklearn.linear_model import LogisticRegression, Ridge

    total, counted = np.zeros(len(candidates)), np.zeros(len(candidates))
    for j in range(targets.shape[1]):
        fit = reference[~np.isnan(targets[reference, j])]
        held = calibration[~np.isnan(targets[calibration, j])]
        if len(fit) < 10 or len(held) < 10 or (is_classification[j] and len(np.unique(targets[fit, j])) < 2):
            continue
        if is_classification[j]:
            head = LogisticRegression(max_iter=500).fit(embedding[fit], targets[fit, j].astype(int))
        else:
            head = Ridge(alpha=1.0).fit(embedding[fit], targets[fit, j])
        out = _confidence(head, embedding, targets[:, j], held, bool(is_classification[j]))
        mean, spread = out.mean(), max(out.std(), 1e-9)
        labelled = candidates[~np.isnan(targets[candidates, j])]
        scores = (_confidence(head, embedding, targets[:, j], labelled, bool(is_classification[j])) - mean) / spread
        mask = ~np.isnan(targets[candidates, j])
        total[mask] += scores
        counted[mask] += 1
    return np.where(counted > 0, total / np.maximum(counted, 1), 0.0)


def _confidence(head: Any, embedding: np.ndarray, target: np.ndarray, rows: np.ndarray, classifier: bool) -> np.ndarray:
    """LiRA's per-record confidence: the logit of the true class' probability, or minus the squared error."""
    if not classifier:
        return -((head.predict(embedding[rows]) - target[rows]) ** 2)
    p = np.clip(head.predict_proba(embedding[rows])[:, 1], 1e-6, 1 - 1e-6)
    p_true = np.where(target[rows] == 1, p, 1 - p)
    return np.log(p_true / (1 - p_true))
