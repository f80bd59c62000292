"""The clinical model as a FederatedTask: each hospital extracts its cohort locally; only the logistic model's
weights, its mean gradient and the covariates' mean and mean square (averaged into an agreed
standardisation) leave, plus counts and scores in the metrics. No person-level value is ever returned.

Round 1 agrees the standardisation: each hospital returns its covariate moments on the public scale the
study agreed (``covariate_scale``: SecAgg+ quantises every shared value within ±SECAGG_CLIPPING_RANGE, so
an age or a lab value must not be shared raw) and FedAvg, weighted by cohort size, turns them into pooled
ones. From round 2 each hospital keeps the moments it first received (in its private arrays: Flower opens
a fresh session per message, and SecAgg+'s quantisation noise must not move the standardisation from round
to round) and returns the weights after ``local_steps`` proximal-gradient steps of the L1 objective
scikit-learn fits on one database, with its mean gradient at the round's starting weights: averaged, it is
the consortium's, which corrects the next round's local steps (SCAFFOLD's control variates), so that FedAvg
converges to the pooled model rather than to a compromise between case mixes. Under differential privacy
the runtime weighs every hospital equally: the moments and gradients are then those of the hospitals'
equally weighted objective, which the same steps still optimise.

Each hospital holds out its test rows (``test_fraction``, seeded as the benchmark's split) from everything,
and a validation part of its training rows (``validation_fraction``) from training: ``valid_score`` is the
AUROC there, and selects the model the hospital keeps in its folder
(``federated_model/<run name>/run-<id>/model.json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score

from fedadmet.clinical.models import (
    LogisticModel,
    logistic_gradient,
    model_card,
    moments,
    proximal_gradient_steps,
    scale_from_moments,
)
from fedadmet.clinical.omop import open_cdm, read_cdm
from fedadmet.clinical.record_dp import (
    NoisyGradients,
    RecordDp,
    clipped_mean,
    epsilon_spent,
    moment_records,
    noise_multiplier_for,
    noisy,
    planned_releases,
)
from fedadmet.clinical.study import Extracted, Study, extract, held_out
from fedadmet.exceptions import InputError
from fedadmet.federated.plan import SECAGG_CLIPPING_RANGE, FederationPlan
from fedadmet.federated.privacy import secure_rng
from fedadmet.federated.protocol import (
    VALID_SCORE,
    Arrays,
    EvaluateResult,
    FitResult,
    Partners,
    RoundInfo,
    register_task,
    replaces_kept,
)
from fedadmet.federated.tasks.molecular import kept_scores, partner_model_folder
from fedadmet.names import check_distinct_partners

CDM_FILE = "cdm.duckdb"  # a hospital's CDM in its data folder
MODEL_FILE, SCORES_FILE = "model.json", "scores.json"
AGREED_MEAN, AGREED_SQUARE_MEAN, OWN_GRADIENT = "agreed_mean", "agreed_square_mean", "own_gradient"  # private
DP_RELEASES = "dp_releases"  # private: how many noisy releases this hospital has made in the run


def agreed_scales(options: Mapping[str, Any]) -> np.ndarray:
    """The public divisor of each covariate before its moments are shared (1 unless the study names one)."""
    scales = options.get("covariate_scale", {})
    return np.array([float(scales.get(name, 1.0)) for name in options["covariate_names"]])


def model_from_moments(
    names: Sequence[str],
    mean: np.ndarray,
    square_mean: np.ndarray,
    scales: np.ndarray,
    coef: np.ndarray,
    intercept: float,
) -> LogisticModel:
    """The logistic model on the covariates' own units, from moments shared on the agreed scale."""
    return LogisticModel(tuple(names), mean * scales, scale_from_moments(mean, square_mean) * scales, coef, intercept)


def model_from_shared(shared: Mapping[str, np.ndarray], options: Mapping[str, Any]) -> LogisticModel:
    """The federation's model from its shared arrays (the coordinator's published parameters)."""
    return model_from_moments(
        list(options["covariate_names"]),
        shared["feature_mean"],
        shared["feature_square_mean"],
        agreed_scales(options),
        shared["coef"],
        float(shared["intercept"][0]),
    )


