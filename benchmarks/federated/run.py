"""Consortium benchmark: does joining the federation pay for each partner, and what does it cost?

    .venv/bin/python -m benchmarks.federated.run            # 5 partners, full run (about 30 min on 2 cores)
    .venv/bin/python -m benchmarks.federated.run --quick    # fewer rounds and rows, for a smoke test

Five simulated partners are built from the real public data in ../shared/data (see consortium.py).
For each partner: a local-only model, the federated model (Flower simulation, SecAgg+ on) and the
centralised model trained on everyone's pooled data (the upper reference), all the same architecture
and all selecting their epoch/round on the partner's validation fold; scores are on the partner's
held-out keyed scaffold fold (mean over its endpoints of AUC-PR or R²). Also: MELLODDY's
improve-to-perfect delta, bytes per round, wall times, a DP variant's ε and utility, and a
loss-threshold membership-inference attack (TPR at 1 % FPR).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.federated.consortium import all_measurements, split_into_partners
from fedadmet.data.assay import Measurements
from fedadmet.federated.config import FederationConfig, PrivacyConfig
from fedadmet.federated.prepare import prepare_partner
from fedadmet.workflows.federation import (
    FederationRun,
    RunSettings,
    baseline_model,
    federated_model,
    load_partners,
    model_outputs,
    per_compound_loss,
    pooled,
    simulate,
    test_scores,
)
from fedadmet.workflows.views import run_view

if TYPE_CHECKING:
    from fedadmet.workflows.federation import MultitaskNet, PartnerData

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data"
BENCHMARK_KEY = bytes.fromhex("66656461646d65742d62656e63686d61726b2d636f6e736f727469756d2d6b31")  # public, fixed


def prepare(data_dir: Path, work: Path, cache: Path, max_rows: int | None) -> list[Path]:
    measurements = all_measurements(data_dir)
    folders = []
    for name, part in split_into_partners(measurements).items():
        frame = part.frame.sample(n=min(max_rows, len(part.frame)), random_state=0) if max_rows else part.frame
        folder = work / "partners" / name
        if not (folder / "manifest.json").is_file():
            prepare_partner(
                Measurements(frame.reset_index(drop=True), []), BENCHMARK_KEY, folder, name, cache_dir=cache
            )
        folders.append(folder)
    return folders


def attack_tpr_at_fpr(net: MultitaskNet, data: PartnerData, fpr: float = 0.01, seed: int = 0) -> float:
    """Loss-threshold membership inference: members are training compounds, non-members test compounds."""
    rng = np.random.default_rng(seed)
    non_members = data.rows("test")
    members = rng.choice(data.rows("train"), size=min(len(non_members), len(data.rows("train"))), replace=False)
    member_loss, other_loss = per_compound_loss(net, data, members), per_compound_loss(net, data, non_members)
    threshold = np.quantile(other_loss, fpr)  # flag as member when the loss is below the 1 % quantile
    return float((member_loss < threshold).mean())


def federate(folders: list[Path], work: Path, config: FederationConfig, name: str) -> tuple[FederationRun, float]:
    """A new run (every simulation is one), timed; its partner models are kept per run id."""
    started = time.time()
    settings = RunSettings(
        run_name=name,
        n_partners=len(folders),
        federation=config,
        checkpoint_dir=work / "checkpoints",
        registry_url=f"sqlite:///{work / 'registry.db'}",
    )
    run = simulate(folders, settings)
    if run.status != "completed":
        raise SystemExit(f"federated run {name} {run.status}: {run.error}")
    return run, time.time() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true", help="3 rounds, at most 1500 labels per partner")
    parser.add_argument(
        "--max-labels", type=int, default=6000, help="labels sampled per partner (keeps the run near 30 min)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="federated rounds = local/centralised epochs")
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "cache" / "federated")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 10)
    work = args.work / ("quick" if args.quick else "full")
    started = time.time()
    print("preparing partners (standardise, aggregate, quorum, keyed features)", flush=True)
    folders = prepare(args.data_dir, work, REPO / "benchmarks" / "cache", 1500 if args.quick else args.max_labels)
    partners = load_partners(folders)
    config = FederationConfig(rounds=rounds)

    print(f"local-only models ({rounds} epochs each, best validation epoch kept)", flush=True)
    local_nets, local_seconds = {}, 0.0
    for data in partners:
        t = time.time()
        local_nets[data.name] = baseline_model(data, config, rounds)
        local_seconds += time.time() - t
    print("centralised model on the pooled data", flush=True)
    everyone = pooled(partners)
    t = time.time()
    central_net = baseline_model(everyone, config, rounds)
    central_seconds = time.time() - t
    central_predictions = model_outputs(central_net, everyone)

    print(f"federation: {len(folders)} partners, {rounds} rounds, SecAgg+ on", flush=True)
    run, federated_seconds = federate(folders, work, config, "benchmark-secagg")
    print(f"federation with DP: {len(folders)} partners, {rounds} rounds, SecAgg+ on", flush=True)
    dp_config = config.model_copy(update={"privacy": PrivacyConfig(enabled=True, noise_multiplier=1.0)})
    dp_run, _ = federate(folders, work, dp_config, "benchmark-dp")

    results: dict[str, dict] = {}
    deltas: dict[str, list[float]] = {"classification": [], "regression": []}
    offset = 0
    for folder, data in zip(folders, partners, strict=True):
        rows = slice(offset, offset + len(data.features))
        offset += len(data.features)
        local = test_scores(data, model_outputs(local_nets[data.name], data))
        federated_net = federated_model(folder, run, data)
        federated = test_scores(data, model_outputs(federated_net, data))
        centralised = test_scores(data, central_predictions[rows][:, everyone.columns_of(data)])
        dp_net = federated_model(folder, dp_run, data)
        dp = test_scores(data, model_outputs(dp_net, data))
        for task, is_class in zip(data.tasks, data.is_classification, strict=True):
            if task in local and task in federated and local[task] < 1.0:
                kind = "classification" if is_class else "regression"
                deltas[kind].append((federated[task] - local[task]) / (1.0 - local[task]))
        results[data.name] = {
            "local": float(np.mean(list(local.values()))),
            "federated": float(np.mean(list(federated.values()))),
            "centralized": float(np.mean(list(centralised.values()))),
            "federated_dp": float(np.mean(list(dp.values()))),
            "n_endpoints": len(data.tasks),
            "n_compounds": len(data.features),
            "per_endpoint": {"local": local, "federated": federated, "centralized": centralised},
            "membership_attack_tpr_at_1pct_fpr": {
                "local": attack_tpr_at_fpr(local_nets[data.name], data),
                "federated": attack_tpr_at_fpr(federated_net, data),
            },
        }
        print(
            f"{data.name:14s} local {results[data.name]['local']:.4f}  federated {results[data.name]['federated']:.4f}"
            f"  centralised {results[data.name]['centralized']:.4f}  DP {results[data.name]['federated_dp']:.4f}",
            flush=True,
        )
    macro = {k: float(np.mean([r[k] for r in results.values()])) for k in ("local", "federated", "centralized")}
    bytes_per_round = [r.bytes_sent / len(r.partners) for r in run.rounds if r.partners]
    epsilon = run_view(dp_run).epsilon
    summary = {
        "partners": {
            k: {key: v[key] for key in ("local", "federated", "centralized", "n_endpoints", "n_compounds")}
            for k, v in results.items()
        },
        "macro": macro,
        "improve_to_perfect": {
            "classification_median": float(np.median(deltas["classification"])) if deltas["classification"] else None,
            "regression_median": float(np.median(deltas["regression"])) if deltas["regression"] else None,
        },
        "bytes_per_round": float(np.mean(bytes_per_round)) if bytes_per_round else 0.0,
        "secagg": bool(run.secagg),
        "details": {
            "rounds": rounds,
            "partner_details": results,
            "federated_macro_over_centralized": macro["federated"] / macro["centralized"],
            "dp": {
                "epsilon": epsilon,
                "delta": dp_config.privacy.delta,
                "noise_multiplier": dp_config.privacy.noise_multiplier,
                "clipping_norm": dp_config.privacy.clipping_norm,
                "macro": float(np.mean([r["federated_dp"] for r in results.values()])),
            },
            "wall_seconds": {
                "federated_simulation": round(federated_seconds, 1),
                "centralized_training": round(central_seconds, 1),
                "local_training_all_partners": round(local_seconds, 1),
                "federated_over_centralized": round(federated_seconds / central_seconds, 2),
            },
            "machine": f"{platform.machine()} {__import__('os').cpu_count()} cores",
            "command": "python -m benchmarks.federated.run" + (" --quick" * args.quick),
            "total_minutes": round((time.time() - started) / 60, 1),
        },
    }
    write(summary, args.out, "federated_quick" if args.quick else "federated")


def write(summary: dict, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(summary, indent=2))
    details = summary["details"]
    lines = [
        "# Consortium benchmark — fedadmet federation (Flower simulation, SecAgg+ on)",
        "",
        "Score = mean over a partner's endpoints of AUC-PR (classification) / R² (regression) on its held-out keyed",
        "scaffold fold. Same architecture everywhere; each model keeps its best validation epoch or round.",
        "",
        "| partner | endpoints | compounds | local | federated | centralised | fed ≥ local "
        "| MIA TPR@1%FPR local / fed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in details["partner_details"].items():
        mia = r["membership_attack_tpr_at_1pct_fpr"]
        lines.append(
            f"| {name} | {r['n_endpoints']} | {r['n_compounds']} | {r['local']:.4f} | {r['federated']:.4f} "
            f"| {r['centralized']:.4f} | {'✓' if r['federated'] >= r['local'] else '✗'} "
            f"| {mia['local']:.3f} / {mia['federated']:.3f} |"
        )
    macro, itp = summary["macro"], summary["improve_to_perfect"]
    lines += [
        f"| **macro** | | | {macro['local']:.4f} | {macro['federated']:.4f} | {macro['centralized']:.4f} | | |",
        "",
        f"- federated macro / centralised macro: **{details['federated_macro_over_centralized']:.3f}** (target ≥ 0.97)",
        f"- median improve-to-perfect: classification AUC-PR **{_pct(itp['classification_median'])}** (target ≥ +4 %), "
        f"regression R² **{_pct(itp['regression_median'])}** (target ≥ +2 %)",
        f"- bytes sent per partner per round (all SecAgg+ stages): {summary['bytes_per_round']:,.0f}",
        f"- wall time: federated simulation {details['wall_seconds']['federated_simulation']} s vs centralised "
        f"training {details['wall_seconds']['centralized_training']} s "
        f"(×{details['wall_seconds']['federated_over_centralized']})",
        f"- DP variant (σ = {details['dp']['noise_multiplier']}, C = {details['dp']['clipping_norm']}): "
        f"ε = {details['dp']['epsilon']:.2f} at δ = {details['dp']['delta']:g}, "
        f"macro score {details['dp']['macro']:.4f}",
        "",
        f"Command: `{details['command']}`; {details['rounds']} rounds; {details['total_minutes']} min on "
        f"{details['machine']}.",
    ]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f} %"


if __name__ == "__main__":
    main()
