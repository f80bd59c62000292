"""Feature cost against gain, and which public training source generalises to ExpansionRx (issue 23).

    .venv/bin/python -m benchmarks.features.run                      # all three parts (~1 h on 2 idle cores)
    .venv/bin/python -m benchmarks.features.run --parts costs        # per-descriptor CPU only (~1 min)

Parts, each merged into benchmarks/results/features.json (+ .md):

- ``costs``: CPU time per molecule of each featurizer block and of each RDKit 2D descriptor, on the first
  2,000 bundled approved drugs (their standardised parents, which models featurise), in the order the
  featurizer computes them (a descriptor that reads a cached intermediate, such as the Gasteiger charges,
  is cheap after the first); then the full (earlier default) and lean (current default) feature sets whole.
- ``ablation``: for each feature group left out, CatBoost (300 iterations, depth 6, seed 0) trained on the
  official TDC train_val rows of 8 endpoints and scored on TDC test with the leaderboard metric, and the
  same model's Spearman on the mapped ExpansionRx measurement (validation only: nothing trains on it).
- ``mapping``: CatBoost on the lean features trained on each public source (all rows, de-duplicated,
  external validation molecules removed) and scored by Spearman on the ExpansionRx column it should
  predict, to see which source (TDC/AstraZeneca or PharmaBench) generalises to another lab's assays.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, CatBoostRegressor
from rdkit import Chem
from scipy.stats import spearmanr
from sklearn.metrics import mean_absolute_error, roc_auc_score

from fedadmet.chem.compute import compute_features
from fedadmet.chem.descriptors import cache_estate_indices
from fedadmet.chem.featurizers import (
    _DESCRIPTOR_FUNCTIONS,
    FAST_DESCRIPTOR_NAMES,
    LEAN_DESCRIPTOR_NAMES,
    AvalonCountFeaturizer,
    ErGFeaturizer,
    MorganCountFeaturizer,
    RDKit2DFeaturizer,
    default_feature_set,
    full_feature_set,
)
from fedadmet.chem.parallel import ParallelOptions
from fedadmet.chem.standardize import standardize_with_form
from fedadmet.data.catalogue import get_endpoint
from fedadmet.data.loaders import load_tdc
from fedadmet.data.public import TDC_BENCHMARK_ENDPOINTS, approved_drugs, bundled_path, served_training_frames

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
CACHE = REPO / "benchmarks" / "cache" / "features"
EXPANSIONRX = Path("openadmet_expansionrx") / "expansion_data_train.csv"
PARALLEL = ParallelOptions(n_jobs=2, progress=False)

# TDC endpoint -> (ExpansionRx column or None, sign that makes the prediction rise with the measurement)
ABLATION_ENDPOINTS: dict[str, tuple[str | None, int]] = {
    "caco2_wang": ("Caco-2 Permeability Papp A>B", 1),
    "lipophilicity_astrazeneca": ("LogD", 1),
    "ppbr_az": ("MPPB", -1),  # % bound against % unbound
    "clearance_microsome_az": ("HLM CLint", 1),
    "solubility_aqsoldb": ("KSOL", 1),
    "hia_hou": (None, 1),
    "herg": (None, 1),
    "vdss_lombardo": (None, 1),
}
# ExpansionRx column, sign, training endpoints (pooled when several)
MAPPINGS: list[tuple[str, int, tuple[str, ...]]] = [
    ("LogD", 1, ("Lipophilicity_AstraZeneca",)),
    ("LogD", 1, ("LogD_PharmaBench",)),
    ("LogD", 1, ("Lipophilicity_AstraZeneca", "LogD_PharmaBench")),
    ("KSOL", 1, ("Solubility_AqSolDB",)),
    ("KSOL", 1, ("Solubility_PharmaBench",)),
    ("KSOL", 1, ("Solubility_AqSolDB", "Solubility_PharmaBench")),
    ("HLM CLint", 1, ("Clearance_Microsome_AZ",)),
    ("HLM CLint", 1, ("Clearance_Microsome_Human_PharmaBench",)),
    ("MLM CLint", 1, ("Clearance_Microsome_AZ",)),
    ("MLM CLint", 1, ("Clearance_Microsome_Mouse_PharmaBench",)),
    ("MLM CLint", 1, ("Clearance_Microsome_Human_PharmaBench",)),
    ("MPPB", -1, ("PPBR_AZ",)),
    ("MPPB", 1, ("Fraction_Unbound_PharmaBench",)),
    ("MBPB", -1, ("PPBR_AZ",)),
    ("MBPB", 1, ("Fraction_Unbound_PharmaBench",)),
    ("Caco-2 Permeability Papp A>B", 1, ("Caco2_Wang",)),
]


def drug_parents(n: int = 2000) -> list[Chem.Mol]:
    mols = []
    for smiles in approved_drugs()["smiles"]:
        parent = standardize_with_form(smiles)[0]
        mol = Chem.MolFromSmiles(parent) if parent else None
        if mol is not None:
            mols.append(mol)
        if len(mols) == n:
            break
    return mols


def cpu_ms(function: Callable[[Chem.Mol], object], mols: list[Chem.Mol]) -> float:
    fresh = [Chem.Mol(mol) for mol in mols]  # nothing cached on the molecule from an earlier measurement
    started = time.process_time()
    for mol in fresh:
        function(mol)
    return round((time.process_time() - started) / len(fresh) * 1e3, 4)


def costs() -> dict:
    mols = drug_parents()
    blocks = [MorganCountFeaturizer(), AvalonCountFeaturizer(), ErGFeaturizer(), RDKit2DFeaturizer()]
    per_block = {block.signature: cpu_ms(block, mols) for block in blocks}
    shared = [Chem.Mol(mol) for mol in mols]  # one set of molecules through every descriptor, in featurizer order
    started = time.process_time()
    for mol in shared:
        cache_estate_indices(mol)
    per_descriptor = {"(EState indices, read by 25 descriptors)": (time.process_time() - started) / len(mols) * 1e3}
    for name in FAST_DESCRIPTOR_NAMES:
        function = _DESCRIPTOR_FUNCTIONS[name]
        started = time.process_time()
        for mol in shared:
            with contextlib.suppress(ValueError, RuntimeError, ZeroDivisionError):
                function(mol)
        per_descriptor[name] = (time.process_time() - started) / len(mols) * 1e3
    sets = {
        label: {"signature": made.signature, "features": len(made), "ms": cpu_ms(made, mols)}
        for label, made in (("full", full_feature_set()), ("lean", default_feature_set()))
    }
    groups: dict[str, float] = {}
    for name, ms in per_descriptor.items():
        groups[_group(name)] = groups.get(_group(name), 0.0) + ms
    return {
        "molecules": len(mols),
        "blocks_ms": per_block,
        "descriptor_groups_ms": {k: round(v, 4) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
        "descriptors_ms": {k: round(v, 4) for k, v in per_descriptor.items()},
        "feature_sets": sets,
    }


def _group(name: str) -> str:
    for prefix, group in (
        (("Chi", "Kappa", "HallKierAlpha", "Phi"), "Chi/Kappa/Phi connectivity"),
        (("fr_",), "fr_ fragment counts"),
        (("FpDensityMorgan",), "FpDensityMorgan1-3"),
    ):
        if name.startswith(prefix):
            return group
    if "VSA" in name:
        return "VSA families"
    return "kept: others" if name in LEAN_DESCRIPTOR_NAMES else "other"


def _expansionrx(data_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(data_dir / EXPANSIONRX)
    frame["smiles"] = [standardize_with_form(smiles)[0] for smiles in frame["SMILES"]]
    return frame[frame["smiles"].notna()].reset_index(drop=True)


def _configs(columns: int) -> dict[str, set[int]]:
    full = full_feature_set()
    everything = set(range(columns))
    names = list(FAST_DESCRIPTOR_NAMES)
    start = full.block("rdkit2d").start

    def descriptors(group: str) -> set[int]:
        return {start + i for i, name in enumerate(names) if _group(name) == group}

    def block(name: str) -> set[int]:
        return set(range(full.block(name).start, full.block(name).stop))

    chi, fragments = descriptors("Chi/Kappa/Phi connectivity"), descriptors("fr_ fragment counts")
    density = descriptors("FpDensityMorgan1-3")
    return {
        "full": everything,
        "lean without Avalon": everything - block("avalon") - chi - fragments - density,
        "lean (current default)": everything - chi - fragments - density,
        "full - Avalon": everything - block("avalon"),
    }


def ablation(data_dir: Path, save: Callable[[dict], None]) -> dict:
    data = {
        tdc: [
            load_tdc(bundled_path("tdc_admet_group", tdc, f"{part}.csv.gz"), parallel=PARALLEL).labelled("Y")
            for part in ("train_val", "test")
        ]
        for tdc in ABLATION_ENDPOINTS
    }
    external = _expansionrx(data_dir)
    molecules = sorted(
        {f for parts in data.values() for part in parts for f in part["smiles"]} | set(external["smiles"])
    )
    matrix = compute_features(molecules, full_feature_set(), parallel=PARALLEL, cache_dir=CACHE)
    row = {smiles: i for i, smiles in enumerate(molecules)}
    results = {}
    for config, kept in _configs(matrix.shape[1]).items():
        columns = np.array(sorted(kept))
        scores = {}
        for tdc, (column, sign) in ABLATION_ENDPOINTS.items():
            endpoint = TDC_BENCHMARK_ENDPOINTS[tdc]
            train, test = data[tdc]
            model = _fit(matrix[[row[f] for f in train["smiles"]]][:, columns], train, endpoint.name)
            x_test = matrix[[row[f] for f in test["smiles"]]][:, columns]
            entry = {"tdc_" + str(endpoint.metric): round(_tdc_score(model, x_test, test, endpoint.name), 4)}
            if column is not None:
                measured = external[external[column].notna()]
                predicted = model.predict(matrix[[row[f] for f in measured["smiles"]]][:, columns])
                entry["expansionrx_spearman"] = round(float(spearmanr(sign * predicted, measured[column]).statistic), 4)
            scores[endpoint.name] = entry
        results[config] = {"features": len(columns), "scores": scores}
        print(config, json.dumps(results[config]), flush=True)
        save(results)  # a long part keeps what it has
    return results


def _fit(x: np.ndarray, frame: pd.DataFrame, name: str) -> CatBoostRegressor | CatBoostClassifier:
    endpoint = get_endpoint(name)
    kind = CatBoostClassifier if endpoint.is_classification else CatBoostRegressor
    model = kind(iterations=300, depth=6, random_seed=0, thread_count=2, verbose=False, allow_writing_files=False)
    return model.fit(x, endpoint.to_model_scale(frame["y"].to_numpy(dtype=float)))


def _tdc_score(model: CatBoostRegressor | CatBoostClassifier, x: np.ndarray, test: pd.DataFrame, name: str) -> float:
    endpoint = get_endpoint(name)
    if endpoint.is_classification:
        return float(roc_auc_score(test["y"], model.predict_proba(x)[:, 1]))
    predicted = endpoint.from_model_scale(model.predict(x))
    if endpoint.metric == "spearman":
        return float(spearmanr(test["y"], predicted).statistic)
    return float(mean_absolute_error(test["y"], predicted))


def mapping(data_dir: Path) -> dict:
    needed = sorted({name for _, _, names in MAPPINGS for name in names})
    served = served_training_frames(needed, parallel=PARALLEL)
    frames = served.frames
    external = _expansionrx(data_dir)
    molecules = sorted({f for frame in frames.values() for f in frame["smiles"]} | set(external["smiles"]))
    matrix = compute_features(molecules, default_feature_set(), parallel=PARALLEL, cache_dir=CACHE)
    row = {smiles: i for i, smiles in enumerate(molecules)}
    models: dict[tuple[str, ...], CatBoostRegressor] = {}
    results = []
    for column, sign, names in MAPPINGS:
        if names not in models:
            x = matrix[[row[f] for name in names for f in frames[name]["smiles"]]]
            y = np.concatenate([get_endpoint(name).to_model_scale(frames[name]["y"].to_numpy()) for name in names])
            models[names] = CatBoostRegressor(
                iterations=300, depth=6, random_seed=0, thread_count=2, verbose=False, allow_writing_files=False
            ).fit(x, y)
        measured = external[external[column].notna()]
        predicted = models[names].predict(matrix[[row[f] for f in measured["smiles"]]])
        results.append(
            {
                "expansionrx": column,
                "trained_on": "+".join(names),
                "n_train": int(sum(len(frames[name]) for name in names)),
                "n": len(measured),
                "spearman": round(float(spearmanr(sign * predicted, measured[column]).statistic), 3),
            }
        )
        print(results[-1], flush=True)
    return {"external_molecules_removed": served.external_molecules, "results": results}


def write_markdown(results: dict, path: Path) -> None:
    lines = ["# Feature cost against gain (issue 23)", ""]
    if "costs" in results:
        c = results["costs"]
        lines += [
            f"CPU per molecule on {c['molecules']} bundled approved drugs (one core, shared machine):",
            "",
            "| block | ms |",
            "|---|---|",
            *[f"| {name} | {ms:.3f} |" for name, ms in c["blocks_ms"].items()],
            "",
            "| RDKit 2D group | ms |",
            "|---|---|",
            *[f"| {name} | {ms:.3f} |" for name, ms in c["descriptor_groups_ms"].items()],
            "",
            "| feature set | features | ms per molecule |",
            "|---|---|---|",
            *[f"| {k}: `{v['signature']}` | {v['features']} | {v['ms']:.3f} |" for k, v in c["feature_sets"].items()],
            "",
        ]
    if "ablation" in results:
        configs = results["ablation"]
        endpoints = list(next(iter(configs.values()))["scores"])
        lines += [
            "Ablation: CatBoost 300 it on TDC train_val → TDC test (MAE lower is better; Spearman/AUROC higher), "
            "and its Spearman on ExpansionRx (validation only):",
            "",
            "| endpoint | " + " | ".join(configs) + " |",
            "|---|" + "---|" * len(configs),
        ]
        for name in endpoints:
            for key in configs[next(iter(configs))]["scores"][name]:
                cells = [f"{configs[c]['scores'][name][key]:.3f}" for c in configs]
                lines.append(f"| {name} {key} | " + " | ".join(cells) + " |")
        lines.append("| features | " + " | ".join(str(configs[c]["features"]) for c in configs) + " |")
        lines.append("")
    if "mapping" in results:
        lines += [
            "Which public source generalises to ExpansionRx (CatBoost 300 it, lean features, all rows of the "
            f"source; {results['mapping']['external_molecules_removed']} external molecules removed):",
            "",
            "| ExpansionRx | trained on | rows | n | Spearman |",
            "|---|---|---|---|---|",
            *[
                f"| {r['expansionrx']} | {r['trained_on']} | {r['n_train']} | {r['n']} | {r['spearman']:.3f} |"
                for r in results["mapping"]["results"]
            ],
            *([f"({results['mapping']['note']})", ""] if "note" in results["mapping"] else [""]),
        ]
    lines.append(f"Command: `python -m benchmarks.features.run`; {results.get('machine', '')}.")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--parts", nargs="+", choices=("costs", "ablation", "mapping"), default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    path = args.out / "features.json"
    results = json.loads(path.read_text()) if path.exists() else {}

    def save(part: str, value: dict) -> None:
        results[part] = value
        results["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1))
        write_markdown(results, args.out / "features.md")

    parts = {
        "costs": costs,
        "ablation": lambda: ablation(args.data_dir, lambda partial: save("ablation", partial)),
        "mapping": lambda: mapping(args.data_dir),
    }
    for part in args.parts or list(parts):
        save(part, parts[part]())


if __name__ == "__main__":
    main()
