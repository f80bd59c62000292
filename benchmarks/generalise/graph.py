"""Does a graph network generalise where the served model does not? A chemprop D-MPNN member blended with the
served default model, judged on ExpansionRx and ASAP against ADMET-AI (issue 23).

    .venv/bin/python -m benchmarks.generalise.graph              # plain D-MPNN and D-MPNN + RDKit 2D, seed 0
    .venv/bin/python -m benchmarks.generalise.graph --seeds 0 1  # a larger ensemble of each
    .venv/bin/python -m benchmarks.generalise.graph --member fedadmet  # fedadmet's own D-MPNN instead


The member is trained on the five TDC endpoints that benchmarks/external maps to the measured columns
(Lipophilicity_AstraZeneca, Solubility_AqSolDB, Clearance_Microsome_AZ in log10, Caco2_Wang, PPBR_AZ as log10
fraction unbound), multitask, on the served model's curated frames (TDC train_val + test, one row per
standardised parent, every ExpansionRx and ASAP molecule removed by InChIKey). It runs in ADMET-AI's environment
(benchmarks/generalise/chemprop_member.py), which holds chemprop; two variants, as ADMET-AI's own models are:
the plain D-MPNN and the D-MPNN with RDKit 2D descriptors; the member is their mean. ``--member fedadmet``
trains fedadmet's own D-MPNN (fedadmet.models.graph, chemprop's featurisation and defaults, in this environment)
the same two ways, the descriptors being the served feature set's lean 2D block: the one the served model could
carry without another dependency. Its results go to generalise_graph_fedadmet.*.

The blend is ``w × member + (1 − w) × served``, both on the training labels' scale, for w in 0, ¼, ½, ¾, 1.
As in benchmarks/generalise/run.py, w is chosen per ExpansionRx column on half A and reported on half B next to
ADMET-AI and the served model on the same molecules (paired bootstrap); ASAP takes the w of the ExpansionRx
column measuring the same thing. Nothing trains on ExpansionRx or ASAP; member predictions are cached under
benchmarks/cache/generalise/graph/ by a hash of their training labels, variant and seed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmarks.admet_ai import ADMET_AI_VERSION, VENV, admet_ai_command
from benchmarks.external.mapping import AS_IS, ASAP, EXPANSIONRX
from benchmarks.external.run import DEFAULT_DATA, load_asap, load_expansionrx
from benchmarks.external.statistics import spearman
from benchmarks.generalise.labels import (
    HALF_A,
    HALF_B,
    LOG10,
    LOG10_UNBOUND_FROM_BOUND,
    Part,
    expansionrx_half,
    pooled_labels,
)
from benchmarks.generalise.run import CACHE, RESULTS, External, _external, _oriented, _per_row, _scored, _versus, wins
from fedadmet.chem.compute import compute_features
from fedadmet.chem.featurizers import LEAN_DESCRIPTOR_NAMES, RDKit2DFeaturizer
from fedadmet.config import get_settings
from fedadmet.data.public import served_training_frames
from fedadmet.workflows.predictors import resolve_predictor
from fedadmet.workflows.training import graph_member_predictions

MEMBER_SCRIPT = Path(__file__).with_name("chemprop_member.py")
VARIANTS = {"D-MPNN": [], "D-MPNN + RDKit 2D": ["--descriptors"]}
NATIVE_VARIANTS = {"fedadmet D-MPNN": False, "fedadmet D-MPNN + lean 2D": True}  # with descriptors or not
MEMBERS = {"chemprop": list(VARIANTS), "fedadmet": list(NATIVE_VARIANTS)}
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
# The task each measured column is compared with (the TDC endpoint of benchmarks/external's headline), on the
# scale the member learns; every task rises with its columns' measurements.
TASKS = {
    "Lipophilicity_AstraZeneca": Part("Lipophilicity_AstraZeneca", AS_IS),
    "Solubility_AqSolDB": Part("Solubility_AqSolDB", AS_IS),
    "Clearance_Microsome_AZ": Part("Clearance_Microsome_AZ", LOG10),
    "Caco2_Wang": Part("Caco2_Wang", AS_IS),
    "PPBR_AZ": Part("PPBR_AZ", LOG10_UNBOUND_FROM_BOUND),
}
COLUMNS = (  # (ExpansionRx column, ASAP column or None, task)
    ("LogD", "LogD", "Lipophilicity_AstraZeneca"),
    ("KSOL", "KSOL", "Solubility_AqSolDB"),
    ("HLM CLint", "HLM", "Clearance_Microsome_AZ"),
    ("MLM CLint", "MLM", "Clearance_Microsome_AZ"),
    ("Caco-2 Permeability Papp A>B", "MDR1-MDCKII", "Caco2_Wang"),
    ("MPPB", None, "PPBR_AZ"),
    ("MBPB", None, "PPBR_AZ"),
)


def training_table(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per molecule, one column per task on its member scale (NaN where unmeasured)."""
    columns = [pooled_labels((part,), frames).set_index("smiles")["y"].rename(task) for task, part in TASKS.items()]
    table = pd.concat(columns, axis=1).sort_index()
    return table.rename_axis("smiles").reset_index()