class ClinicalSession:
    """One hospital for one message: its training and validation rows (never sent) and what its node kept."""

    def __init__(
        self, folder: Path, train: Extracted, valid: Extracted, options: Mapping[str, Any], private: Arrays
    ) -> None:
        self.folder, self.train, self.valid, self.options, self.private = folder, train, valid, options, private
        self.partner = folder.name

    def _model(self, shared: Mapping[str, np.ndarray]) -> LogisticModel:
        """The shared weights on the standardisation this hospital agreed to (the first it received)."""
        mean = self.private.get(AGREED_MEAN, shared["feature_mean"])
        square_mean = self.private.get(AGREED_SQUARE_MEAN, shared["feature_square_mean"])
        names, scales = list(self.options["covariate_names"]), agreed_scales(self.options)
        return model_from_moments(names, mean, square_mean, scales, shared["coef"], float(shared["intercept"][0]))

    @property
    def record_dp(self) -> RecordDp | None:
        return RecordDp.from_options(self.options)

    def _planned_releases(self) -> int:
        training_rounds = FederationPlan.model_validate(self.options).rounds - 1  # round 1 shares the moments
        return planned_releases(training_rounds, int(self.options.get("local_steps", 25)))

    def _noise_multiplier(self, settings: RecordDp) -> float:
        """The same for every hospital: the accountant's, for the run's planned releases."""
        return noise_multiplier_for(settings.target_epsilon, settings.delta, self._planned_releases())

    def _privacy(self, releases: int) -> tuple[dict[str, float], Arrays]:
        """The ε this hospital has spent after ``releases`` noisy releases (metrics), and its count (kept)."""
        settings = self.record_dp
        if settings is None:
            return {}, {}
        if releases > self._planned_releases():
            raise InputError(
                "record-level DP budget spent: more rounds than planned",
                got=releases,
                expected=self._planned_releases(),
            )
        multiplier = self._noise_multiplier(settings)
        metrics = {
            "epsilon": epsilon_spent(multiplier, releases, settings.delta),
            "delta": settings.delta,
            "noise_multiplier": multiplier,
        }
        return metrics, {DP_RELEASES: np.array([float(releases)])}

    def _moments(self) -> tuple[np.ndarray, np.ndarray]:
        """The covariates' mean and mean square on the public scales; under record-level DP each patient's
        bounded record is clipped and the means are noised."""
        scaled = self.train.covariates / agreed_scales(self.options)
        settings = self.record_dp
        if settings is None:
            return moments(scaled)
        records = moment_records(scaled.to_numpy(dtype=float))
        released = noisy(
            clipped_mean(records, settings.clip),
            len(records),
            settings.clip,
            self._noise_multiplier(settings),
            secure_rng(),
        )
        return np.split(released, 2)

    def fit(self, shared: Mapping[str, np.ndarray], round: RoundInfo) -> FitResult:
        parameters = _copied(shared)
        if AGREED_MEAN not in self.private and not np.any(shared["feature_square_mean"]):
            mean, square_mean = self._moments()
            parameters |= {"feature_mean": mean, "feature_square_mean": square_mean}
            privacy, kept = self._privacy(1)
            metrics = {"stage": "moments", **privacy}
            return FitResult(_within_secagg(parameters), len(self.train.cohort), metrics, kept)
        agreed = {
            AGREED_MEAN: self.private.get(AGREED_MEAN, parameters["feature_mean"]),
            AGREED_SQUARE_MEAN: self.private.get(AGREED_SQUARE_MEAN, parameters["feature_square_mean"]),
        }
        model = self._model(shared)
        values = (self.train.covariates.to_numpy(dtype=float) - model.mean) / model.scale
        consortium_gradient = np.append(shared["gradient"], shared["intercept_gradient"])
        previous = self.private.get(OWN_GRADIENT)
        correction = consortium_gradient - previous if previous is not None and np.any(consortium_gradient) else None
        steps = int(self.options.get("local_steps", 25))
        settings = self.record_dp
        noisy_gradients = None
        if settings is not None:
            noisy_gradients = NoisyGradients(
                values, self.train.outcome, settings, self._noise_multiplier(settings), secure_rng()
            )
        coef, intercept = proximal_gradient_steps(
            values,
            self.train.outcome,
            model.coef.copy(),
            model.intercept,
            l1_penalty=float(self.options.get("l1_penalty", 0.002)),
            steps=steps,
            correction=correction,
            gradient=noisy_gradients,
            step=None if settings is None else settings.step_size,
        )
        if noisy_gradients is None:
            own_gradient = logistic_gradient(values, self.train.outcome, model.coef, model.intercept)
        else:  # the first noisy step's gradient, at the round's starting weights: no further release
            own_gradient = noisy_gradients.released[0]
        releases = int(self.private.get(DP_RELEASES, np.ones(1))[0]) + steps
        privacy, kept = self._privacy(releases)
        parameters |= {
            "coef": coef,
            "intercept": np.array([intercept]),
            "feature_mean": agreed[AGREED_MEAN],  # the agreed moments as first received, not as re-quantised
            "feature_square_mean": agreed[AGREED_SQUARE_MEAN],
            "gradient": own_gradient[:-1],
            "intercept_gradient": own_gradient[-1:],
        }
        private = {**agreed, OWN_GRADIENT: own_gradient, **kept}
        metrics = {"stage": "weights", **privacy}
        return FitResult(_within_secagg(parameters), len(self.train.cohort), metrics, private)

    def evaluate(self, shared: Mapping[str, np.ndarray], round: RoundInfo) -> EvaluateResult:
        """Scores on this hospital's validation rows: counts, AUROC (the valid score), Brier and log-loss."""
        outcome = self.valid.outcome
        risk = np.clip(self._model(shared).predict_proba(self.valid.covariates), 1e-6, 1 - 1e-6)
        auroc = float(roc_auc_score(outcome, risk)) if 0 < outcome.sum() < len(outcome) else float("nan")
        metrics: dict[str, float | int | str] = {
            VALID_SCORE: auroc,
            "auroc": auroc,
            "events": int(outcome.sum()),
            "brier": float(brier_score_loss(outcome, risk)),
            "log_loss": float(-np.mean(outcome * np.log(risk) + (1 - outcome) * np.log(1 - risk))),
        }
        return EvaluateResult(len(outcome), metrics)

    def keep(self, shared: Mapping[str, np.ndarray], round: RoundInfo, evaluation: EvaluateResult) -> None:
        """The hospital's best model of the run, as a model card in its own folder."""
        folder = partner_model_folder(self.folder, round.run_name, round.run_id)
        score = float(evaluation.metrics[VALID_SCORE])
        if not replaces_kept(kept_scores(folder), score, round.trunk_round):
            return
        folder.mkdir(parents=True, exist_ok=True)
        card = {"study": dict(self.options), "trunk_round": round.trunk_round, **model_card(self._model(shared))}
        (folder / MODEL_FILE).write_text(json.dumps(card, indent=1))
        scores = {k: float(v) for k, v in evaluation.metrics.items() if isinstance(v, int | float)}
        (folder / SCORES_FILE).write_text(json.dumps(scores))
        (folder / "provenance.json").write_text(json.dumps({"trunk_round": round.trunk_round}))


