"""Retrospective campaign replays on real data: how fast each acquisition strategy finds the best
molecules, against random picking, and how well the surrogate's uncertainty holds.

    python -m benchmarks.campaigns.run [--quick]

The committed results (``make benchmark-campaigns``) come from

    nice -n 10 python -m benchmarks.campaigns.run --light-surrogate --workers 2 --stop-after 80
    nice -n 10 python -m benchmarks.campaigns.run --light-surrogate --workers 2 --stop-after 6   # resumed
    nice -n 10 python -m benchmarks.campaigns.run --light-surrogate --workers 2 --stop-after 10  # resumed

10 seeds of every strategy on every family were asked for; each replay (family × strategy × seed) is
cached under ``benchmarks/cache/campaigns/replays``, the grid runs seed by seed, no replay starts after
``--stop-after`` minutes, and the figures are over the seeds every strategy of a family finished (the
tables say how many: all 10 in the committed run, 95 minutes in all on this shared 2-core machine).
Running the same command again resumes from the cache, as the later two above did; the last one timed
the committed 10,000-molecule round (each invocation times it first).

Families (each replayed per strategy and seed; the lab is the data set's own measurements):
- ExpansionRx (OpenADMET × ExpansionRx training set), in registration order (``Molecule Name``):
  molecules with at least three of LogD, KSOL, HLM CLint and Caco-2 Papp A>B measured; the earliest
  10 % are measured at the start, then 10 rounds of 48 from the rest. Objective (weighted geometric
  mean of desirabilities, over the columns measured for a molecule): LogD within 1–3 (falling to 0 one
  unit outside); log10(KSOL µM + 1) rising from 1 to 400 µM; log10(HLM CLint mL/min/kg + 1) falling
  from 1 to 1000; log10(Papp 1e-6 cm/s + 1) rising from 0.5 to 50.
- ASAP antiviral 2025: ``Set == Train`` molecules with a SARS-CoV-2 Mpro pIC50 are measured at the
  start; the test molecules with one are the pool, 8 rounds of 12 (the pool has 263). Objective:
  pIC50 (rising from 4 to 8). A molecule whose measured ADMET (ADMET file) breaks LogD ≤ 4, KSOL ≥ 10 µM
  or HLM ≤ 100 µL/min/mg counts as no hit, whatever its potency (limits applied where measured).
- ChEMBL potency (in place of MoleculeACE: its wheel does ship 30 ChEMBL potency sets, but installing
  ``moleculeace`` 3.0.0 pulls a second RDKit, rdkit-pypi 2022.9.5, so it is not a dependency): the three
  PharmaBench CYP inhibition IC50 sets (``pharmabench/cyp_{2c9,2d6,3a4}_reg_final_data.csv``, ChEMBL-derived,
  values in µM), each a replay of its own. Objective: pIC50 = 6 − log10(IC50 µM), rising from 4 to 8 (the
  most potent inhibitors are the hits). A fixed random 10 % (generator seed 0) is measured at the start,
  then 5 rounds of 2 % of the pool. The family's figures are the mean over its three sets.

Per strategy: recall of the top 1 % and 5 % of the pool (by the measured objective) against the
fraction of the pool evaluated, enrichment over random (recall / fraction evaluated) at the first round
that evaluates at least 10 % of the pool, and the calibration of the surrogate's predicted spread on
the picks (share of measured values within ±1 and ±2 predicted sd). Also timed: one round on a
10,000-molecule pool (take in 48 results → refit → propose 48).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cache, partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from fedadmet.campaigns.engine import CampaignSpec, Prior
from fedadmet.campaigns.objective import Objective, Term
from fedadmet.campaigns.results import aggregate, parse_results
from fedadmet.campaigns.surrogates import Features
from fedadmet.config import get_settings
from fedadmet.workflows.campaigns import PoolFeatures, featurize_pool, interval_coverage, replay_campaign, term_prior
from fedadmet.workflows.predictors import resolve_predictor

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results"
STRATEGIES = ("random", "greedy", "ucb", "ei", "thompson", "diverse")
DEFAULT_STRATEGY = CampaignSpec.model_fields["strategy"].default
BUDGET = 0.10
TIMING_POOL = 10_000

EXPANSION_OBJECTIVE = Objective(
    terms=[
        Term(column="LogD", goal="within", low=1, high=3, tolerance=1),
        Term(column="KSOL", goal="maximize", low=1, high=400, log_scale=True, unit="uM"),
        Term(column="HLM CLint", goal="minimize", low=1, high=1000, log_scale=True, unit="mL/min/kg"),
        Term(
            column="Caco-2 Permeability Papp A>B", goal="maximize", low=0.5, high=50, log_scale=True, unit="1e-6 cm/s"
        ),
    ]
)
ASAP_OBJECTIVE = Objective(terms=[Term(column="pIC50 (SARS-CoV-2 Mpro)", goal="maximize", low=4, high=8)])
ASAP_LIMITS = {"LogD": (None, 4.0), "KSOL": (10.0, None), "HLM": (None, 100.0)}
POTENCY_OBJECTIVE = Objective(terms=[Term(column="pIC50", goal="maximize", low=4, high=8)])
POTENCY_SETS = {"chembl_cyp2c9": "cyp_2c9", "chembl_cyp2d6": "cyp_2d6", "chembl_cyp3a4": "cyp_3a4"}
POTENCY_FAMILY = "chembl_potency"


@dataclass(frozen=True)
class Family:
    """A replay: the pool, what is measured at the start, the truth the lab reveals, and who counts as a hit."""

    name: str
    pool: PoolFeatures
    truth: np.ndarray  # (n, k) on the objective's model scale
    seed_rows: np.ndarray
    hit_score: np.ndarray  # the objective on the truth; -inf for rows that can never be hits
    objective: Objective
    rounds: int
    batch: int


def _featurized(name: str, ids: list[str], smiles: list[str], cache: Path) -> PoolFeatures:
    """The pool's features and priors, computed once and cached (keyed by the ids and SMILES)."""
    key = hashlib.sha256("\n".join(f"{i}\t{s}" for i, s in zip(ids, smiles, strict=True)).encode()).hexdigest()[:16]
    folder = cache / f"{name}-{key}"
    if (folder / "features.npz").is_file():
        arrays = np.load(folder / "features.npz")
        frame = pd.read_csv(folder / "pool.csv", dtype={"compound_id": str})
        return PoolFeatures(
            frame, Features(arrays["dense"], arrays["fingerprints"]), pd.read_csv(folder / "priors.csv")
        )
    started = time.perf_counter()
    pool = featurize_pool(ids, smiles, resolve_predictor(get_settings()).model)
    folder.mkdir(parents=True, exist_ok=True)
    pool.frame.to_csv(folder / "pool.csv", index=False)
    pool.priors.to_csv(folder / "priors.csv", index=False)
    np.savez_compressed(folder / "features.npz", dense=pool.features.dense, fingerprints=pool.features.fingerprints)
    print(f"  featurised {name}: {len(pool.frame)} molecules in {time.perf_counter() - started:.0f} s", flush=True)
    return pool


