"""A PLP-style evaluation: discrimination (AUROC with a bootstrap 95 % CI, AUPRC), accuracy (Brier),
calibration (intercept and slope, a calibration plot) and clinical usefulness (net benefit)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

NET_BENEFIT_THRESHOLDS = (0.05, 0.1, 0.2, 0.3)


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def text(self) -> str:
        return f"{self.value:.3f} ({self.low:.3f}–{self.high:.3f})"


@dataclass(frozen=True)
class PlpMetrics:
    n: int
    events: int
    auroc: Interval
    auprc: float
    brier: float
    calibration_intercept: float
    calibration_slope: float
    net_benefit: dict[float, float]

    def summary(self) -> dict[str, float | int]:
        """Flat numbers for JSON results and federated metrics."""
        return {
            "n": self.n,
            "events": self.events,
            "auroc": self.auroc.value,
            "auroc_low": self.auroc.low,
            "auroc_high": self.auroc.high,
            "auprc": self.auprc,
            "brier": self.brier,
            "calibration_intercept": self.calibration_intercept,
            "calibration_slope": self.calibration_slope,
        }


def evaluate_predictions(outcome: np.ndarray, risk: np.ndarray, *, n_boot: int = 500, seed: int = 0) -> PlpMetrics:
    """All PLP metrics of predicted ``risk`` against observed ``outcome`` (0/1)."""
    y, p = np.asarray(outcome, dtype=int), np.clip(np.asarray(risk, dtype=float), 1e-6, 1 - 1e-6)
    aurocs = [roc_auc_score(y[rows], p[rows]) for rows in _resamples(y, n_boot, seed)]
    logit = np.log(p / (1 - p))
    intercept_only = _logistic_fit(np.ones((len(y), 1)), logit, y)
    intercept_slope = _logistic_fit(np.column_stack([np.ones(len(y)), logit]), np.zeros(len(y)), y)
    return PlpMetrics(
        n=len(y),
        events=int(y.sum()),
        auroc=Interval(float(roc_auc_score(y, p)), *np.percentile(aurocs, [2.5, 97.5]).tolist()),
        auprc=float(average_precision_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        calibration_intercept=float(intercept_only[0]),
        calibration_slope=float(intercept_slope[1]),
        net_benefit={threshold: net_benefit(y, p, threshold) for threshold in NET_BENEFIT_THRESHOLDS},
    )


def delta_auroc(
    outcome: np.ndarray, base: np.ndarray, extended: np.ndarray, *, n_boot: int = 1000, seed: int = 0
) -> Interval:
    """AUROC(extended) − AUROC(base) on the same rows, with a paired bootstrap 95 % CI."""
    y = np.asarray(outcome, dtype=int)
    deltas = [
        roc_auc_score(y[rows], extended[rows]) - roc_auc_score(y[rows], base[rows])
        for rows in _resamples(y, n_boot, seed)
    ]
    value = roc_auc_score(y, extended) - roc_auc_score(y, base)
    return Interval(float(value), *np.percentile(deltas, [2.5, 97.5]).tolist())


def net_benefit(outcome: np.ndarray, risk: np.ndarray, threshold: float) -> float:
    """(true positives − false positives · t/(1−t)) / n for treating everyone whose risk is ≥ t."""
    treated = risk >= threshold
    true_positive = np.sum(treated & (outcome == 1))
    false_positive = np.sum(treated & (outcome == 0))
    return float((true_positive - false_positive * threshold / (1 - threshold)) / len(outcome))


def plot_evaluation(path: Path, outcome: np.ndarray, risks: dict[str, np.ndarray], title: str) -> Path:
    """ROC curves, a calibration plot (deciles of predicted risk) and a decision curve, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = np.asarray(outcome, dtype=int)
    figure, (roc_axis, calibration_axis, decision_axis) = plt.subplots(1, 3, figsize=(15, 4.5))
    thresholds = np.linspace(0.01, 0.6, 60)
    for name, risk in risks.items():
        false_rate, true_rate, _ = roc_curve(y, risk)
        roc_axis.plot(false_rate, true_rate, label=f"{name} (AUROC {roc_auc_score(y, risk):.3f})")
        bins = np.quantile(risk, np.linspace(0, 1, 11))
        decile = np.clip(np.searchsorted(bins, risk, side="right") - 1, 0, 9)
        observed = [y[decile == d].mean() for d in range(10) if np.any(decile == d)]
        predicted = [risk[decile == d].mean() for d in range(10) if np.any(decile == d)]
        calibration_axis.plot(predicted, observed, "o-", label=name)
        decision_axis.plot(thresholds, [net_benefit(y, risk, t) for t in thresholds], label=name)
    prevalence = y.mean()
    decision_axis.plot(
        thresholds, prevalence - (1 - prevalence) * thresholds / (1 - thresholds), "k--", label="treat all"
    )
    decision_axis.axhline(0, color="grey", linestyle=":", label="treat none")
    decision_axis.set_ylim(-0.05, max(prevalence, 0.05) * 1.1)
    roc_axis.plot([0, 1], [0, 1], "k:")
    top = max(max(float(np.max(r)) for r in risks.values()), prevalence) * 1.05
    calibration_axis.plot([0, top], [0, top], "k:")
    for axis, (x_label, y_label, heading) in zip(
        (roc_axis, calibration_axis, decision_axis),
        (
            ("1 − specificity", "sensitivity", "ROC"),
            ("predicted risk", "observed risk", "Calibration (deciles)"),
            ("threshold probability", "net benefit", "Decision curve"),
        ),
        strict=True,
    ):
        axis.set(xlabel=x_label, ylabel=y_label, title=heading)
        axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def metrics_table(rows: dict[str, PlpMetrics]) -> str:
    """A Markdown table of the metrics, one row per model."""
    header = "| model | n | events | AUROC (95 % CI) | AUPRC | Brier | cal. intercept | cal. slope | NB@0.1 | NB@0.2 |"
    lines = [header, "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for name, m in rows.items():
        lines.append(
            f"| {name} | {m.n} | {m.events} | {m.auroc.text()} | {m.auprc:.3f} | {m.brier:.4f} | "
            f"{m.calibration_intercept:+.3f} | {m.calibration_slope:.3f} | "
            f"{m.net_benefit[0.1]:.4f} | {m.net_benefit[0.2]:.4f} |"
        )
    return "\n".join(lines)


def _resamples(outcome: np.ndarray, n_boot: int, seed: int) -> list[np.ndarray]:
    """Bootstrap row sets that hold both classes."""
    generator = np.random.default_rng(seed)
    samples = []
    while len(samples) < n_boot:
        rows = generator.integers(0, len(outcome), len(outcome))
        if 0 < outcome[rows].sum() < len(rows):
            samples.append(rows)
    return samples


def _logistic_fit(design: np.ndarray, offset: np.ndarray, outcome: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Maximum-likelihood logistic coefficients by Newton's method (for the calibration model)."""
    beta = np.zeros(design.shape[1])
    for _ in range(iterations):
        risk = 1.0 / (1.0 + np.exp(-(design @ beta + offset)))
        hessian = design.T @ (design * (risk * (1 - risk))[:, None]) + 1e-9 * np.eye(len(beta))
        update = np.linalg.solve(hessian, design.T @ (outcome - risk))
        beta += update
        if np.max(np.abs(update)) < 1e-8:
            break
    return beta
