"""The one scorer of the model family: the TDC leaderboard metrics, computed as TDC computes them, and R²
(the federated benchmark's regression unit)."""

from __future__ import annotations

import numpy as np

HIGHER_IS_BETTER = {"mae": False, "spearman": True, "roc-auc": True, "pr-auc": True, "r2": True}


def score(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    # Imported on use: prediction never scores, and SciPy + scikit-learn add ~1 s to every start-up.
    from scipy.stats import spearmanr
    from sklearn.metrics import average_precision_score, mean_absolute_error, r2_score, roc_auc_score

    y_true, y_pred = _numbers(y_true), _numbers(y_pred)
    if metric == "mae":
        return float(mean_absolute_error(y_true, y_pred))
    if metric == "spearman":
        return float(spearmanr(y_true, y_pred).statistic)
    if metric == "roc-auc":
        return float(roc_auc_score(y_true, y_pred))
    if metric == "pr-auc":
        return float(average_precision_score(y_true, y_pred))
    if metric == "r2":
        return float(r2_score(y_true, y_pred))
    raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(HIGHER_IS_BETTER)}")


def default_metric(is_classification: bool) -> str:
    return "roc-auc" if is_classification else "mae"


def _numbers(values: np.ndarray) -> np.ndarray:
    """Float arrays as they are (a partner's float32 labels score in float32, as its selection always did),
    anything else (integer labels, lists) as float64."""
    array = np.asarray(values)
    return array if array.dtype.kind == "f" else array.astype(float)