def _truth(pool: PoolFeatures, table: pd.DataFrame, objective: Objective) -> np.ndarray:
    rows = table.set_index("compound_id").loc[pool.frame["compound_id"]]
    return np.stack([term.to_model_scale(rows[term.column].to_numpy(dtype=float)) for term in objective.terms], axis=1)


def expansion_family(data_dir: Path, cache: Path) -> Family:
    raw = pd.read_csv(data_dir / "openadmet_expansionrx" / "expansion_data_train.csv")
    raw = raw.sort_values("Molecule Name", kind="stable").reset_index(drop=True)
    columns = EXPANSION_OBJECTIVE.columns
    raw = (
        raw[raw[columns].notna().sum(axis=1) >= 3]
        .reset_index(drop=True)
        .rename(columns={"Molecule Name": "compound_id"})
    )
    pool = _featurized("expansionrx", raw["compound_id"].tolist(), raw["SMILES"].tolist(), cache)
    truth = _truth(pool, raw, EXPANSION_OBJECTIVE)
    order = np.argsort(pool.frame["compound_id"].to_numpy(), kind="stable")  # registration order
    seed_rows = order[: round(0.10 * len(order))]
    return Family("expansionrx", pool, truth, seed_rows, EXPANSION_OBJECTIVE.score(truth), EXPANSION_OBJECTIVE, 10, 48)