def _signed_log_descriptors(smiles: list[str]) -> np.ndarray:
    """The lean 2D descriptors, compressed by a signed log1p as chemprop_member.py compresses RDKit's."""
    values = compute_features(
        smiles, RDKit2DFeaturizer(LEAN_DESCRIPTOR_NAMES), cache_dir=get_settings().feature_cache_dir
    )
    return (np.sign(values) * np.log1p(np.abs(values))).astype(np.float32)


def _native_member(table: pd.DataFrame, molecules: list[str], variant: str, seed: int, epochs: int) -> pd.DataFrame:
    """fedadmet's D-MPNN trained on ``table``, predicting ``molecules``; with the lean descriptors (signed
    log1p, standardised on the training molecules) where the variant reads them."""
    extra = None
    if NATIVE_VARIANTS[variant]:
        train = _signed_log_descriptors(table["smiles"].tolist())
        mean, std = train.mean(0), train.std(0) + 1e-6
        extra = ((train - mean) / std, (_signed_log_descriptors(molecules) - mean) / std)
    return graph_member_predictions(table, molecules, extra=extra, seed=seed, max_epochs=epochs)


def member_predictions(
    table: pd.DataFrame, molecules: list[str], variant: str, seed: int, epochs: int, threads: int
) -> tuple[pd.DataFrame, float | None]:
    """One model's predictions of every task for ``molecules`` (chemprop in ADMET-AI's environment, or
    fedadmet's own D-MPNN here), cached by inputs, variant and seed, and the seconds its training took
    (recorded beside the cache; None for a cache written before that record)."""
    native = variant in NATIVE_VARIANTS
    code = [Path(__file__).parents[2] / "fedadmet" / f for f in ("chem/graphs.py", "models/graph.py")]
    text = "\n".join(
        [
            *(path.read_text() for path in (code if native else [MEMBER_SCRIPT])),
            variant,
            f"seed {seed} epochs {epochs}",
            hashlib.sha256(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes()).hexdigest(),
            *molecules,
        ]
    )
    cached = CACHE / "graph" / f"{hashlib.sha256(text.encode()).hexdigest()[:20]}.csv"
    timing = cached.with_suffix(".json")
    if not cached.is_file() and native:
        started = time.perf_counter()
        torch.set_num_threads(threads)
        cached.parent.mkdir(parents=True, exist_ok=True)
        _native_member(table, molecules, variant, seed, epochs).to_csv(cached, index=False)
        timing.write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))
    elif not cached.is_file():
        started = time.perf_counter()
        admet_ai_command()  # installs ADMET-AI's environment, chemprop included, on first use
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="graph-member-") as work:
            train, predict, out = (Path(work) / name for name in ("train.csv", "predict.csv", "out.csv"))
            table.to_csv(train, index=False)
            pd.DataFrame({"smiles": molecules}).to_csv(predict, index=False)
            command = [str(VENV / "bin" / "python"), str(MEMBER_SCRIPT), "--train", str(train), "--predict"]
            command += [str(predict), "--out", str(out), "--seed", str(seed), "--epochs", str(epochs)]
            subprocess.run([*command, "--threads", str(threads), *VARIANTS[variant]], check=True)
            pd.read_csv(out).to_csv(cached, index=False)
        timing.write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))
    seconds = json.loads(timing.read_text())["seconds"] if timing.is_file() else None
    return pd.read_csv(cached), seconds