@register_task("clinical")
class ClinicalTask:
    """Options: a :class:`Study`'s ``to_options()`` plus ``covariate_names`` (agreed from the vocabulary),
    ``covariate_scale`` (name → public divisor), ``local_steps``, ``test_fraction``, ``validation_fraction``,
    ``seed`` (each hospital's held-out split) and ``record_dp`` (:class:`RecordDp`'s fields: record-level
    differential privacy at each hospital)."""

    name = "clinical"

    def initial_parameters(self, options: Mapping[str, Any]) -> Arrays:
        size = len(options["covariate_names"])
        return {
            "coef": np.zeros(size),
            "intercept": np.zeros(1),
            "feature_mean": np.zeros(size),
            "feature_square_mean": np.zeros(size),
            "gradient": np.zeros(size),
            "intercept_gradient": np.zeros(1),
        }

    def open_partner(
        self, data_dir: Path, options: Mapping[str, Any], private: Mapping[str, np.ndarray]
    ) -> ClinicalSession:
        """This hospital's cohort from ``data_dir/cdm.duckdb``, without its test rows, split into training
        and validation rows."""
        extracted = _extracted(str(Path(data_dir).resolve()), json.dumps(_study_options(options), sort_keys=True))
        seed = int(options.get("seed", 0))
        train = extracted.rows(~held_out(len(extracted.cohort), float(options.get("test_fraction", 0.3)), seed))
        valid = held_out(len(train.cohort), float(options.get("validation_fraction", 0.2)), seed + 1)
        return ClinicalSession(Path(data_dir), train.rows(~valid), train.rows(valid), options, dict(private))

    def partner_name(self, data_dir: Path) -> str:
        return Path(data_dir).name

    def check_partners(self, data_dirs: Sequence[Path]) -> Partners:
        """Every folder holds a CDM, and each hospital has its own name."""
        missing = [str(folder) for folder in data_dirs if not (Path(folder) / CDM_FILE).is_file()]
        if missing:
            raise InputError(f"hospital folder(s) without {CDM_FILE}", got=missing)
        names = [self.partner_name(folder) for folder in data_dirs]
        check_distinct_partners(names)
        return Partners(names)


def _study_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """What shapes the extraction (the runtime's settings ride along in the same options)."""
    study = Study.from_options(options).to_options()
    return {**study, "covariate_names": list(options["covariate_names"])}


@lru_cache(maxsize=8)
def _extracted(folder: str, study_json: str) -> Extracted:
    """A hospital's extraction, once per process: Flower opens a session per message."""
    options = json.loads(study_json)
    cdm = open_cdm(Path(folder) / CDM_FILE)
    try:
        return extract(read_cdm(cdm), Study.from_options(options), list(options["covariate_names"]))
    finally:
        cdm.dispose()


class OutsideSecAggRangeError(InputError):
    """Shared arrays hold values SecAgg+ would clip: the covariates concerned need a larger agreed scale."""

    def __init__(self, arrays: list[str]) -> None:
        self.arrays = arrays
        super().__init__(
            f"shared values beyond SecAgg+'s ±{SECAGG_CLIPPING_RANGE} would be clipped",
            got=arrays,
            expected="a larger covariate_scale for the covariates concerned",
        )


def _within_secagg(parameters: Arrays) -> Arrays:
    """Refuse to send a value SecAgg+ would clip (a covariate that needs a larger agreed scale)."""
    outside = sorted(
        name for name, values in parameters.items() if np.abs(values).max(initial=0) > SECAGG_CLIPPING_RANGE
    )
    if outside:
        raise OutsideSecAggRangeError(outside)
    return parameters


def _copied(shared: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.array(values, dtype=float, copy=True) for name, values in shared.items()}