def asap_family(data_dir: Path, cache: Path) -> Family:
    folder = data_dir / "asap_antiviral_2025"
    column = ASAP_OBJECTIVE.columns[0]
    potency = pd.read_csv(folder / "antiviral_potency_2025_unblinded.csv").dropna(subset=[column])
    potency = potency.rename(columns={"Molecule Name": "compound_id"}).reset_index(drop=True)
    smiles = [text.split(" |")[0] for text in potency["CXSMILES"]]  # the CXSMILES extension (stereo groups) is dropped
    pool = _featurized("asap", potency["compound_id"].tolist(), smiles, cache)
    truth = _truth(pool, potency, ASAP_OBJECTIVE)
    sets = potency.set_index("compound_id").loc[pool.frame["compound_id"], "Set"].to_numpy()
    admet = pd.read_csv(folder / "antiviral_admet_2025_unblinded.csv").set_index("Molecule Name")
    admet = admet.reindex(pool.frame["compound_id"])
    fails = np.zeros(len(pool.frame), dtype=bool)
    for name, (low, high) in ASAP_LIMITS.items():
        values = admet[name].to_numpy(dtype=float)
        if low is not None:
            fails |= values < low
        if high is not None:
            fails |= values > high
    hit_score = np.where(fails, -np.inf, ASAP_OBJECTIVE.score(truth))
    return Family("asap", pool, truth, np.flatnonzero(sets == "Train"), hit_score, ASAP_OBJECTIVE, 8, 12)


def potency_family(name: str, data_dir: Path, cache: Path) -> Family:
    """One PharmaBench CYP IC50 set as a potency replay (see the module's docstring)."""
    raw = pd.read_csv(data_dir / "pharmabench" / f"{POTENCY_SETS[name]}_reg_final_data.csv")
    raw = raw.assign(compound_id=[f"{POTENCY_SETS[name]}-{i}" for i in range(len(raw))])
    raw["pIC50"] = 6.0 - np.log10(raw["value"].to_numpy(dtype=float))
    pool = _featurized(name, raw["compound_id"].tolist(), raw["Smiles_unify"].tolist(), cache)
    truth = _truth(pool, raw, POTENCY_OBJECTIVE)
    order = np.random.default_rng(0).permutation(len(truth))
    seed_rows = np.sort(order[: round(0.10 * len(order))])
    batch = int(np.ceil(0.02 * (len(truth) - len(seed_rows))))
    return Family(name, pool, truth, seed_rows, POTENCY_OBJECTIVE.score(truth), POTENCY_OBJECTIVE, 5, batch)


def priors_for(family: Family) -> dict[str, Prior]:
    return {t.column: p for t in family.objective.terms if (p := term_prior(t, family.pool.priors)) is not None}


def replay_history(family: Family, strategy: str, seed: int, surrogate_options: dict, threads: int) -> dict:
    """One replay's rounds as plain data (the picks, their predicted mean and sd per column, the seconds)."""
    spec = CampaignSpec(
        objective=family.objective,
        strategy=strategy,
        batch_size=family.batch,
        seed=seed,
        surrogate_options=surrogate_options,
    )
    history = replay_campaign(
        spec, family.pool.features, family.truth, family.seed_rows, family.rounds, priors_for(family), threads
    )
    return {
        "rounds": [
            {
                "round": step.round,
                "rows": step.rows.tolist(),
                "column_mean": step.column_mean.tolist(),
                "column_std": step.column_std.tolist(),
                "seconds": step.seconds,
            }
            for step in history
        ]
    }


def replay_metrics(family: Family, strategy: str, history: dict) -> dict:
    """Recall of the top 1 % and 5 % after each round, and how the predicted spread held on the picks."""
    candidates = np.setdiff1d(np.arange(len(family.truth)), family.seed_rows)
    ranking = candidates[np.argsort(-np.nan_to_num(family.hit_score[candidates], nan=-np.inf), kind="stable")]
    tops = {share: set(ranking[: max(1, round(share * len(candidates)))].tolist()) for share in (0.01, 0.05)}
    picked: list[int] = []
    curve, means, stds, observed = [], [], [], []
    k = len(family.objective.terms)
    for step in history["rounds"]:
        rows = np.asarray(step["rows"], dtype=int)
        picked += rows.tolist()
        fraction = len(picked) / len(candidates)
        curve.append(
            {
                "round": step["round"],
                "fraction": fraction,
                "top1_recall": len(tops[0.01] & set(picked)) / len(tops[0.01]),
                "top5_recall": len(tops[0.05] & set(picked)) / len(tops[0.05]),
                "seconds": step["seconds"],
            }
        )
        means.append(np.asarray(step["column_mean"], dtype=float).reshape(len(rows), k))
        stds.append(np.asarray(step["column_std"], dtype=float).reshape(len(rows), k))
        observed.append(family.truth[rows])
    calibration = {}
    if strategy != "random":
        mean, std, seen = np.concatenate(means), np.concatenate(stds), np.concatenate(observed)
        calibration = {
            column: interval_coverage(mean[:, j], std[:, j], seen[:, j])
            for j, column in enumerate(family.objective.columns)
        }
    return {"curve": curve, "calibration": calibration}


