"""What generalises to another lab's assays: single-endpoint CatBoost per training source, feature set and
target transform, chosen on one half of ExpansionRx and judged on the other (issue 23).

    .venv/bin/python -m benchmarks.generalise.run            # 7 ExpansionRx columns, every candidate
    .venv/bin/python -m benchmarks.generalise.run --quick    # Caco-2 and MPPB, two feature sets, 300 iterations
    .venv/bin/python -m benchmarks.generalise.run --columns "HLM CLint" --feature-sets "lean 2D only"  # a part

For each ExpansionRx column (LogD, KSOL, HLM and MLM CLint, Caco-2 Papp A>B, MPPB, MBPB), every candidate is
a CatBoost regressor (depth 6, seed 0, 2 threads) trained on public labels only: a TDC endpoint, a
PharmaBench lab endpoint, or several pooled after a stated unit conversion (one row per molecule: the mean),
on one of five feature sets, on the log or the linear scale. Training data are the served model's
(:func:`fedadmet.data.public.served_training_frames`: TDC train_val + test and PharmaBench, one row per
standardised parent, every molecule of ExpansionRx and ASAP removed by InChIKey); models featurise the
standardised parent, as the served model does. Nothing trains on ExpansionRx or ASAP.

The honest choice: ExpansionRx is split in two halves by a hash of the molecule name
(:func:`~benchmarks.generalise.labels.expansionrx_half`). Each column's candidate with the highest Spearman
on half A is chosen, and only its Spearman on half B is reported against ADMET-AI 2.0.1 and the served
default model on the same half-B molecules (paired bootstrap interval of the difference). The chosen
candidate is then scored on ASAP (all 560 molecules less ASAP's excluded cells, as benchmarks/external does;
nothing is chosen on ASAP) for the column measuring the same thing (MDR1-MDCKII for Caco-2).

Features of every molecule are computed once for the served model's (full) feature set into the feature
cache (``Settings.feature_cache_dir``) and the smaller sets are read from those columns. Each candidate's
predictions are cached under benchmarks/cache/generalise/ by a hash of its recipe and training data, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from catboost import CatBoostRegressor

from benchmarks.admet_ai import ADMET_AI_VERSION, cached_predictions
from benchmarks.external.mapping import AS_IS, ASAP, COMPARISONS, EXPANSIONRX, Comparison
from benchmarks.external.run import CACHE as ADMET_AI_CACHE
from benchmarks.external.run import DEFAULT_DATA, ExternalSet, estimate_text, load_asap, load_expansionrx
from benchmarks.external.statistics import paired_spearman, parse_censored, spearman
from benchmarks.features.run import cpu_ms, drug_parents
from benchmarks.generalise.labels import (
    HALF_A,
    HALF_B,
    LOG10,
    LOG10_UNBOUND_FROM_BOUND,
    Part,
    expansionrx_half,
    pooled_labels,
)
from fedadmet.chem.compute import compute_features
from fedadmet.chem.featurizers import (
    LEAN_DESCRIPTOR_NAMES,
    FeatureSet,
    MorganCountFeaturizer,
    RDKit2DFeaturizer,
    default_feature_set,
    full_feature_set,
)
from fedadmet.chem.standardize import standardize_many
from fedadmet.config import get_settings
from fedadmet.data.public import served_training_frames
from fedadmet.workflows.predictors import ResolvedPredictor, resolve_predictor
from fedadmet.workflows.profiling import profile

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
CACHE = REPO / "benchmarks" / "cache" / "generalise"
DEPTH, SEED, THREADS = 6, 0, 2


@dataclass(frozen=True)
class Source:
    """Training labels of a candidate: one or several public endpoints on a stated scale, pooled per molecule.
    ``direction`` is +1 where the target rises with the measured quantity (−1: % bound against % unbound)."""

    name: str
    parts: tuple[Part, ...]
    direction: int = 1

    @property
    def description(self) -> str:
        pooled = " + ".join(
            f"{p.endpoint} ({p.scale.description}{', z-scored' if p.standardised else ''})" for p in self.parts
        )
        return pooled + (", mean per molecule" if len(self.parts) > 1 else "")


@dataclass(frozen=True)
class Column:
    """An ExpansionRx column, the ASAP column measuring the same thing (if any), and its candidate sources."""

    measured: str
    asap: str | None
    sources: tuple[Source, ...]


_LOGD = (Part("Lipophilicity_AstraZeneca"), Part("LogD_PharmaBench"))
_SOLUBILITY = (Part("Solubility_AqSolDB"), Part("Solubility_PharmaBench"))
_MICROSOME_AZ = Part("Clearance_Microsome_AZ", LOG10)
_HUMAN, _MOUSE, _RAT = (Part(f"Clearance_Microsome_{s}_PharmaBench", LOG10) for s in ("Human", "Mouse", "Rat"))
_CLEARANCE = (
    Source("AZ microsomes, log10", (_MICROSOME_AZ,)),
    Source("AZ microsomes, as is", (Part("Clearance_Microsome_AZ"),)),
    Source("PharmaBench human", (_HUMAN,)),
    Source("PharmaBench mouse", (_MOUSE,)),
    Source("AZ + PharmaBench human", (_MICROSOME_AZ, _HUMAN)),
    Source("AZ + PharmaBench human, mouse, rat", (_MICROSOME_AZ, _HUMAN, _MOUSE, _RAT)),
    Source(
        "AZ + PharmaBench human, mouse, rat, z-scored per source",
        tuple(replace(part, standardised=True) for part in (_MICROSOME_AZ, _HUMAN, _MOUSE, _RAT)),
    ),
)
_PPBR_AS_LOG_UNBOUND = Part("PPBR_AZ", LOG10_UNBOUND_FROM_BOUND)
_UNBOUND_LOG = Part("Fraction_Unbound_PharmaBench", LOG10)
_BINDING = (
    Source("PPBR_AZ, % bound as is", (Part("PPBR_AZ"),), direction=-1),
    Source("PPBR_AZ, log10 fu", (_PPBR_AS_LOG_UNBOUND,)),
    Source("PharmaBench, log10 fu", (_UNBOUND_LOG,)),
    Source("PharmaBench, fu as is", (Part("Fraction_Unbound_PharmaBench"),)),
    Source("PPBR_AZ + PharmaBench, log10 fu", (_PPBR_AS_LOG_UNBOUND, _UNBOUND_LOG)),
)
COLUMNS: tuple[Column, ...] = (
    Column(
        "LogD",
        "LogD",
        (
            Source("AZ", _LOGD[:1]),
            Source("PharmaBench logD", _LOGD[1:]),
            Source("AZ + PharmaBench", _LOGD),
        ),
    ),
    Column(
        "KSOL",
        "KSOL",
        (
            Source("AqSolDB", _SOLUBILITY[:1]),
            Source("PharmaBench solubility", _SOLUBILITY[1:]),
            Source("AqSolDB + PharmaBench", _SOLUBILITY),
        ),
    ),
    Column("HLM CLint", "HLM", _CLEARANCE),
    Column("MLM CLint", "MLM", _CLEARANCE),
    Column("Caco-2 Permeability Papp A>B", "MDR1-MDCKII", (Source("Caco2_Wang", (Part("Caco2_Wang", AS_IS),)),)),
    Column("MPPB", None, _BINDING),
    Column("MBPB", None, _BINDING),
)
FEATURE_SETS: dict[str, Callable[[], FeatureSet]] = {
    "full (served model)": full_feature_set,
    "lean (default_feature_set)": default_feature_set,
    "Morgan + lean 2D": lambda: FeatureSet([MorganCountFeaturizer(), RDKit2DFeaturizer(LEAN_DESCRIPTOR_NAMES)]),
    "lean 2D only": lambda: FeatureSet([RDKit2DFeaturizer(LEAN_DESCRIPTOR_NAMES)]),
    "fast 2D only (the served set's 204)": lambda: FeatureSet([RDKit2DFeaturizer()]),
}
QUICK_COLUMNS = ("Caco-2 Permeability Papp A>B", "MPPB")
QUICK_FEATURE_SETS = ("full (served model)", "lean 2D only")


@dataclass
class Molecules:
    """Every molecule the experiment featurises, with its row in one feature matrix (the full set)."""

    matrix: np.ndarray
    row: dict[str, int]

    def features(self, smiles: list[str], columns: np.ndarray) -> np.ndarray:
        return self.matrix[np.asarray([self.row[s] for s in smiles], dtype=np.intp)][:, columns]


@dataclass
class External:
    """One external set: its rows, standardised parents (None if rejected), ADMET-AI's and the served
    model's predictions (one row per input row)."""

    data: ExternalSet
    parents: list[str | None]
    admet_ai: pd.DataFrame
    served: pd.DataFrame

    @property
    def valid(self) -> np.ndarray:
        return np.array([p is not None for p in self.parents])


