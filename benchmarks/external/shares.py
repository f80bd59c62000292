"""How much should each part of the served model count on another lab's molecules? The bundled default model's
parts (trees, MLP trunk, graph member) blended with other shares than its own, each blend scored on ExpansionRx
and ASAP as benchmarks/external/run.py scores the served model (same molecules, mapping and ADMET-AI columns).

    .venv/bin/python -m benchmarks.external.shares     # 5 graph shares x 2 GBM weights, ~10 min

A prediction is ``g × graph + (1 − g) × (w × trees + (1 − w) × trunk)`` (fedadmet.models.blending); the served
model has g = 0.5 for the endpoints its graph member learned and w chosen on its scaffold validation part. Only
the blend changes here, not a trained part, so the table shows the best any blend of today's parts can do against
ADMET-AI. An investigation, not a choice: the served model's shares are not taken from these sets (choosing them
on the whole of ExpansionRx and reporting it there would overstate what a user sees).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

from benchmarks.external.run import DEFAULT_DATA, RESULTS, TITLES, run
from fedadmet.config import get_settings
from fedadmet.workflows.predictors import resolve_predictor

GRAPH_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
GBM_WEIGHTS = (1.0, 0.75)
RESAMPLES = 20  # the table reports point Spearman; the bootstrap is not read


def scan(graph_shares: tuple[float, ...], gbm_weights: tuple[float, ...]) -> dict[str, Any]:
    """Every (g, w) blend of the served model, scored on both external sets."""
    model = resolve_predictor(get_settings()).model  # the object the external benchmark resolves (loaded once)
    served = {
        "graph_weight": model.config.graph_weight,
        "gbm_weights": sorted({h.gbm_weight for h in model.heads.values()}),
    }
    blends, reference = [], {}
    for w in gbm_weights:
        for g in graph_shares:
            model.config = model.config.model_copy(update={"graph_weight": g})
            for head in model.heads.values():
                head.gbm_weight = w
            result = run(DEFAULT_DATA, False, RESAMPLES)
            scores = {}
            for row in result["results"]:
                column = f"{TITLES[row['set']]} {row['measured']}"
                scores[column] = row["spearman"]["fedadmet"]["value"]
                reference[column] = row["spearman"]["admet_ai"]["value"]
            blends.append({"graph_share": g, "gbm_weight": w, "spearman": scores})
            print(f"g {g} w {w}: " + ", ".join(f"{c} {v:.3f}" for c, v in scores.items()), flush=True)
    return {"served": served, "admet_ai": reference, "blends": blends}


def _wins(scores: dict[str, float], reference: dict[str, float], set_title: str) -> int:
    return sum(scores[c] > reference[c] for c in scores if c.startswith(set_title))


def write_results(result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "external_shares.json").write_text(json.dumps(result, indent=2) + "\n")
    reference = result["admet_ai"]
    columns = list(reference)
    sets = list(TITLES.values())
    best = {c: max(b["spearman"][c] for b in result["blends"]) for c in columns}
    lines = [
        "# The served model's parts in other shares, on ExpansionRx and ASAP (issue 23)",
        "",
        "Spearman of each blend `g × graph + (1 − g) × (w × trees + (1 − w) × trunk)` of the bundled default model's "
        f"trained parts (served: g = {result['served']['graph_weight']}, w = {result['served']['gbm_weights']}), "
        "on the molecules and columns of benchmarks/results/external.md. Bold: above ADMET-AI; a column's best "
        "blend underlined. Not used to choose the served shares.",
        "",
        "| g | w | " + " | ".join(columns) + " | " + " | ".join(f"wins {s}" for s in sets) + " |",
        "|---|---|" + "---|" * (len(columns) + len(sets)),
    ]
    for blend in result["blends"]:
        cells = []
        for column in columns:
            value = blend["spearman"][column]
            text = f"**{value:.3f}**" if value > reference[column] else f"{value:.3f}"
            cells.append(f"<u>{text}</u>" if value == best[column] else text)
        wins = [f"{_wins(blend['spearman'], reference, s)} of {sum(c.startswith(s) for c in columns)}" for s in sets]
        lines.append(f"| {blend['graph_share']} | {blend['gbm_weight']} | " + " | ".join(cells + wins) + " |")
    lines.append("| ADMET-AI | | " + " | ".join(f"{reference[c]:.3f}" for c in columns) + " |" + " |" * len(sets))
    most = {s: max(_wins(b["spearman"], reference, s) for b in result["blends"]) for s in sets}
    lines += [
        "",
        "The most columns any one blend wins: " + ", ".join(f"{s} {most[s]}" for s in sets) + ".",
        "",
        f"Command: `{result['command']}`; {result['machine']}; {result['seconds']:.0f} s.",
    ]
    (RESULTS / "external_shares.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    started = time.perf_counter()
    result = scan(GRAPH_SHARES, GBM_WEIGHTS)
    result |= {
        "command": "python -m benchmarks.external.shares",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_results(result)


if __name__ == "__main__":
    main()