def at_budget(curve: list[dict]) -> dict:
    """The first round that evaluated at least :data:`BUDGET` of the pool (the last round if none did)."""
    return next((point for point in curve if point["fraction"] >= BUDGET - 1e-9), curve[-1])


def summarise(runs: dict[str, list[dict]]) -> dict:
    summary = {}
    for strategy, seeds in runs.items():
        points = [at_budget(run["curve"]) for run in seeds]
        top1 = float(np.mean([p["top1_recall"] for p in points]))
        top5 = float(np.mean([p["top5_recall"] for p in points]))
        fraction = float(np.mean([p["fraction"] for p in points]))
        calibration = {}
        for column in seeds[0]["calibration"]:
            cells = [run["calibration"][column] for run in seeds if run["calibration"][column].get("n")]
            if cells:
                calibration[column] = {
                    key: float(np.mean([c[key] for c in cells])) for key in ("within_1sd", "within_2sd", "mean_abs_z")
                }
        summary[strategy] = {
            "top1_recall": top1,
            "top5_recall": top5,
            "fraction_at_budget": fraction,
            "top1_enrichment": top1 / fraction,
            "top5_enrichment": top5 / fraction,
            "round_seconds_mean": float(np.mean([p["seconds"] for run in seeds for p in run["curve"]])),
            "calibration": calibration,
            "curve": [
                {
                    key: float(np.mean([run["curve"][i][key] for run in seeds]))
                    for key in ("fraction", "top1_recall", "top5_recall")
                }
                for i in range(min(len(run["curve"]) for run in seeds))
            ],
        }
    return summary


def time_round(data_dir: Path, cache: Path, threads: int) -> dict:
    """One round on a 10,000-molecule pool with the default spec: take in 48 results (parse, QC,
    aggregate), refit on them and the 1,000 measured before, propose 48. The pool is ExpansionRx, ASAP and
    DrugBank's approved drugs filled up with TDC Lipophilicity molecules; measurements are ExpansionRx's."""
    raw = pd.read_csv(data_dir / "openadmet_expansionrx" / "expansion_data_train.csv")
    raw = raw.sort_values("Molecule Name", kind="stable").rename(columns={"Molecule Name": "compound_id"})
    pieces = [pd.DataFrame({"compound_id": raw["compound_id"], "smiles": raw["SMILES"]})]
    asap = pd.read_csv(data_dir / "asap_antiviral_2025" / "antiviral_potency_2025_unblinded.csv")
    pieces.append(
        pd.DataFrame(
            {"compound_id": asap["Molecule Name"], "smiles": asap["CXSMILES"].str.split(" |", regex=False).str[0]}
        )
    )
    drugs = pd.read_csv(data_dir / "drugbank_approved_admet_ai" / "drugbank_approved.csv")
    pieces.append(pd.DataFrame({"compound_id": drugs["id"].astype(str), "smiles": drugs["smiles"]}))
    lipo = pd.read_csv(data_dir / "tdc_admet_group" / "lipophilicity_astrazeneca" / "train_val.csv")
    pieces.append(pd.DataFrame({"compound_id": "LIPO-" + lipo.index.astype(str), "smiles": lipo["Drug"]}))
    table = pd.concat(pieces, ignore_index=True).drop_duplicates("compound_id").head(TIMING_POOL + 500)
    featurized = _featurized("timing10k", table["compound_id"].astype(str).tolist(), table["smiles"].tolist(), cache)
    keep = np.arange(min(TIMING_POOL, len(featurized.frame)))  # the first 10,000 that could be profiled
    pool = PoolFeatures(
        featurized.frame.iloc[keep].reset_index(drop=True),
        featurized.features.take(keep),
        featurized.priors.iloc[keep].reset_index(drop=True),
    )
    objective = EXPANSION_OBJECTIVE
    measured = raw.set_index("compound_id")[objective.columns]
    index = {c: i for i, c in enumerate(pool.frame["compound_id"])}
    known = [c for c in measured.index if c in index]
    truth = np.full((len(index), len(objective.terms)), np.nan)
    rows = np.array([index[c] for c in known])
    truth[rows] = np.stack(
        [t.to_model_scale(measured.loc[known, t.column].to_numpy(float)) for t in objective.terms], 1
    )
    seed_rows, round_rows = rows[:1000], rows[1000:1048]
    spec = CampaignSpec(objective=objective)  # the defaults a user gets
    results = pd.DataFrame(
        [
            {"compound_id": c, "endpoint": t.column, "value": measured.loc[c, t.column], "unit": t.unit}
            for c in pool.frame["compound_id"].to_numpy()[round_rows]
            for t in objective.terms
            if np.isfinite(measured.loc[c, t.column])
        ]
    )
    parents = dict(zip(pool.frame["compound_id"], pool.frame["smiles"], strict=True))
    started = time.perf_counter()
    accepted = parse_results(results, "timing", objective, parents).accepted
    aggregate(accepted, objective)
    ingest_seconds = time.perf_counter() - started
    seeds = np.concatenate([seed_rows, round_rows])
    history = replay_campaign(spec, pool.features, truth, seeds, 1, {}, threads)
    return {
        "pool": len(pool.frame),
        "threads": threads,
        "load_average_1min": os.getloadavg()[0],  # runnable processes on the machine's cores as it was timed
        "command": this_command(),
        "measured_before": len(seeds),
        "ingest_seconds": ingest_seconds,
        "refit_propose_seconds": history[0].seconds,
        "round_seconds": ingest_seconds + history[0].seconds,
        "strategy": spec.strategy,
        "surrogate": spec.surrogate_for(len(seeds)),
    }