def _comparison(dataset: str, measured: str) -> Comparison:
    return next(c for c in COMPARISONS if c.dataset == dataset and c.measured == measured)


def served_predictions(external: ExternalSet, endpoints: list[str], resolved: ResolvedPredictor) -> pd.DataFrame:
    """The served default model's ``endpoints`` for every molecule of ``external``, through the workflows as
    benchmarks/external runs it; cached by a hash of the model card and the inputs."""
    card = (resolved.folder / "model.json").read_bytes() if resolved.folder is not None else b""
    digest = hashlib.sha256(card + "\n".join([*endpoints, *external.smiles]).encode()).hexdigest()[:20]
    cached = CACHE / f"served_{external.name}_{digest}.csv"
    if not cached.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        profile(external.smiles, predictor=resolved.predictor, endpoints=endpoints, progress=False)[endpoints].to_csv(
            cached, index=False
        )
    return pd.read_csv(cached)


def _prediction_key(source: Source, features: FeatureSet, labels: pd.DataFrame, iterations: int, targets: str) -> str:
    text = "\n".join(
        [
            source.description,
            features.signature,
            f"catboost depth {DEPTH} seed {SEED} iterations {iterations}",
            hashlib.sha256(pd.util.hash_pandas_object(labels, index=False).to_numpy().tobytes()).hexdigest(),
            targets,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def candidate_predictions(
    source: Source,
    features_name: str,
    frames: dict[str, pd.DataFrame],
    molecules: Molecules,
    targets: list[str],
    iterations: int,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``direction ×`` the prediction of a CatBoost model trained on ``source`` with ``features_name`` for
    every molecule in ``targets`` (the external parents), cached; and how it was trained."""
    features = FEATURE_SETS[features_name]()
    columns = full_feature_set().columns_of(features)
    labels = pooled_labels(source.parts, frames)
    targets_hash = hashlib.sha256("\n".join(targets).encode()).hexdigest()
    cached = CACHE / "predictions" / f"{_prediction_key(source, features, labels, iterations, targets_hash)}.npz"
    record: dict[str, Any] = {"rows": len(labels), "features": len(columns)}
    if cached.is_file():
        with np.load(cached) as saved:
            record["train_seconds"] = float(saved["seconds"])
            return dict(zip(targets, saved["predicted"], strict=True)), record
    started = time.perf_counter()
    model = CatBoostRegressor(
        iterations=iterations,
        depth=DEPTH,
        random_seed=SEED,
        thread_count=THREADS,
        verbose=False,
        allow_writing_files=False,
    )
    model.fit(molecules.features(labels["smiles"].tolist(), columns), labels["y"].to_numpy())
    predicted = source.direction * model.predict(molecules.features(targets, columns))
    seconds = round(time.perf_counter() - started, 1)
    cached.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cached, predicted=predicted, seconds=seconds)
    record["train_seconds"] = seconds
    return dict(zip(targets, predicted, strict=True)), record


def _per_row(predictions: dict[str, np.ndarray], parents: list[str | None]) -> np.ndarray:
    return np.array([np.nan if p is None else predictions[p] for p in parents], dtype=float)


def _scored(
    measured: np.ndarray, candidate: np.ndarray, admet: np.ndarray, served: np.ndarray, resamples: int
) -> dict[str, Any]:
    paired = paired_spearman(measured, candidate, admet, resamples=resamples)
    return {
        "n": paired.n,
        "chosen": paired.first.as_dict(),
        "admet_ai": paired.second.as_dict(),
        "chosen_minus_admet_ai": paired.difference.as_dict(),
        "served": round(spearman(served, measured), 3),
        "chosen_beats_admet_ai": bool(paired.first.value > paired.second.value),
        "served_beats_admet_ai": bool(spearman(served, measured) > paired.second.value),
    }


def _oriented(external: External, dataset: str, measured: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measured values (NaN unless exact), ADMET-AI's and the served model's predictions, each oriented to
    rise with the measurement (the mapping of benchmarks/external)."""
    comparison = _comparison(dataset, measured)
    target = comparison.fedadmet_target(list(external.served.columns))
    measurements = parse_censored(external.data.labels[measured])
    values = np.where(measurements.usable, measurements.values, np.nan)
    admet = comparison.reference.direction * external.admet_ai[comparison.reference.endpoint].to_numpy(float)
    served = target.direction * external.served[target.endpoint].to_numpy(float)
    return values, admet, served


def evaluate_column(
    column: Column,
    candidates: dict[tuple[str, str], np.ndarray],
    expansionrx: External,
    halves: np.ndarray,
    asap: External,
    asap_candidates: dict[tuple[str, str], np.ndarray],
    resamples: int,
) -> dict[str, Any]:
    """Every candidate's Spearman on half A (and, for the record, half B); the best on half A is chosen and
    scored on half B and on ASAP next to ADMET-AI and the served model, on the same molecules."""
    measured, admet, served = _oriented(expansionrx, EXPANSIONRX, column.measured)
    usable = np.isfinite(measured) & np.isfinite(admet) & np.isfinite(served) & expansionrx.valid
    half_a, half_b = usable & (halves == HALF_A), usable & (halves == HALF_B)
    rows = []
    for (source, features), predicted in candidates.items():
        rows.append(
            {
                "source": source,
                "features": features,
                "half_a": round(spearman(predicted[half_a], measured[half_a]), 3),
                "half_b": round(spearman(predicted[half_b], measured[half_b]), 3),
            }
        )
    best = max(rows, key=lambda row: row["half_a"])
    chosen = (best["source"], best["features"])
    result: dict[str, Any] = {
        "measured": column.measured,
        "n_half_a": int(half_a.sum()),
        "candidates": rows,
        "chosen": {"source": best["source"], "features": best["features"]},
        "half_a_served": round(spearman(served[half_a], measured[half_a]), 3),
        "half_a_admet_ai": round(spearman(admet[half_a], measured[half_a]), 3),
        "half_b": _scored(measured[half_b], candidates[chosen][half_b], admet[half_b], served[half_b], resamples),
    }
    if column.asap is not None:
        asap_measured, asap_admet, asap_served = _oriented(asap, ASAP, column.asap)
        keep = np.isfinite(asap_measured) & np.isfinite(asap_admet) & np.isfinite(asap_served) & asap.valid
        result["asap"] = {"measured": column.asap} | _scored(
            asap_measured[keep], asap_candidates[chosen][keep], asap_admet[keep], asap_served[keep], resamples
        )
    return result


def feature_costs(names: list[str], molecules: int = 500) -> dict[str, dict[str, Any]]:
    """CPU milliseconds per molecule of each feature set, on the first ``molecules`` approved-drug parents."""
    mols = drug_parents(molecules)
    return {
        name: {"features": len(made), "signature": made.signature, "cpu_ms": cpu_ms(made, mols)}
        for name in names
        for made in [FEATURE_SETS[name]()]
    }


def _external(data: ExternalSet, resolved: ResolvedPredictor) -> External:
    """``data`` standardised, with ADMET-AI's (cached) and the served model's predictions of its columns."""
    settings = get_settings()
    comparisons = [c for c in COMPARISONS if c.dataset == data.name]
    served = sorted({c.fedadmet_target(resolved.predictor.endpoints).endpoint for c in comparisons})
    parents = standardize_many(data.smiles, settings.molecule_limits(), settings.parallel(False)).smiles
    admet = cached_predictions(data.smiles, sorted({c.reference.endpoint for c in comparisons}), ADMET_AI_CACHE)
    return External(data, parents, admet, served_predictions(data, served, resolved))


def run(
    data_dir: Path, columns: list[Column], feature_names: list[str], iterations: int, resamples: int
) -> dict[str, Any]:
    settings = get_settings()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    resolved = resolve_predictor(settings)
    expansionrx, asap = _external(load_expansionrx(data_dir), resolved), _external(load_asap(data_dir), resolved)
    halves = np.array([expansionrx_half(name) for name in expansionrx.data.labels["Molecule Name"]])
    seconds["external sets (standardise, ADMET-AI cache, served model)"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    endpoints = sorted({p.endpoint for c in columns for s in c.sources for p in s.parts})
    training = served_training_frames(endpoints, limits=settings.molecule_limits(), parallel=settings.parallel(False))
    external_parents = sorted({p for e in (expansionrx, asap) for p in e.parents if p is not None})
    leaked = {s for frame in training.frames.values() for s in frame["smiles"]} & set(external_parents)
    if leaked:
        raise RuntimeError(f"{len(leaked)} external molecules in the training data, e.g. {min(leaked)}")
    seconds["training data (read, standardise, de-duplicate)"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    molecules = sorted({s for frame in training.frames.values() for s in frame["smiles"]} | set(external_parents))
    matrix = compute_features(
        molecules,
        full_feature_set(),
        parallel=settings.parallel(False),
        cache_dir=settings.feature_cache_dir,
    )
    store = Molecules(matrix, {s: i for i, s in enumerate(molecules)})
    seconds["features (full set; cached molecules read)"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    trained: dict[tuple[Source, str], dict[str, np.ndarray]] = {}
    records: dict[str, dict[str, Any]] = {}
    # The smallest feature sets first: an interrupted run has every column's cheap candidates cached.
    for features_name in sorted(feature_names, key=lambda name: len(FEATURE_SETS[name]())):
        for source in dict.fromkeys(s for c in columns for s in c.sources):
            predictions, record = candidate_predictions(
                source, features_name, training.frames, store, external_parents, iterations
            )
            trained[(source, features_name)] = predictions
            records[f"{source.name} · {features_name}"] = record | {"source": source.description}
            print(f"{source.name} · {features_name}: {record}", flush=True)
    seconds["training candidates"] = round(time.perf_counter() - started, 1)

    results = []
    for column in columns:
        keys = [(s, f) for s in column.sources for f in feature_names]
        results.append(
            evaluate_column(
                column,
                {(s.name, f): _per_row(trained[(s, f)], expansionrx.parents) for s, f in keys},
                expansionrx,
                halves,
                asap,
                {(s.name, f): _per_row(trained[(s, f)], asap.parents) for s, f in keys},
                resamples,
            )
        )
        row = results[-1]
        print(f"{column.measured}: chosen {row['chosen']}, half B {row['half_b']}", flush=True)
    started = time.perf_counter()
    costs = feature_costs(feature_names)
    seconds["feature cost measurement"] = round(time.perf_counter() - started, 1)
    return {
        "summary": wins(results),
        "columns": results,
        "candidates": records,
        "feature_costs": costs,
        "split": {
            "rule": "half A if the first byte of SHA-256(Molecule Name) is even, else half B",
            "molecules": {HALF_A: int((halves == HALF_A).sum()), HALF_B: int((halves == HALF_B).sum())},
        },
        "training": {
            "rows_read": training.rows_read,
            "duplicates_merged": training.duplicates_merged,
            "out_of_range_removed": training.out_of_range_removed,
            "external_molecules_removed": training.external_molecules,
            "external_rows_removed": training.external_rows,
        },
        "catboost": {"iterations": iterations, "depth": DEPTH, "seed": SEED, "thread_count": THREADS},
        "served_model": resolved.description,
        "admet_ai_version": ADMET_AI_VERSION,
        "bootstrap_resamples": resamples,
        "seconds": seconds,
    }


def wins(results: list[dict[str, Any]]) -> dict[str, int]:
    """How many columns the chosen candidate and the served model win against ADMET-AI, on half B and on ASAP."""
    asap_rows = [r for r in results if "asap" in r]
    return {
        "half_b_chosen_beats_admet_ai": sum(r["half_b"]["chosen_beats_admet_ai"] for r in results),
        "half_b_served_beats_admet_ai": sum(r["half_b"]["served_beats_admet_ai"] for r in results),
        "half_b_columns": len(results),
        "asap_chosen_beats_admet_ai": sum(r["asap"]["chosen_beats_admet_ai"] for r in asap_rows),
        "asap_served_beats_admet_ai": sum(r["asap"]["served_beats_admet_ai"] for r in asap_rows),
        "asap_columns": len(asap_rows),
    }


def _versus(scored: dict[str, Any]) -> list[str]:
    chosen, admet = estimate_text(scored["chosen"]), estimate_text(scored["admet_ai"])
    if scored["chosen_beats_admet_ai"]:
        chosen = f"**{chosen}**"
    else:
        admet = f"**{admet}**"
    return [
        f"{scored['n']:,}",
        chosen,
        admet,
        f"{scored['served']:.3f}",
        estimate_text(scored["chosen_minus_admet_ai"], signed=True),
    ]


def write_results(result: dict[str, Any], name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    summary = result["summary"]
    boot = result["bootstrap_resamples"]
    lines = [
        "# What generalises to another lab's assays (issue 23)",
        "",
        "Single-endpoint CatBoost regressors (depth "
        f"{result['catboost']['depth']}, {result['catboost']['iterations']} iterations, seed "
        f"{result['catboost']['seed']}) trained on public labels only (the served model's curated frames: TDC "
        "train_val + test and PharmaBench, one row per standardised parent, "
        f"{result['training']['external_molecules_removed']} molecules of ExpansionRx/ASAP removed by InChIKey). "
        "ExpansionRx is split by "
        f"{result['split']['rule']} ({result['split']['molecules'][HALF_A]:,} / "
        f"{result['split']['molecules'][HALF_B]:,} molecules). Per column the candidate with the highest "
        "Spearman on half A is chosen; it is reported on half B next to ADMET-AI "
        f"{result['admet_ai_version']} and the served default model on the same molecules (paired bootstrap "
        f"95 % intervals, {boot} resamples), and on ASAP, where nothing is chosen.",
        "",
        f"**Chosen candidates beat ADMET-AI on {summary['half_b_chosen_beats_admet_ai']} of "
        f"{summary['half_b_columns']} (ExpansionRx half B) and {summary['asap_chosen_beats_admet_ai']} of "
        f"{summary['asap_columns']} (ASAP)**; the served model on the same molecules: "
        f"{summary['half_b_served_beats_admet_ai']} of {summary['half_b_columns']} and "
        f"{summary['asap_served_beats_admet_ai']} of {summary['asap_columns']}.",
        "",
        "## The chosen candidate per column",
        "",
        "| ExpansionRx column | chosen on half A (source · features) | n half B | chosen ρ | ADMET-AI ρ | served ρ "
        "| Δ chosen − ADMET-AI | ASAP column | n | chosen ρ | ADMET-AI ρ | served ρ | Δ chosen − ADMET-AI |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["columns"]:
        asap = row.get("asap")
        asap_cells = [asap["measured"], *_versus(asap)] if asap else ["–"] * 6
        chosen = f"{row['chosen']['source']} · {row['chosen']['features']}"
        lines.append("| " + " | ".join([row["measured"], chosen, *_versus(row["half_b"]), *asap_cells]) + " |")
    lines += [
        "",
        "## Every candidate on half A (Spearman; the chosen one in bold)",
        "",
    ]
    features = list(result["feature_costs"])
    for row in result["columns"]:
        lines += [
            f"**{row['measured']}** (n {row['n_half_a']:,}; served model {row['half_a_served']:.3f}, ADMET-AI "
            f"{row['half_a_admet_ai']:.3f} on the same half-A molecules)",
            "",
            "| source | " + " | ".join(features) + " |",
            "|---|" + "---|" * len(features),
        ]
        by_source: dict[str, dict[str, float]] = {}
        for candidate in row["candidates"]:
            by_source.setdefault(candidate["source"], {})[candidate["features"]] = candidate["half_a"]
        for source, scores in by_source.items():
            cells = []
            for feature in features:
                text = f"{scores[feature]:.3f}"
                if (source, feature) == (row["chosen"]["source"], row["chosen"]["features"]):
                    text = f"**{text}**"
                cells.append(text)
            lines.append(f"| {source} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## Feature sets across columns (half A: each column's best source on that feature set)",
        "",
        "| feature set | " + " | ".join(row["measured"] for row in result["columns"]) + " | mean |",
        "|---|" + "---|" * (len(result["columns"]) + 1),
    ]
    for feature in features:
        best = [max(c["half_a"] for c in row["candidates"] if c["features"] == feature) for row in result["columns"]]
        lines.append(f"| {feature} | " + " | ".join(f"{b:.3f}" for b in best) + f" | {np.mean(best):.3f} |")
    lines += [
        "",
        "## Feature sets: size and cost",
        "",
        "| feature set | features | CPU ms per molecule | signature |",
        "|---|---|---|---|",
        *(
            f"| {name} | {cost['features']} | {cost['cpu_ms']:.3f} | `{cost['signature']}` |"
            for name, cost in result["feature_costs"].items()
        ),
        "",
        "CPU time on the first 500 approved drugs (standardised parents), one core of a shared machine.",
        "",
        "## Training sources",
        "",
        "| candidate | trained on | rows | train s |",
        "|---|---|---|---|",
        *(
            f"| {key} | {record['source']} | {record['rows']:,} | {record['train_seconds']} |"
            for key, record in result["candidates"].items()
        ),
        "",
        "## Recipe per column for the next default model (chosen on half A, confirmed or not on half B)",
        "",
    ]
    for row in result["columns"]:
        verdict = "beats" if row["half_b"]["chosen_beats_admet_ai"] else "does not beat"
        lines.append(
            f"- {row['measured']}: {row['chosen']['source']} on {row['chosen']['features']}; half B "
            f"{row['half_b']['chosen']['value']:.3f} {verdict} ADMET-AI {row['half_b']['admet_ai']['value']:.3f} "
            f"(served {row['half_b']['served']:.3f})."
        )
    lines += [
        "",
        "What half B can and cannot say: the halves split molecules, not chemical series, so both hold "
        "molecules of the same lead-optimisation programmes; half B checks that the choice made on half A is "
        "not luck of the draw among candidates, on new molecules of the same lab. ASAP (another lab, another "
        "chemistry, nothing chosen on it) is the independent check; with 400-550 molecules its intervals are "
        "wide. Single-endpoint CatBoost is not the served model (trunk + trees + side tasks): the recipe says "
        "which data, transform and features to give the next default model, not its final scores.",
        "",
        f"Command: `{result['command']}`; {result['machine']}; "
        + ", ".join(f"{key} {value} s" for key, value in result["seconds"].items())
        + ".",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--iterations", type=int, default=1000, help="CatBoost iterations per candidate.")
    parser.add_argument("--resamples", type=int, default=1000, help="Bootstrap resamples of molecules.")
    parser.add_argument("--quick", action="store_true", help="Two columns, two feature sets, 300 iterations.")
    parser.add_argument(
        "--columns", nargs="+", choices=[c.measured for c in COLUMNS], help="Only these ExpansionRx columns."
    )
    parser.add_argument("--feature-sets", nargs="+", choices=list(FEATURE_SETS), help="Only these feature sets.")
    args = parser.parse_args(argv)
    if args.quick:
        args.iterations, args.resamples = 300, 200
    chosen_columns = args.columns or (QUICK_COLUMNS if args.quick else [c.measured for c in COLUMNS])
    feature_names = args.feature_sets or list(QUICK_FEATURE_SETS if args.quick else FEATURE_SETS)
    started = time.perf_counter()
    result = run(
        args.data_dir,
        [c for c in COLUMNS if c.measured in chosen_columns],
        [name for name in FEATURE_SETS if name in feature_names],
        args.iterations,
        args.resamples,
    )
    result["seconds"]["total"] = round(time.perf_counter() - started, 1)
    result |= {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "command": shlex.join(["python", "-m", "benchmarks.generalise.run", *(argv or sys.argv[1:])]),
    }
    write_results(result, "generalise_quick" if args.quick else "generalise")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
