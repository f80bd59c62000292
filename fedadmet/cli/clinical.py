"""`fedadmet clinical ...`: patient-level toxicity from OMOP CDM databases, alone or federated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fedadmet.cli.common import app, console, fail
from fedadmet.exceptions import FedadmetError

clinical_app = typer.Typer(
    help="Patient-level toxicity from OMOP CDM records (DuckDB file or SQLAlchemy URL), federated across hospitals.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(clinical_app, name="clinical")

StudyOption = Annotated[
    str,
    typer.Option(
        help="gibleed (Eunomia: celecoxib → GI bleeding) or a synthetic toxicity: febrile-neutropenia, "
        "cardiotoxicity, hepatotoxicity, nephrotoxicity."
    ),
]
MolecularOption = Annotated[
    bool, typer.Option(help="Add the platform's hERG/DILI predictions for the regimen drugs (synthetic studies).")
]
CdmOption = Annotated[
    list[str] | None,
    typer.Option(
        "--cdm", help="CDM database: a DuckDB file, a hospital folder or a URL; repeat to pool. Default: GiBleed."
    ),
]


@clinical_app.command("generate")
def generate(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for one <hospital>/cdm.duckdb each.")],
    patients: Annotated[int, typer.Option(min=40, help="Patients in all.")] = 4000,
    hospitals: Annotated[int, typer.Option(min=1, help="Hospitals, each with its own case mix.")] = 4,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 0,
    molecular_effect: Annotated[
        bool, typer.Option(help="Plant an effect of the drugs' predicted hERG/DILI on cardio/hepatotoxicity.")
    ] = True,
) -> None:
    """Write a synthetic oncology consortium (chemotherapy, comorbidities, labs, four toxicities)."""
    from fedadmet.clinical.synthetic import SyntheticSpec
    from fedadmet.workflows import clinical

    try:
        scores = clinical.drug_predictions() if molecular_effect else {}
        spec = SyntheticSpec(patients, hospitals, seed, molecular_effect, scores)
        folders = clinical.generate(output, spec)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    for hospital, folder in folders.items():
        console.print(f"{hospital}: {folder / 'cdm.duckdb'}")


@clinical_app.command("extract")
def extract(
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV of cohort and covariates (person-level).")],
    study: StudyOption = "gibleed",
    cdm: CdmOption = None,
    molecular: MolecularOption = False,
) -> None:
    """Build the study's cohort and covariates from the CDM(s) and write them as one CSV (stays local)."""
    import pandas as pd

    from fedadmet.workflows import clinical

    try:
        sites = clinical.extract_sites(cdm or [None], clinical.named_study(study, molecular=molecular))
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    pooled = clinical.combined(sites)
    pd.concat([pooled.cohort, pooled.covariates], axis=1).to_csv(output, index=False)
    console.print(
        f"wrote {output}: {len(pooled.cohort)} persons, {int(pooled.outcome.sum())} with the outcome, "
        f"{pooled.covariates.shape[1]} covariates"
    )


@clinical_app.command("train")
def train(
    report: Annotated[Path, typer.Option(help="Folder for report.md, evaluation.png and model.json.")],
    study: StudyOption = "gibleed",
    cdm: CdmOption = None,
    molecular: MolecularOption = False,
    seed: Annotated[int, typer.Option(help="Seed of the 70/30 held-out split.")] = 0,
) -> None:
    """Train L1 logistic regression and gradient boosting on 70 % and report on the held-out 30 %."""
    from fedadmet.config import get_settings
    from fedadmet.workflows import clinical

    try:
        chosen = clinical.named_study(study, molecular=molecular)
        pooled = clinical.combined(clinical.extract_sites(cdm or [None], chosen))
        result = clinical.train_and_evaluate(pooled, chosen, title=f"Study: {study}", report_dir=report, seed=seed)
        clinical.save_model(result.model, chosen, report / "model.json")
        kept = clinical.keep_report(report, get_settings().home)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    for name, metrics in result.metrics.items():
        console.print(f"{name}: AUROC {metrics.auroc.text()}, Brier {metrics.brier:.4f}")
    if result.molecular_delta is not None:
        console.print(f"ΔAUROC of molecular covariates: {result.molecular_delta.text()}")
    console.print(f"report: {result.report} (the web app's Patients page shows its copy in {kept})")