def _on_task_scale(external: External, task: str) -> np.ndarray:
    """The served model's prediction of ``task`` on the member's scale, per input row."""
    return TASKS[task].scale.apply(external.served[task].to_numpy(float))


def _blend_scores(measured: np.ndarray, member: np.ndarray, served: np.ndarray, rows: np.ndarray) -> list[float]:
    return [round(spearman(w * member[rows] + (1 - w) * served[rows], measured[rows]), 3) for w in WEIGHTS]


def evaluate(
    expansionrx: External, asap: External, members: dict[str, dict[str, np.ndarray]], halves: np.ndarray, resamples: int
) -> list[dict[str, Any]]:
    """Per ExpansionRx column: every w's Spearman on half A, the chosen w on half B and on ASAP."""
    results = []
    for measured_name, asap_name, task in COLUMNS:
        measured, admet, served_oriented = _oriented(expansionrx, EXPANSIONRX, measured_name)
        member, served = members[EXPANSIONRX][task], _on_task_scale(expansionrx, task)
        usable = np.isfinite(measured) & np.isfinite(admet) & np.isfinite(served) & np.isfinite(member)
        half_a, half_b = usable & (halves == HALF_A), usable & (halves == HALF_B)
        on_a = _blend_scores(measured, member, served, half_a)
        w = WEIGHTS[int(np.argmax(on_a))]
        row: dict[str, Any] = {
            "measured": measured_name,
            "task": task,
            "half_a": dict(zip(map(str, WEIGHTS), on_a, strict=True)),
            "half_a_admet_ai": round(spearman(admet[half_a], measured[half_a]), 3),
            "chosen_weight": w,
            "half_b": _scored(
                measured[half_b],
                w * member[half_b] + (1 - w) * served[half_b],
                admet[half_b],
                served_oriented[half_b],
                resamples,
            ),
        }
        if asap_name is not None:
            a_measured, a_admet, a_served_oriented = _oriented(asap, ASAP, asap_name)
            a_member, a_served = members[ASAP][task], _on_task_scale(asap, task)
            keep = np.isfinite(a_measured) & np.isfinite(a_admet) & np.isfinite(a_served) & np.isfinite(a_member)
            row["asap"] = {"measured": asap_name} | _scored(
                a_measured[keep],
                w * a_member[keep] + (1 - w) * a_served[keep],
                a_admet[keep],
                a_served_oriented[keep],
                resamples,
            )
        results.append(row)
        print(f"{measured_name}: w {w}, half B {row['half_b']['chosen']} vs {row['half_b']['admet_ai']}", flush=True)
    return results


