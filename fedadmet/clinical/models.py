"""Patient-level models: L1-penalised logistic regression (the OHDSI PLP default) and gradient boosting.

The logistic model's objective is ``mean log-loss + l1_penalty · |w|₁`` on standardised covariates, the
same whether scikit-learn fits it on one database or hospitals fit it together (see federated_task.py)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from fedadmet.exceptions import InputError


@dataclass(frozen=True)
class LogisticModel:
    """Standardisation and weights: all a logistic model is, and all a federation shares."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def linear_predictor(self, covariates: pd.DataFrame) -> np.ndarray:
        return standardised(covariates, self) @ self.coef + self.intercept

    def predict_proba(self, covariates: pd.DataFrame) -> np.ndarray:
        """The predicted risk of each row."""
        return 1.0 / (1.0 + np.exp(-self.linear_predictor(covariates)))

    def weights(self) -> pd.Series:
        """Coefficients per covariate on the original scale's units of one standard deviation."""
        return pd.Series(self.coef, index=list(self.names))


def moments(covariates: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Mean and mean square per covariate: aggregates that average across hospitals into pooled ones."""
    values = covariates.to_numpy(dtype=float)
    return values.mean(axis=0), (values**2).mean(axis=0)


def scale_from_moments(mean: np.ndarray, square_mean: np.ndarray) -> np.ndarray:
    """Standard deviations, 1 where a covariate is constant (so it standardises to 0)."""
    std = np.sqrt(np.maximum(square_mean - mean**2, 0.0))
    return np.where(std > 1e-12, std, 1.0)


def standardised(covariates: pd.DataFrame, model: LogisticModel) -> np.ndarray:
    if tuple(covariates.columns) != model.names:
        covariates = covariates.reindex(columns=list(model.names), fill_value=0.0)
    return (covariates.to_numpy(dtype=float) - model.mean) / model.scale


def fit_logistic_l1(covariates: pd.DataFrame, outcome: np.ndarray, *, l1_penalty: float) -> LogisticModel:
    """Fit on one database with scikit-learn (SAGA), standardising with this data's moments."""
    labels = _checked_labels(outcome)
    mean, square_mean = moments(covariates)
    scale = scale_from_moments(mean, square_mean)
    values = (covariates.to_numpy(dtype=float) - mean) / scale
    regression = LogisticRegression(C=1.0 / (l1_penalty * len(labels)), l1_ratio=1.0, solver="saga", max_iter=3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        regression.fit(values, labels)
    return LogisticModel(tuple(covariates.columns), mean, scale, regression.coef_[0], float(regression.intercept_[0]))


L1_PENALTY_GRID = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)


def choose_l1_penalty(
    covariates: pd.DataFrame,
    outcome: np.ndarray,
    *,
    grid: Sequence[float] = L1_PENALTY_GRID,
    folds: int = 3,
    seed: int = 0,
) -> float:
    """The penalty with the lowest cross-validated log-loss (stratified folds), as PLP tunes its LASSO."""
    labels = _checked_labels(outcome)
    losses = []
    for penalty in grid:
        loss = 0.0
        for train, valid in StratifiedKFold(folds, shuffle=True, random_state=seed).split(covariates, labels):
            model = fit_logistic_l1(covariates.iloc[train], labels[train], l1_penalty=penalty)
            loss += log_loss(labels[valid], model.predict_proba(covariates.iloc[valid]), labels=[0, 1])
        losses.append(loss)
    return float(grid[int(np.argmin(losses))])


def logistic_gradient(values: np.ndarray, outcome: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    """Gradient of the mean log-loss: one entry per coefficient, then the intercept's."""
    residual = 1.0 / (1.0 + np.exp(-(values @ coef + intercept))) - outcome
    return np.append(values.T @ residual / len(outcome), residual.mean())


def proximal_gradient_steps(
    values: np.ndarray,
    outcome: np.ndarray,
    coef: np.ndarray,
    intercept: float,
    *,
    l1_penalty: float,
    steps: int,
    correction: np.ndarray | None = None,
    gradient: Callable[[np.ndarray, float], np.ndarray] | None = None,
    step: float | None = None,
) -> tuple[np.ndarray, float]:
    """``steps`` full-batch proximal gradient steps on standardised ``values`` from (coef, intercept): the
    local update of a federated round (the intercept is not penalised; the step is half of 1/L, which the
    corrected local steps need to stay stable over many steps). ``correction`` (SCAFFOLD's control
    variate: the consortium's mean gradient minus this site's, both at the previous round's start) is added
    to every gradient, so many local steps on different case mixes still head for the pooled optimum.
    ``gradient`` (coef, intercept → gradient) and ``step`` replace the exact gradient and the data's step
    where the hospital may only use noisy gradients and a public step (record-level DP)."""
    if step is None:
        step = 2.0 * len(outcome) / max(np.linalg.norm(values, 2) ** 2 + len(outcome), 1e-12)
    if gradient is None:

        def gradient(coef: np.ndarray, intercept: float) -> np.ndarray:
            return logistic_gradient(values, outcome, coef, intercept)

    shift = np.zeros(len(coef) + 1) if correction is None else correction
    for _ in range(steps):
        direction = gradient(coef, intercept) + shift
        coef = coef - step * direction[:-1]
        coef = np.sign(coef) * np.maximum(np.abs(coef) - step * l1_penalty, 0.0)
        intercept -= step * float(direction[-1])
    return coef, intercept


def fit_gradient_boosting(
    covariates: pd.DataFrame, outcome: np.ndarray, *, seed: int
) -> HistGradientBoostingClassifier:
    """Gradient-boosted trees with early stopping on an inner validation split."""
    model = HistGradientBoostingClassifier(
        learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0, early_stopping=True, random_state=seed
    )
    return model.fit(covariates.to_numpy(dtype=float), _checked_labels(outcome))


def _checked_labels(outcome: np.ndarray) -> np.ndarray:
    labels = np.asarray(outcome, dtype=int)
    if len(np.unique(labels)) < 2:
        raise InputError("the cohort has only one outcome class: nothing to learn", got=int(labels.sum()))
    return labels


def model_card(model: LogisticModel) -> dict[str, object]:
    """The model as JSON-able values (its standardisation included): enough to score another database."""
    return {
        "names": list(model.names),
        "mean": model.mean.tolist(),
        "scale": model.scale.tolist(),
        "coef": model.coef.tolist(),
        "intercept": model.intercept,
    }


def model_from_card(card: dict) -> LogisticModel:
    return LogisticModel(
        tuple(card["names"]),
        np.array(card["mean"], dtype=float),
        np.array(card["scale"], dtype=float),
        np.array(card["coef"], dtype=float),
        float(card["intercept"]),
    )