def plot(families: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(families), figsize=(6 * len(families), 4.5), squeeze=False)
    for axis, (name, summary) in zip(axes[0], families.items(), strict=True):
        for strategy, cell in summary["strategies"].items():
            curve = cell["curve"]
            axis.plot(
                [p["fraction"] for p in curve], [p["top1_recall"] for p in curve], marker="o", ms=3, label=strategy
            )
        axis.axvline(BUDGET, color="grey", ls=":", lw=1)
        axis.set(
            title=f"{name}: top-1 % recall", xlabel="fraction of the pool evaluated", ylabel="recall of the top 1 %"
        )
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _detail(name: str, family: dict) -> list[str]:
    lines = [
        f"## {name}",
        "",
        f"pool {family['pool']} (measured at start {family['seeded']}), {family['rounds']} rounds of "
        f"{family['batch']}; seeds {len(family['seeds'])} (random {len(family['random_seeds'])}); surrogate options "
        f"{family['surrogate_options'] or 'the defaults'}; default strategy `{family['default_strategy']}`."
        + (f" {family['note']}" if family.get("note") else ""),
        "",
        "| strategy | evaluated | top-1 % recall | top-5 % recall | enrichment (1 %) | enrichment (5 %) "
        "| within ±1 sd / ±2 sd (per column) | s / round |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for strategy, cell in family["strategies"].items():
        held = "; ".join(
            f"{column}: {c['within_1sd']:.2f}/{c['within_2sd']:.2f}" for column, c in cell["calibration"].items()
        )
        lines.append(
            f"| {strategy} | {cell['fraction_at_budget']:.1%} | {cell['top1_recall']:.2f} "
            f"| {cell['top5_recall']:.2f} "
            f"| {cell['top1_enrichment']:.1f} | {cell['top5_enrichment']:.1f} | {held or '-'} "
            f"| {cell['round_seconds_mean']:.1f} |"
        )
    return [*lines, ""]


def markdown(report: dict) -> str:
    meta = report["meta"]
    lines = [
        "# Campaign replays",
        "",
        f"`{meta['command']}` on {meta['machine']}"
        + (f", {report['wall_seconds'] / 60:.0f} min" if "wall_seconds" in report else "")
        + ". Recall of the top 1 % at the first round that evaluated "
        f"≥ {BUDGET:.0%} of the pool, mean over seeds (those every strategy of the family finished; replays "
        "are cached per family, strategy and seed, so a stopped run resumes); enrichment = recall / fraction "
        "evaluated (random ≈ 1). "
        f"ChEMBL potency (in place of MoleculeACE, whose package pulls a second RDKit) is the mean over three "
        f"PharmaBench CYP IC50 sets.",
        "",
        "| family | seeds | random | greedy | default | best (model-based) | best / random | best ≥ greedy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, family in report["families"].items():
        best = family["best_strategy"]
        top = family["strategies"][best]["top1_recall"]
        ratio = top / family["random_top1_recall"] if family["random_top1_recall"] else float("inf")
        lines.append(
            f"| {name} | {len(family['seeds'])} | {family['random_top1_recall']:.2f} | "
            f"{family['greedy_top1_recall']:.2f} | {family['default_top1_recall']:.2f} "
            f"(`{family['default_strategy']}`) | {top:.2f} (`{best}`) | {ratio:.1f}× | "
            f"{'yes' if top >= family['greedy_top1_recall'] else 'no'} |"
        )
    lines += ["", "![recall curves](campaigns.png)", ""]
    for name, family in _replays(report).items():
        lines += _detail(name, family)
    timing = report.get("round_timing")
    if timing:
        lines += [
            "## One round on 10,000 molecules",
            "",
            f"Pool {timing['pool']}, {timing['measured_before']} measured, strategy `{timing['strategy']}`, surrogate "
            f"`{timing['surrogate']}` (default options), {timing.get('threads', 2)} threads (the machine's cores): "
            f"ingest 48 results {timing['ingest_seconds']:.2f} s, refit + "
            f"propose 48 {timing['refit_propose_seconds']:.1f} s, round {timing['round_seconds']:.1f} s "
            "(target < 60 s; registry writes not included; the machine is shared by several agents"
            + (
                f": load average {timing['load_average_1min']:.1f} as it was timed)."
                if "load_average_1min" in timing
                else ")."
            )
            + (f" Timed by `{timing['command']}`." if timing.get("command") else "")
            + (f" Note: {timing['note']}." if timing.get("note") else ""),
            "",
        ]
    return "\n".join(lines)


def _replays(report: dict) -> dict[str, dict]:
    """Every replayed data set (the ChEMBL family's three sets, not their mean)."""
    return {k: v for k, v in report["families"].items() if k != POTENCY_FAMILY} | report.get("potency_sets", {})


def best_strategy(strategies: dict[str, dict]) -> str:
    """The model-based strategy with the highest top-1 % recall at the budget (ties: the first listed)."""
    return max((name for name in strategies if name != "random"), key=lambda name: strategies[name]["top1_recall"])


def family_mean(sets: dict[str, dict]) -> dict:
    """A family of several data sets (ChEMBL potency): each figure the mean over its sets."""
    cells = [cell["strategies"] for cell in sets.values()]
    keys = ("top1_recall", "top5_recall", "fraction_at_budget", "top1_enrichment", "top5_enrichment")
    strategies = {
        name: {key: float(np.mean([cell[name][key] for cell in cells])) for key in keys}
        for name in cells[0]
        if all(name in cell for cell in cells)
    }
    first = next(iter(sets.values()))
    return {
        key: float(np.mean([cell[key] for cell in sets.values()]))
        for key in ("random_top1_recall", "greedy_top1_recall", "default_top1_recall")
    } | {
        "default_strategy": first["default_strategy"],
        "best_strategy": best_strategy(strategies),
        "seeds": min((cell["seeds"] for cell in sets.values()), key=len),  # the fewest any set had
        "sets": sorted(sets),
        "strategies": strategies,
    }


LOADERS: dict[str, Callable[[Path, Path], Family]] = {"expansionrx": expansion_family, "asap": asap_family} | {
    name: partial(potency_family, name) for name in POTENCY_SETS
}
ENGINE_SOURCES = [
    REPO / "fedadmet" / "campaigns" / name
    for name in ("engine.py", "surrogates.py", "acquisition.py", "objective.py", "kernels.py")
] + [REPO / "fedadmet" / "workflows" / "campaigns.py"]


@dataclass(frozen=True)
class Replay:
    """One cell of the grid: a family replayed by one strategy with one seed."""

    family: str
    strategy: str
    seed: int


@cache
def load_family(name: str, data_dir: Path, cache_dir: Path) -> Family:
    """A family, loaded once per process (its pool's features come from the cache)."""
    return LOADERS[name](data_dir, cache_dir)


@cache
def family_digest(name: str, data_dir: Path, cache_dir: Path) -> str:
    """What decides a family's replays besides the cell: its pool, truth, start, rounds and objective, and
    the campaign engine's source (a changed engine replays afresh)."""
    family = load_family(name, data_dir, cache_dir)
    digest = hashlib.sha256()
    for part in (family.truth, family.hit_score, family.seed_rows, family.pool.features.dense):
        digest.update(np.ascontiguousarray(part).tobytes())
    digest.update(json.dumps([family.objective.model_dump(), family.rounds, family.batch], sort_keys=True).encode())
    for source in ENGINE_SOURCES:
        digest.update(source.read_bytes())
    return digest.hexdigest()


def replay_file(replay: Replay, data_dir: Path, cache_dir: Path, surrogate_options: dict) -> Path:
    """Where a replay's rounds are kept, keyed by everything that decides them, so that a stopped run
    resumes where it was."""
    key = hashlib.sha256(
        json.dumps(
            [family_digest(replay.family, data_dir, cache_dir), replay.strategy, replay.seed, surrogate_options],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]
    return cache_dir / "replays" / replay.family / f"{replay.strategy}-seed{replay.seed}-{key}.json"


def run_replay(replay: Replay, data_dir: Path, cache_dir: Path, surrogate_options: dict, threads: int) -> float:
    """Replay one cell unless its rounds are cached; the seconds it took (0 when cached)."""
    path = replay_file(replay, data_dir, cache_dir, surrogate_options)
    if path.is_file():
        return 0.0
    import torch  # the GP's threads: one worker's share of the machine, as CatBoost's

    torch.set_num_threads(threads)
    family = load_family(replay.family, data_dir, cache_dir)
    started = time.perf_counter()
    history = replay_history(family, replay.strategy, replay.seed, surrogate_options, threads)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial_path = path.with_suffix(".part")
    partial_path.write_text(json.dumps(history))
    partial_path.replace(path)  # whole or not at all
    return time.perf_counter() - started


def family_report(name: str, args: argparse.Namespace, plan: dict) -> dict | None:
    """A family's figures over the seeds every model-based strategy has finished (random: the same seeds,
    or all of its own where the plan gives it more); None before any seed is complete."""
    strategies, seeds, options = plan["strategies"], plan["seeds"], plan["surrogate_options"]
    files = {
        (strategy, seed): replay_file(Replay(name, strategy, seed), args.data_dir, args.cache, options)
        for strategy in strategies
        for seed in seeds[strategy]
    }
    done = {strategy: {seed for seed in seeds[strategy] if files[strategy, seed].is_file()} for strategy in strategies}
    model_based = [strategy for strategy in strategies if strategy != "random"]
    common = sorted(set.intersection(*(done[strategy] for strategy in model_based)))
    random_seeds = sorted(done["random"]) if len(seeds["random"]) > len(seeds[model_based[0]]) else common
    if not common or not set(random_seeds) <= done["random"]:
        return None
    family = load_family(name, args.data_dir, args.cache)
    runs = {
        strategy: [
            replay_metrics(family, strategy, json.loads(files[strategy, seed].read_text()))
            for seed in (random_seeds if strategy == "random" else common)
        ]
        for strategy in strategies
    }
    summary = summarise(runs)
    return {
        "random_top1_recall": summary["random"]["top1_recall"],
        "greedy_top1_recall": summary["greedy"]["top1_recall"],
        "default_top1_recall": summary[DEFAULT_STRATEGY]["top1_recall"],
        "default_strategy": DEFAULT_STRATEGY,
        "best_strategy": best_strategy(summary),
        "seeds": common,
        "random_seeds": random_seeds,
        "surrogate_options": options,
        "pool": int(len(family.truth) - len(family.seed_rows)),
        "seeded": len(family.seed_rows),
        "rounds": family.rounds,
        "batch": family.batch,
        "strategies": summary,
    }


def build_report(args: argparse.Namespace, plan: dict, previous: dict) -> dict:
    """The results from every cached replay of the plan (families with no finished seed are left out)."""
    report: dict = {"families": {}} | {k: v for k, v in previous.items() if k in ("round_timing", "round_seconds_10k")}
    for name in args.families:
        figures = family_report(name, args, plan)
        if figures is not None:
            report["families"][name] = figures
    group_potency_sets(report)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 seed per model-based strategy (5 for random) and a lighter ensemble (3 members × 60 trees)",
    )
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=REPO / "benchmarks" / "cache" / "campaigns")
    parser.add_argument("--threads", type=int, default=1, help="CatBoost threads per replay")
    parser.add_argument("--workers", type=int, default=1, help="replays run side by side (processes)")
    parser.add_argument("--families", nargs="*", default=[*POTENCY_SETS, "asap", "expansionrx"])
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--seeds", type=int, default=None, help="seeds per strategy (default 10; --quick: 1)")
    parser.add_argument(
        "--light-surrogate", action="store_true", help="the --quick ensemble (3 members × 60 trees) with any seeds"
    )
    parser.add_argument(
        "--stop-after",
        type=float,
        default=None,
        help="minutes after which no new replay starts (those running finish); run again to resume from the cache",
    )
    parser.add_argument("--no-timing", action="store_true", help="skip the 10,000-molecule round timing")
    parser.add_argument(
        "--timing-only", action="store_true", help="only time the round, keeping the replays in results/campaigns.json"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    seeds = list(range(args.seeds if args.seeds is not None else 1 if args.quick else 10))
    random_seeds = list(range(max(5, len(seeds)))) if args.quick else seeds
    light = {"ensemble": {"members": 3, "iterations": 60}}
    strategies = ["random", *[name for name in args.strategies if name != "random"]]
    plan = {
        "strategies": strategies,
        "seeds": {s: random_seeds if s == "random" else seeds for s in strategies},
        "surrogate_options": light if args.quick or args.light_surrogate else {},
    }
    previous = json.loads((RESULTS / "campaigns.json").read_text()) if (RESULTS / "campaigns.json").is_file() else {}
    if args.timing_only:
        previous["round_timing"] = time_round(args.data_dir, args.cache, os.cpu_count() or 1)
        previous["round_seconds_10k"] = previous["round_timing"]["round_seconds"]
        write(previous, replayed=False)
        return
    timing = {} if args.no_timing else {"round_timing": time_round(args.data_dir, args.cache, os.cpu_count() or 1)}
    if timing:  # timed first, before the replays load the machine
        timing["round_seconds_10k"] = timing["round_timing"]["round_seconds"]
        print(f"10k round: {timing['round_seconds_10k']:.1f} s", flush=True)
    jobs = [  # seed-major: a run stopped early leaves every cell with about as many seeds
        Replay(family, strategy, seed)
        for seed in range(max(len(random_seeds), len(seeds)))
        for family in args.families
        for strategy in strategies
        if seed in plan["seeds"][strategy]
    ]
    replay = partial(
        run_replay,
        data_dir=args.data_dir,
        cache_dir=args.cache,
        surrogate_options=plan["surrogate_options"],
        threads=args.threads,
    )
    for name in args.families:
        load_family(name, args.data_dir, args.cache)  # featurised here once, not in every worker
    last_write = time.perf_counter()
    with ProcessPoolExecutor(
        max_workers=args.workers, mp_context=get_context("spawn")
    ) as pool:  # no fork after threads
        pending = {pool.submit(replay, job): job for job in jobs}
        for future in as_completed(pending):
            if future.cancelled():
                continue
            job, seconds = pending[future], future.result()
            print(f"{job.family} {job.strategy} seed {job.seed}: {seconds:.0f} s", flush=True)
            if args.stop_after is not None and time.perf_counter() - started > 60 * args.stop_after:
                for other in pending:
                    other.cancel()  # those not started yet; the running ones finish and are kept
            if time.perf_counter() - last_write > 120:
                write(build_report(args, plan, previous | timing))
                last_write = time.perf_counter()
    report = build_report(args, plan, previous | timing)
    report["wall_seconds"] = time.perf_counter() - started
    write(report)
    print(markdown(report))


def group_potency_sets(report: dict) -> None:
    """ChEMBL potency's three sets are one family: each kept under ``potency_sets``, their mean under
    ``families`` once all three are replayed."""
    sets = report.setdefault("potency_sets", {})
    for name in POTENCY_SETS:
        if name in report["families"]:
            sets[name] = report["families"].pop(name)
    if set(POTENCY_SETS) <= set(sets):
        report["families"][POTENCY_FAMILY] = family_mean({name: sets[name] for name in POTENCY_SETS})


def this_command() -> str:
    return "python -m benchmarks.campaigns.run " + " ".join(sys.argv[1:])


def write(report: dict, replayed: bool = True) -> None:
    """Write the results with the command that made the replays (a timing carries its own)."""
    if replayed or "meta" not in report:
        report["meta"] = {
            "budget_fraction": BUDGET,
            "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
            "command": this_command(),
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "campaigns.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "campaigns.md").write_text(markdown(report))
    plot(_replays(report), RESULTS / "campaigns.png")


if __name__ == "__main__":
    main()