def run(data_dir: Path, member: str, seeds: list[int], epochs: int, threads: int, resamples: int) -> dict[str, Any]:
    settings = get_settings()
    started = time.perf_counter()
    resolved = resolve_predictor(settings)
    expansionrx, asap = _external(load_expansionrx(data_dir), resolved), _external(load_asap(data_dir), resolved)
    halves = np.array([expansionrx_half(name) for name in expansionrx.data.labels["Molecule Name"]])
    training = served_training_frames(list(TASKS), limits=settings.molecule_limits(), parallel=settings.parallel(False))
    table = training_table(training.frames)
    external_parents = sorted({p for e in (expansionrx, asap) for p in e.parents if p is not None})
    leaked = set(table["smiles"]) & set(external_parents)
    if leaked:
        raise RuntimeError(f"{len(leaked)} external molecules in the training data, e.g. {min(leaked)}")
    prepared = round(time.perf_counter() - started, 1)

    runs = {
        f"{variant}, seed {seed}": member_predictions(table, external_parents, variant, seed, epochs, threads)
        for variant in MEMBERS[member]
        for seed in seeds
    }
    predicted = [frame[list(TASKS)].to_numpy() for frame, _ in runs.values()]
    member = dict(zip(external_parents, np.mean(predicted, axis=0), strict=True))
    members = {
        data.data.name: {
            task: _per_row({p: values[j] for p, values in member.items()}, data.parents) for j, task in enumerate(TASKS)
        }
        for data in (expansionrx, asap)
    }
    columns = evaluate(expansionrx, asap, members, halves, resamples)
    return {
        "summary": wins(columns),
        "columns": columns,
        "member": {
            "implementation": member,
            "variants": MEMBERS[member],
            "seeds": seeds,
            "max_epochs": epochs,
            "tasks": {task: part.scale.description for task, part in TASKS.items()},
            "training_molecules": len(table),
            "labels_per_task": {task: int(table[task].notna().sum()) for task in TASKS},
            "external_molecules_removed": training.external_molecules,
        },
        "served_model": resolved.description,
        "admet_ai_version": ADMET_AI_VERSION,
        "bootstrap_resamples": resamples,
        "seconds": {"external sets and training data": prepared},
        "member_training_seconds": {name: seconds for name, (_, seconds) in runs.items()},
        "command": "python -m benchmarks.generalise.graph"
        + ("" if member == "chemprop" else f" --member {member}")
        + ("" if seeds == [0] else f" --seeds {' '.join(map(str, seeds))}"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
    }


def write_results(result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary, member = result["summary"], result["member"]
    chemprop = member.get("implementation", "chemprop") == "chemprop"  # results from before --member: chemprop
    name = "generalise_graph" if chemprop else "generalise_graph_fedadmet"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    where = (
        f"chemprop, in ADMET-AI {result['admet_ai_version']}'s environment"
        if chemprop
        else "fedadmet.models.graph, chemprop's featurisation and defaults; the descriptors: the lean 2D block"
    )
    lines = [
        "# A graph-network member blended with the served model (issue 23)",
        "",
        f"Member: the mean of {', '.join(member['variants'])} ({where}; seeds {member['seeds']}, at most "
        f"{member['max_epochs']} epochs, early-stopped on 10 % of the "
        f"molecules), multitask on {member['training_molecules']:,} public molecules (TDC train_val + test of the "
        f"five mapped endpoints, {member['external_molecules_removed']} external molecules removed). Blend "
        "w × member + (1 − w) × served on the member's scale; w chosen per column on ExpansionRx half A, reported "
        f"on half B and ASAP with paired bootstrap 95 % intervals ({result['bootstrap_resamples']} resamples).",
        "",
        f"**The blend beats ADMET-AI on {summary['half_b_chosen_beats_admet_ai']} of {summary['half_b_columns']} "
        f"(ExpansionRx half B) and {summary['asap_chosen_beats_admet_ai']} of {summary['asap_columns']} (ASAP)**; "
        f"the served model alone on the same molecules: {summary['half_b_served_beats_admet_ai']} of "
        f"{summary['half_b_columns']} and {summary['asap_served_beats_admet_ai']} of {summary['asap_columns']}.",
        "",
        "| ExpansionRx column | w (half A) | n half B | blend ρ | ADMET-AI ρ | served ρ | Δ blend − ADMET-AI "
        "| ASAP column | n | blend ρ | ADMET-AI ρ | served ρ | Δ blend − ADMET-AI |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["columns"]:
        asap = row.get("asap")
        asap_cells = [asap["measured"], *_versus(asap)] if asap else ["–"] * 6
        lines.append(
            "| "
            + " | ".join([row["measured"], f"{row['chosen_weight']:g}", *_versus(row["half_b"]), *asap_cells])
            + " |"
        )
    lines += [
        "",
        "Half A, Spearman per member share w (0 = the served model alone, 1 = the member alone):",
        "",
        "| ExpansionRx column | " + " | ".join(f"w {w:g}" for w in WEIGHTS) + " | ADMET-AI |",
        "|---|" + "---|" * (len(WEIGHTS) + 1),
        *(
            f"| {row['measured']} | "
            + " | ".join(f"{v:.3f}" for v in row["half_a"].values())
            + f" | {row['half_a_admet_ai']:.3f} |"
            for row in result["columns"]
        ),
        "",
        f"Command: `{result['command']}` on {result['machine']}; seconds of this invocation: {result['seconds']}; "
        f"member training, as recorded when each was trained (None: cached before the record existed; a later "
        f"invocation reads cached members): {result['member_training_seconds']}.",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--member", choices=sorted(MEMBERS), default="chemprop", help="whose D-MPNN (default chemprop, as committed)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds per variant (default 0)")
    parser.add_argument("--epochs", type=int, default=40, help="most epochs per model (early-stopped, patience 8)")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads per model")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    args = parser.parse_args()
    write_results(run(args.data_dir, args.member, args.seeds, args.epochs, args.threads, args.resamples))


if __name__ == "__main__":
    main()
