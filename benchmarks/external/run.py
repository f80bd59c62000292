"""External validation: the served default model against ADMET-AI on industrial data neither was trained on.

    .venv/bin/python -m benchmarks.external.run            # ExpansionRx (5,326 molecules) and ASAP antiviral (560)
    .venv/bin/python -m benchmarks.external.run --quick    # 300 molecules of each, 200 bootstrap resamples

Both tools predict every molecule of each set; each measured column is compared with the endpoint that
stands for it (benchmarks/external/mapping.py, stated in the output). Per endpoint: Spearman of each tool
with a paired bootstrap 95 % interval (and of the difference fedadmet − ADMET-AI, same molecules), MAE
where the units match (after the stated conversion), the measured coverage of fedadmet's conformal
intervals, and both tools' error inside and outside fedadmet's applicability domain (``in_domain``).
Censored labels (``<x``, ``>x``) are left out and counted. ASAP's own exclusion list (9 test cells) is
applied; its 33 CXSMILES that occur twice are distinct compounds (separated enantiomers) and stay apart.
ADMET-AI 2.0.1 runs in its own environment (benchmarks/admet_ai.py); its predictions are cached under
benchmarks/cache/external/ by the inputs' hash, so a rerun after retraining runs only fedadmet.
These sets are validation only: no fedadmet model is trained or tuned on them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import fedadmet
from benchmarks.admet_ai import ADMET_AI_VERSION, cached_predictions
from benchmarks.external.mapping import AS_IS, ASAP, COMPARISONS, EXPANSIONRX, Comparison, Target
from benchmarks.external.statistics import (
    Estimate,
    interval_coverage,
    mapped_interval_coverage,
    mean_absolute_error,
    paired_spearman,
    parse_censored,
    spearman,
)
from fedadmet.config import get_settings
from fedadmet.exceptions import InputError
from fedadmet.workflows.predictors import resolve_predictor
from fedadmet.workflows.profiling import IN_DOMAIN_COLUMN, profile

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data"
CACHE = REPO / "benchmarks" / "cache" / "external"
RESULTS = REPO / "benchmarks" / "results"
QUICK_MOLECULES = 300
TITLES = {EXPANSIONRX: "ExpansionRx", ASAP: "ASAP"}


@dataclass(frozen=True)
class ExternalSet:
    """One external data set in memory: a SMILES per molecule and its label columns as text."""

    name: str
    smiles: list[str]
    labels: pd.DataFrame
    notes: list[str]


def load_expansionrx(data_dir: Path) -> ExternalSet:
    frame = pd.read_csv(data_dir / "openadmet_expansionrx" / "expansion_data_train.csv", dtype=str)
    duplicates = int(frame["SMILES"].duplicated().sum())
    notes = [
        f"{len(frame)} molecules (training file of the OpenADMET × ExpansionRx challenge); "
        f"{duplicates} duplicated SMILES",
        "values at an assay limit carry no qualifier in this file and are kept as measured",
    ]
    return ExternalSet(EXPANSIONRX, frame["SMILES"].tolist(), frame.reset_index(drop=True), notes)


def load_asap(data_dir: Path) -> ExternalSet:
    """Train and test rows together (neither tool trained on either), less the test cells ASAP excluded
    from official scoring (``exclusions_admet.json``: ``idx`` counts test rows in file order)."""
    folder = data_dir / "asap_antiviral_2025"
    frame = pd.read_csv(folder / "antiviral_admet_2025_unblinded.csv", dtype=str)
    exclusions = json.loads((folder / "exclusions_admet.json").read_text())
    test_rows = frame.index[frame["Set"] == "Test"]
    excluded = 0
    for column, cells in exclusions.items():
        for cell in cells:
            row = test_rows[cell["idx"]]
            if frame.at[row, "CXSMILES"] != cell["CXSMILES"]:
                raise InputError(
                    f"exclusions_admet.json: {column} test idx {cell['idx']} does not name the molecule at that row",
                    got=frame.at[row, "CXSMILES"],
                    expected=cell["CXSMILES"],
                )
            frame.at[row, column] = None
            excluded += 1
    duplicates = int(frame["CXSMILES"].duplicated(keep=False).sum())
    notes = [
        f"{len(frame)} molecules ({(frame['Set'] == 'Train').sum()} train + {(frame['Set'] == 'Test').sum()} test, "
        "scored together)",
        f"{excluded} test cells left out as ASAP's exclusions_admet.json lists them",
        f"{duplicates} rows share a CXSMILES with another row: distinct compounds (separated enantiomers, own IDs "
        "and values), kept as separate rows",
        "values at an assay limit (KSOL near 400 uM) carry no qualifier in this file and are kept as measured",
    ]
    return ExternalSet(ASAP, frame["CXSMILES"].tolist(), frame.reset_index(drop=True), notes)


def subsample(external: ExternalSet, n: int) -> ExternalSet:
    """``n`` molecules of ``external`` (seed 0), for the quick run."""
    if len(external.smiles) <= n:
        return external
    rows = np.sort(np.random.default_rng(0).choice(len(external.smiles), size=n, replace=False))
    labels = external.labels.iloc[rows].reset_index(drop=True)
    notes = [*external.notes, f"quick run: {n} of these molecules (seed 0)"]
    return ExternalSet(external.name, [external.smiles[i] for i in rows], labels, notes)


def _measured_error(target: Target, predicted: np.ndarray, measured: np.ndarray) -> float | None:
    """MAE on the target's error scale, where the measurement converts to the endpoint's units."""
    if target.to_endpoint_units is None:
        return None
    converted = target.to_endpoint_units.apply(measured)
    error = mean_absolute_error(target.error_scale.apply(predicted), target.error_scale.apply(converted))
    return None if np.isnan(error) else round(error, 3)


def _domain_part(
    comparison: Comparison, target: Target, measured: np.ndarray, fed: np.ndarray, admet: np.ndarray
) -> dict[str, Any]:
    reference = comparison.reference
    return {
        "n": len(measured),
        "fedadmet_spearman": _round(spearman(target.direction * fed, measured)),
        "admet_ai_spearman": _round(spearman(reference.direction * admet, measured)),
        "fedadmet_mae": _measured_error(target, fed, measured),
        "admet_ai_mae": _measured_error(reference, admet, measured),
    }


def evaluate(
    comparison: Comparison,
    target: Target,
    lab: Target | None,
    labels: pd.Series,
    fed: pd.DataFrame,
    admet: pd.DataFrame,
    *,
    nominal: float,
    resamples: int,
) -> dict[str, Any]:
    """Every figure of one mapped endpoint, on the molecules with an exact measurement and both predictions."""
    measurements = parse_censored(labels)
    present = np.isfinite(measurements.values)
    fed_values = fed[target.endpoint].to_numpy(float)
    admet_values = admet[comparison.reference.endpoint].to_numpy(float)
    predicted = np.isfinite(fed_values) & np.isfinite(admet_values)
    keep = measurements.usable & predicted
    measured, fed_kept, admet_kept = measurements.values[keep], fed_values[keep], admet_values[keep]
    paired = paired_spearman(
        measured,
        target.direction * fed_kept,
        comparison.reference.direction * admet_kept,
        resamples=resamples,
    )
    lower = fed[f"{target.endpoint}_lower"].to_numpy(float)[keep]
    upper = fed[f"{target.endpoint}_upper"].to_numpy(float)[keep]
    if target.to_endpoint_units is not None:
        converted = target.to_endpoint_units.apply(measured)
        coverage = {
            "value": _round(interval_coverage(lower, upper, converted)),
            "n": int(np.isfinite(converted).sum()),
            "method": f"direct: measurement converted to the endpoint's units ({target.to_endpoint_units.description})",
        }
    else:
        coverage = {
            "value": _round(
                mapped_interval_coverage(
                    fed_kept, lower, upper, comparison.measured_scale.apply(measured), increasing=target.direction > 0
                )
            ),
            "n": len(measured),
            "method": "units differ: isotonic mapping prediction → measurement "
            f"({comparison.measured_scale.description}) fitted on a random half, interval bounds mapped and scored "
            "on the other half, halves swapped and pooled",
        }
    in_domain = fed[IN_DOMAIN_COLUMN].fillna(False).to_numpy(bool)[keep]
    mae_scale = None
    if target.units_match:
        mae_scale = "the endpoint's units" if target.error_scale is AS_IS else target.error_scale.description
    return {
        "set": comparison.dataset,
        "measured": comparison.measured,
        "unit": comparison.unit,
        "fedadmet_endpoint": target.endpoint,
        "lab_endpoint": None
        if lab is None
        else {
            "endpoint": lab.endpoint,
            "spearman": _round(spearman(measured, lab.direction * fed[lab.endpoint].to_numpy(float)[keep])),
        },
        "admet_ai_column": comparison.reference.endpoint,
        "direction": target.direction,
        "note": comparison.note,
        "rows_with_value": int(present.sum()),
        "censored_left_out": int((present & measurements.censored).sum()),
        "without_prediction": int((measurements.usable & ~predicted).sum()),
        "n": paired.n,
        "spearman": {
            "fedadmet": paired.first.as_dict(),
            "admet_ai": paired.second.as_dict(),
            "difference": paired.difference.as_dict(),
        },
        "fedadmet_wins": bool(paired.first.value > paired.second.value),
        "mae": {
            "fedadmet": _measured_error(target, fed_kept, measured),
            "admet_ai": _measured_error(comparison.reference, admet_kept, measured),
            "scale": mae_scale,
            "conversion": target.to_endpoint_units.description if target.to_endpoint_units else None,
        },
        "coverage": {"nominal": nominal, **coverage},
        "domain": {
            "in": _domain_part(comparison, target, measured[in_domain], fed_kept[in_domain], admet_kept[in_domain]),
            "out": _domain_part(comparison, target, measured[~in_domain], fed_kept[~in_domain], admet_kept[~in_domain]),
        },
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Wins (higher Spearman, same molecules) per set, and how many of them the paired interval of the
    difference supports (its interval excludes 0)."""
    summary: dict[str, Any] = {"wins": {}, "endpoints": {}, "clear_wins": {}, "clear_losses": {}}
    for name in (EXPANSIONRX, ASAP):
        mine = [row for row in rows if row["set"] == name]
        if not mine:
            continue
        differences = [row["spearman"]["difference"] for row in mine]
        summary["wins"][name] = sum(row["fedadmet_wins"] for row in mine)
        summary["endpoints"][name] = len(mine)
        summary["clear_wins"][name] = sum((d["low"] or 0) > 0 for d in differences)
        summary["clear_losses"][name] = sum((d["high"] or 0) < 0 for d in differences)
    return summary