@clinical_app.command("evaluate")
def evaluate(
    model: Annotated[Path, typer.Option(help="model.json written by `fedadmet clinical train`.")],
    report: Annotated[Path, typer.Option(help="Folder for report.md and evaluation.png.")],
    cdm: CdmOption = None,
) -> None:
    """Score a trained model on every cohort row of other CDM database(s) (external validation)."""
    from fedadmet.config import get_settings
    from fedadmet.workflows import clinical

    try:
        fitted, study = clinical.load_model(model)
        extracted = clinical.combined(clinical.extract_sites(cdm or [None], study))
        result = clinical.evaluate_model(fitted, extracted, title=f"External validation of {model}", report_dir=report)
        kept = clinical.keep_report(report, get_settings().home)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    metrics = result.metrics["L1 logistic"]
    console.print(f"AUROC {metrics.auroc.text()}, Brier {metrics.brier:.4f}; report: {result.report} (kept in {kept})")


@clinical_app.command("federate")
def federate(
    hospital: Annotated[list[Path], typer.Option(help="A hospital's folder (holding cdm.duckdb); repeat.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON of the run and each hospital's shared scores.")],
    study: StudyOption = "cardiotoxicity",
    molecular: MolecularOption = False,
    rounds: Annotated[int, typer.Option(min=1, help="Training rounds after the standardisation round.")] = 30,
    local_steps: Annotated[int, typer.Option(min=1, help="Proximal-gradient steps per hospital per round.")] = 25,
    secagg: Annotated[bool, typer.Option(help="SecAgg+ masking of every update (needs at least 3 hospitals).")] = True,
    dp: Annotated[bool, typer.Option(help="Differential privacy: clip each update and add Gaussian noise.")] = False,
    noise_multiplier: Annotated[float, typer.Option(help="DP noise multiplier σ.")] = 0.5,
    record_dp: Annotated[
        bool, typer.Option(help="Record-level DP at each hospital: clip every patient's contribution, add noise.")
    ] = False,
    target_epsilon: Annotated[float, typer.Option(min=0.0, help="Record-level DP: ε each hospital may spend.")] = 8.0,
    delta: Annotated[float, typer.Option(help="Record-level DP: δ of the ε.")] = 1e-5,
    clip: Annotated[float, typer.Option(min=0.0, help="Record-level DP: per-patient clipping norm.")] = 6.0,
    run_name: Annotated[str, typer.Option(help="Name of the run in the registry.")] = "clinical",
    checkpoint_dir: Annotated[
        Path | None, typer.Option(help="Where each run keeps its checkpoints, in run-<id> (default: HOME/federation).")
    ] = None,
) -> None:
    """Train the L1 logistic model across hospitals with the Flower runtime (one simulated node per hospital):
    only weights, covariate moments and mean gradients leave a hospital, masked by SecAgg+; recorded in the
    registry like any federated run."""
    from fedadmet.config import get_settings
    from fedadmet.federated.plan import PrivacyConfig
    from fedadmet.workflows import clinical

    try:
        chosen = clinical.named_study(study, molecular=molecular)
        result = clinical.federate(
            hospital,
            chosen,
            checkpoint_dir=checkpoint_dir or get_settings().home / "federation",
            run_name=run_name,
            rounds=rounds,
            local_steps=local_steps,
            secagg=secagg,
            privacy=PrivacyConfig(enabled=dp, noise_multiplier=noise_multiplier),
            record_dp=clinical.RecordDp(target_epsilon, delta, clip) if record_dp else None,
        )
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    run = result.run
    summary = {
        "run_id": run.id,
        "status": run.status,
        "secagg": run.secagg,
        "hospitals": result.hospital_metrics,
        "record_level_epsilon": result.record_level_epsilon,
    }
    output.write_text(json.dumps(summary, indent=1))
    for name, metrics in result.hospital_metrics.items():
        console.print(
            f"{name}: validation AUROC {metrics.get('auroc', float('nan')):.3f} on {metrics['events']} events"
        )
    if run.status != "completed":
        raise fail(f"run {run.id} {run.status}: {run.error}", code=1)
    for name, epsilon in result.record_level_epsilon.items():
        console.print(f"{name}: record-level ε {epsilon:.2f} at δ {delta:g}")
    console.print(f"run {run.id} completed; wrote {output}")
