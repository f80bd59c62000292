"""The clinical model as a FederatedTask: each hospital extracts its cohort locally; only the logistic model's
weights and the covariates' means and mean squares (averaged into pooled standardisation) leave, plus
counts and scores in the metrics. No person-level value is ever returned.

Round 1 agrees the standardisation: each hospital returns its covariate moments and FedAvg (weighted by
cohort size) turns them into the pooled ones. Later rounds keep the agreed moments and return the weights
after ``local_steps`` proximal-gradient steps of the same L1 objective scikit-learn fits on one database,
and the hospital's mean gradient at the round's starting weights: averaged, it is the consortium's, which
corrects the next round's local steps (SCAFFOLD's control variates), so that plain FedAvg of what the
hospitals return converges to the pooled model rather than to a compromise between case mixes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score

from fedadmet.clinical.models import (
    LogisticModel,
    logistic_gradient,
    moments,
    proximal_gradient_steps,
    scale_from_moments,
)
from fedadmet.clinical.omop import open_cdm, read_cdm
from fedadmet.clinical.study import Extracted, Study, extract, held_out
from fedadmet.federated.protocol import EvaluateResult, FitResult, RoundInfo, register_task

CDM_FILE = "cdm.duckdb"  # a hospital's CDM in its data folder (or options["cdm_url"] names its database)


def model_from_shared(shared: Mapping[str, np.ndarray], names: list[str]) -> LogisticModel:
    mean, square_mean = shared["feature_mean"], shared["feature_square_mean"]
    return LogisticModel(
        tuple(names), mean, scale_from_moments(mean, square_mean), shared["coef"], float(shared["intercept"][0])
    )


@dataclass
class ClinicalSession:
    """One hospital: its train and test rows (never sent) and the model it keeps."""

    partner: str
    train: Extracted
    test: Extracted
    options: Mapping[str, Any]
    kept: LogisticModel | None = field(default=None)
    own_gradient: np.ndarray | None = field(default=None)  # at the last round's starting weights; stays here

    def fit(self, shared: Mapping[str, np.ndarray], round: RoundInfo) -> FitResult:
        names = list(self.options["covariate_names"])
        if not np.any(shared["feature_square_mean"]):
            mean, square_mean = moments(self.train.covariates)
            parameters = {**_copied(shared), "feature_mean": mean, "feature_square_mean": square_mean}
            return FitResult(parameters, len(self.train.cohort), {"stage": "moments"})
        model = model_from_shared(shared, names)
        values = (self.train.covariates.to_numpy(dtype=float) - model.mean) / model.scale
        consortium_gradient = np.append(shared["gradient"], shared["intercept_gradient"])
        correction = None
        if self.own_gradient is not None and np.any(consortium_gradient):
            correction = consortium_gradient - self.own_gradient
        self.own_gradient = logistic_gradient(values, self.train.outcome, model.coef, model.intercept)
        coef, intercept = proximal_gradient_steps(
            values,
            self.train.outcome,
            model.coef.copy(),
            model.intercept,
            l1_penalty=float(self.options.get("l1_penalty", 0.002)),
            steps=int(self.options.get("local_steps", 20)),
            correction=correction,
        )
        parameters = {
            **_copied(shared),
            "coef": coef,
            "intercept": np.array([intercept]),
            "gradient": self.own_gradient[:-1],
            "intercept_gradient": self.own_gradient[-1:],
        }
        return FitResult(parameters, len(self.train.cohort), {"stage": "weights"})

    def evaluate(self, shared: Mapping[str, np.ndarray], round: RoundInfo) -> EvaluateResult:
        """Scores on this hospital's held-out rows: counts, AUROC, Brier and log-loss only."""
        risk = model_from_shared(shared, list(self.options["covariate_names"])).predict_proba(self.test.covariates)
        outcome = self.test.outcome
        risk = np.clip(risk, 1e-6, 1 - 1e-6)
        metrics: dict[str, float | int | str] = {
            "events": int(outcome.sum()),
            "brier": float(brier_score_loss(outcome, risk)),
            "log_loss": float(-np.mean(outcome * np.log(risk) + (1 - outcome) * np.log(1 - risk))),
        }
        if 0 < outcome.sum() < len(outcome):
            metrics["auroc"] = float(roc_auc_score(outcome, risk))
        return EvaluateResult(len(outcome), metrics)

    def keep(self, shared: Mapping[str, np.ndarray], round: RoundInfo, valid_score: float) -> None:
        self.kept = model_from_shared(_copied(shared), list(self.options["covariate_names"]))


@register_task("clinical")
class ClinicalTask:
    """Options: a :class:`Study`'s ``to_options()`` plus ``covariate_names`` (agreed from the vocabulary),
    ``local_steps``, ``test_fraction`` and ``seed`` (each hospital's held-out split)."""

    name = "clinical"

    def initial_parameters(self, options: Mapping[str, Any]) -> dict[str, np.ndarray]:
        size = len(options["covariate_names"])
        return {
            "coef": np.zeros(size),
            "intercept": np.zeros(1),
            "feature_mean": np.zeros(size),
            "feature_square_mean": np.zeros(size),
            "gradient": np.zeros(size),
            "intercept_gradient": np.zeros(1),
        }

    def open_partner(self, data_dir: Path, options: Mapping[str, Any]) -> ClinicalSession:
        """Read and extract this hospital's CDM (``data_dir/cdm.duckdb`` or ``options['cdm_url']``)."""
        cdm = read_cdm(open_cdm(options.get("cdm_url") or Path(data_dir) / CDM_FILE))
        extracted = extract(cdm, Study.from_options(options), list(options["covariate_names"]))
        test = held_out(len(extracted.cohort), float(options.get("test_fraction", 0.3)), int(options.get("seed", 0)))
        return ClinicalSession(Path(data_dir).name, extracted.rows(~test), extracted.rows(test), options)


def _copied(shared: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.array(values, dtype=float, copy=True) for name, values in shared.items()}