def run(data_dir: Path, quick: bool, resamples: int, model: Path | None = None) -> dict[str, Any]:
    """``model``: a model folder to score instead of the served default model."""
    settings = get_settings()
    resolved = resolve_predictor(settings, model=model)
    served = resolved.predictor.endpoints
    nominal = float(resolved.model.config.conformal_coverage)
    sets = [load_expansionrx(data_dir), load_asap(data_dir)]
    if quick:
        sets = [subsample(external, QUICK_MOLECULES) for external in sets]
    rows, seconds, domain, notes = [], {}, {}, {}
    for external in sets:
        comparisons = [c for c in COMPARISONS if c.dataset == external.name]
        targets = {c.measured: c.fedadmet_target(served) for c in comparisons}
        labs = {c.measured: c.lab_target(served) for c in comparisons}
        started = time.perf_counter()
        admet = cached_predictions(external.smiles, sorted({c.reference.endpoint for c in comparisons}), CACHE)
        seconds[f"{external.name}_admet_ai"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        endpoints = sorted({t.endpoint for t in [*targets.values(), *labs.values()] if t is not None})
        fed = profile(external.smiles, predictor=resolved.predictor, endpoints=endpoints, progress=False)
        seconds[f"{external.name}_fedadmet"] = round(time.perf_counter() - started, 1)
        in_domain = fed[IN_DOMAIN_COLUMN]
        domain[external.name] = {
            "molecules": len(fed),
            "out_of_domain": int((~in_domain.fillna(True)).sum()),
            "without_prediction": int(in_domain.isna().sum()),
        }
        notes[external.name] = external.notes
        for comparison in comparisons:
            rows.append(
                evaluate(
                    comparison,
                    targets[comparison.measured],
                    labs[comparison.measured],
                    external.labels[comparison.measured],
                    fed,
                    admet,
                    nominal=nominal,
                    resamples=resamples,
                )
            )
            print(_table_row(rows[-1]), flush=True)
    return {
        "summary": summarise(rows),
        "results": rows,
        "domain": domain,
        "notes": notes,
        "fedadmet_model": resolved.description,
        "fedadmet_version": fedadmet.__version__,
        "admet_ai_version": ADMET_AI_VERSION,
        "bootstrap_resamples": resamples,
        "seconds": seconds,
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def estimate_text(estimate: dict[str, float | None], signed: bool = False) -> str:
    if estimate["value"] is None:
        return "–"
    sign = "+" if signed else ""
    low = "–" if estimate["low"] is None else f"{estimate['low']:{sign}.3f}"
    high = "–" if estimate["high"] is None else f"{estimate['high']:{sign}.3f}"
    return f"{estimate['value']:{sign}.3f} [{low}, {high}]"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _domain_text(row: dict[str, Any]) -> str:
    inside, outside = row["domain"]["in"], row["domain"]["out"]
    text = (
        f"ρ {_number(inside['fedadmet_spearman'])} ({inside['n']}) / "
        f"{_number(outside['fedadmet_spearman'])} ({outside['n']})"
    )
    if row["mae"]["fedadmet"] is not None:
        text += f"; MAE {_number(inside['fedadmet_mae'])} / {_number(outside['fedadmet_mae'])}"
    return text


def _table_row(row: dict[str, Any]) -> str:
    spearman_ = row["spearman"]
    mae = row["mae"]
    mae_text = (
        "–"
        if mae["fedadmet"] is None and mae["admet_ai"] is None
        else f"{_number(mae['fedadmet'])} / {_number(mae['admet_ai'])}"
    )
    coverage = row["coverage"]
    coverage_text = (
        "–"
        if coverage["value"] is None
        else f"{coverage['value']:.2f} ({'direct' if coverage['method'].startswith('direct') else 'isotonic'})"
    )
    endpoint = (
        row["fedadmet_endpoint"]
        if row["fedadmet_endpoint"] == row["admet_ai_column"]
        else f"{row['fedadmet_endpoint']} / {row['admet_ai_column']}"
    )
    if row["direction"] < 0:
        endpoint = f"−{endpoint}"
    fed_text, admet_text = estimate_text(spearman_["fedadmet"]), estimate_text(spearman_["admet_ai"])
    if row["fedadmet_wins"]:
        fed_text = f"**{fed_text}**"
    else:
        admet_text = f"**{admet_text}**"
    cells = [
        TITLES[row["set"]],
        f"{row['measured']} ({row['unit']})",
        endpoint,
        f"{row['n']:,}",
        fed_text,
        admet_text,
        estimate_text(spearman_["difference"], signed=True),
        mae_text,
        coverage_text,
        _domain_text(row),
        "–"
        if row["lab_endpoint"] is None
        else f"{row['lab_endpoint']['endpoint']}: {_number(row['lab_endpoint']['spearman'])}",
    ]
    return "| " + " | ".join(cells) + " |"


def write_results(result: dict[str, Any], name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    summary = result["summary"]
    nominal = result["results"][0]["coverage"]["nominal"]
    lines = [
        f"# External validation — fedadmet {result['fedadmet_version']} vs ADMET-AI {result['admet_ai_version']}",
        "",
        f"fedadmet: {result['fedadmet_model_role']} ({Path(result['fedadmet_model']).name}). "
        "Neither tool was trained on these sets. Spearman of prediction vs measurement with paired bootstrap "
        "95 % intervals "
        f"({result['bootstrap_resamples']} resamples of molecules; Δ = fedadmet − ADMET-AI on the same draw). "
        "Bold: the higher Spearman.",
        "",
        "fedadmet wins (higher ρ): "
        + ", ".join(
            f"{TITLES[s]} {summary['wins'][s]} of {summary['endpoints'][s]} "
            f"(Δ interval above 0: {summary['clear_wins'][s]}, below 0: {summary['clear_losses'][s]})"
            for s in summary["wins"]
        )
        + ".",
        "",
        "| set | measured (unit) | endpoint (fedadmet / ADMET-AI column) | n | fedadmet ρ [95 % CI] "
        f"| ADMET-AI ρ [95 % CI] | Δ ρ [95 % CI] | MAE fedadmet / ADMET-AI | coverage of {nominal * 100:g} % intervals "
        "| fedadmet in / out of domain: ρ (n); MAE | fedadmet lab endpoint: ρ |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *(_table_row(row) for row in result["results"]),
        "",
        "## How each column is compared",
        "",
        "| set | measured | fedadmet endpoint | ADMET-AI column | MAE: conversion; scale | coverage | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["results"]:
        mae = row["mae"]
        mae_text = f"{mae['conversion']}; MAE on {mae['scale']}" if mae["conversion"] else "units differ: none"
        lines.append(
            f"| {TITLES[row['set']]} | {row['measured']} ({row['unit']}) | "
            f"{'−' if row['direction'] < 0 else ''}{row['fedadmet_endpoint']} | {row['admet_ai_column']} | "
            f"{mae_text} | {row['coverage']['method']} (n {row['coverage']['n']}) | {row['note'] or '–'} |"
        )
    lines += [
        "",
        "Spearman is taken of −prediction where the endpoint falls as the measurement rises (% bound against "
        "% unbound). A measurement counts only with an exact value (censored ones left out and counted) and "
        "predictions from both tools. The headline compares the TDC endpoint on both sides (trained on the same "
        "source); the served model's lab endpoint for the column, where it has one, is scored on the same "
        "molecules in the last column (benchmarks/external/mapping.py).",
        "",
        "## Data",
        "",
    ]
    for set_name, notes in result["notes"].items():
        counts = result["domain"][set_name]
        lines.append(
            f"- {TITLES[set_name]}: " + "; ".join(notes) + f"; {counts['out_of_domain']} of {counts['molecules']} "
            f"molecules outside fedadmet's applicability domain, {counts['without_prediction']} without a prediction."
        )
    for row in result["results"]:
        lines.append(
            f"- {TITLES[row['set']]} {row['measured']}: {row['rows_with_value']} values, "
            f"{row['censored_left_out']} censored (< or >) left out, {row['without_prediction']} molecules without "
            f"a prediction from one of the tools left out; n = {row['n']}."
        )
    seconds = result["seconds"]
    lines += [
        "",
        f"Command: `{result['command']}`; {result['machine']}; "
        + ", ".join(f"{key.replace('_', ' ')} {value} s" for key, value in seconds.items())
        + " (ADMET-AI's figure is a cache read when its inputs were predicted before).",
        "",
        f"![Spearman with 95 % intervals]({name}.png)",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    plot(result, RESULTS / f"{name}.png")


def plot(result: dict[str, Any], path: Path) -> None:
    """Spearman of both tools with their 95 % intervals, one panel per set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(result["summary"]["wins"])
    counts = [sum(row["set"] == name for row in result["results"]) for name in sets]
    figure, axes = plt.subplots(
        len(sets), 1, figsize=(8, 1.2 + 0.55 * sum(counts)), gridspec_kw={"height_ratios": counts}, squeeze=False
    )
    for axis, name in zip(axes[:, 0], sets, strict=True):
        rows = [row for row in result["results"] if row["set"] == name]
        positions = np.arange(len(rows))
        for offset, tool, colour in ((-0.15, "fedadmet", "tab:blue"), (0.15, "admet_ai", "tab:orange")):
            estimates = [
                Estimate(**{k: np.nan if v is None else v for k, v in row["spearman"][tool].items()}) for row in rows
            ]
            values = np.array([e.value for e in estimates])
            errors = np.array([[e.value - e.low for e in estimates], [e.high - e.value for e in estimates]])
            label = "fedadmet" if tool == "fedadmet" else f"ADMET-AI {result['admet_ai_version']}"
            axis.errorbar(values, positions + offset, xerr=errors, fmt="o", color=colour, label=label, capsize=3)
        axis.set_yticks(positions, [f"{row['measured']} (n {row['n']:,})" for row in rows])
        axis.invert_yaxis()
        axis.axvline(0, color="grey", linewidth=0.5)
        wins = result["summary"]["wins"][name]
        axis.set_title(f"{TITLES[name]}: fedadmet higher on {wins} of {len(rows)}", fontsize=10)
        axis.set_xlim(-0.3, 1.0)
    axes[-1, 0].set_xlabel("Spearman ρ, prediction vs measurement (95 % paired bootstrap interval)")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--resamples", type=int, default=1000, help="Bootstrap resamples of molecules.")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MOLECULES} molecules per set, 200 resamples.")
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="score this model folder instead of the served default model (e.g. another seed of its recipe); "
        "results go to external_<folder name>.{json,md,png}, leaving the served model's untouched",
    )
    args = parser.parse_args()
    if args.quick:
        args.resamples = 200
    started = time.perf_counter()
    result = run(args.data_dir, args.quick, args.resamples, args.model)
    result["seconds"]["total"] = round(time.perf_counter() - started, 1)
    options = (" --quick" if args.quick else "") + (f" --model {args.model}" if args.model else "")
    result |= {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "command": "python -m benchmarks.external.run" + options,
        "fedadmet_model_role": "the model folder given with --model" if args.model else "the served default model",
    }
    name = "external" + (f"_{args.model.resolve().name}" if args.model else "") + ("_quick" if args.quick else "")
    write_results(result, name)
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
