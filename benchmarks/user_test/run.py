"""What a user test found in the default model's answers (issue 23, point 5), measured on the served
default model and the public data it was trained on.

    .venv/bin/python -m benchmarks.user_test.run         # make benchmark-user-test; ~10 min on two cores

Writes benchmarks/results/user_test.{json,md}:

- ``forms``: per endpoint, how the public training data write their compounds (salts, ions, isotope
  labels) and whether the label goes with the form: the evidence behind featurising the standardised
  parent for every endpoint;
- ``same_compound``: one compound written several ways, predicted from its input form (as before) and
  from its parent (now); ``approved_clintox``: DrugBank approved drugs with ClinTox > 0.5, both ways;
- ``intervals``: per regression endpoint, on the model's scaffold-held-out validation part, the 90 %
  intervals' coverage and median width, split-conformal on one half and measured on the other (20
  random halvings), for plain, disagreement-normalised (served) and Mondrian-by-domain intervals; and
  values or bounds outside the catalogue's range over the approved drugs, unclipped vs served;
- ``domain``: the user test's drugs, overall and per endpoint; ``misses``: amoxicillin's HIA and
  metformin's Ames call, with their nearest training molecules.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from fedadmet.config import get_settings
from fedadmet.data.catalogue import CATALOGUE, TDC_BENCHMARK_ENDPOINTS, get_endpoint
from fedadmet.data.loaders import MoleculeTable, load_tdc, read_table, table_from_frame
from fedadmet.data.public import TOX21_ASSAYS, approved_drugs, bundled_path, served_training_frames
from fedadmet.data.splits import split_for_validation
from fedadmet.workflows.predictors import resolve_predictor
from fedadmet.workflows.profiling import ERROR_COLUMN, profile

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
COVERAGE = 0.9
HALVINGS = 20
DOMAIN_BINS = 3  # Mondrian: equal-count bins of the endpoint's own domain similarity

SAME_COMPOUND = {
    "ibuprofen": {
        "acid": "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
        "carboxylate": "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1",
        "sodium salt": "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+]",
    },
    "sertraline": {
        "base": "CN[C@H]1CC[C@@H](c2ccc(Cl)c(Cl)c2)c2ccccc21",
        "HCl salt": "CN[C@H]1CC[C@@H](c2ccc(Cl)c(Cl)c2)c2ccccc21.Cl",
    },
    "metformin": {"base": "CN(C)C(=N)N=C(N)N", "HCl salt": "CN(C)C(=N)N=C(N)N.Cl"},
    "urea": {"unlabelled": "NC(N)=O", "14C": "N[14C](N)=O"},
    "nicotine": {"unlabelled": "CN1CCC[C@H]1c1cccnc1", "d3": "[2H]C([2H])([2H])N1CCC[C@H]1c1cccnc1"},
}
USER_DRUGS = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "diazepam": "CN1C(=O)CN=C(c2ccccc2)c2cc(Cl)ccc21",
    "carbamazepine": "NC(=O)N1c2ccccc2C=Cc2ccccc21",
    "paracetamol": "CC(=O)Nc1ccc(O)cc1",
    "amoxicillin": "CC1(C)S[C@@H]2[C@H](NC(=O)[C@@H](N)c3ccc(O)cc3)C(=O)N2[C@H]1C(=O)O",
    "metformin": "CN(C)C(=N)N=C(N)N",
}
SHOWN = ("ClinTox", "Solubility_AqSolDB", "Half_Life_Obach", "AMES", "hERG", "HIA_Hou")


def public_tables() -> dict[str, tuple[MoleculeTable, str]]:
    """Every public set the default model trains on, as read tables (parents and forms) with the label column."""
    settings = get_settings()
    limits, parallel = settings.molecule_limits(), settings.parallel(False)
    tables: dict[str, tuple[MoleculeTable, str]] = {}
    for name, endpoint in TDC_BENCHMARK_ENDPOINTS.items():
        parts = [
            load_tdc(bundled_path("tdc_admet_group", name, f"{p}.csv.gz"), limits=limits, parallel=parallel)
            for p in ("train_val", "test")
        ]
        tables[endpoint.name] = (
            MoleculeTable(pd.concat([p.frame for p in parts], ignore_index=True), ["Y"], [], name),
            "Y",
        )
    for name in ("CYP1A2_Veith", "CYP2C19_Veith"):
        path = bundled_path("tdc_single_pred_extra", f"{name.lower()}.csv.gz")
        tables[name] = (load_tdc(path, limits=limits, parallel=parallel), "Y")
    tox21 = table_from_frame(
        read_table(bundled_path("moleculenet", "tox21.csv.gz")),
        "smiles",
        list(TOX21_ASSAYS),
        "tox21",
        limits=limits,
        parallel=parallel,
    )
    tables |= {assay: (tox21, assay) for assay in TOX21_ASSAYS}
    clintox = table_from_frame(
        read_table(bundled_path("moleculenet", "clintox.csv.gz")),
        "smiles",
        ["CT_TOX", "FDA_APPROVED"],
        "clintox",
        limits=limits,
        parallel=parallel,
    )
    tables["ClinTox"] = (clintox, "CT_TOX")
    return tables


def form_kind(parent: str, form: str) -> str:
    if "." in form:
        return "salt or mixture"
    if form == parent:
        return "as parent"
    return "isotope-labelled" if "[" in form and any(c.isdigit() for c in form.split("[", 1)[1][:2]) else "ion"


def forms_evidence(tables: dict[str, tuple[MoleculeTable, str]]) -> dict[str, dict[str, object]]:
    """Per endpoint: rows written otherwise than their parent, the label by how a row is written, and
    the parents whose forms carry different labels."""
    out = {}
    for name, (table, column) in tables.items():
        rows = table.valid[table.valid[column].notna()]
        kinds = [form_kind(p, f) for p, f in zip(rows["smiles"], rows["form"], strict=True)]
        y = rows[column].astype(float).to_numpy()
        endpoint = get_endpoint(name)
        model_y = endpoint.to_model_scale(y) if not endpoint.is_classification else y
        frame = pd.DataFrame({"parent": rows["smiles"].to_numpy(), "kind": kinds, "y": model_y})
        by_kind = frame.groupby("kind")["y"].agg(["size", "mean"]).round(3)
        several = frame.groupby("parent").filter(lambda g: len(g) > 1)
        spread = several.groupby("parent")["y"].agg(lambda v: float(v.max() - v.min()))
        out[name] = {
            "rows": len(frame),
            "not_as_parent": int((frame["kind"] != "as parent").sum()),
            "label_by_form": {
                kind: {"rows": int(r["size"]), "mean_label": float(r["mean"])} for kind, r in by_kind.iterrows()
            },
            "parents_with_several_rows": int(spread.size),
            "of_which_labels_differ": int((spread > (0 if endpoint.is_classification else 0.3)).sum()),
        }
    clintox, _ = tables["ClinTox"]
    rows = clintox.valid
    charged = np.array([form_kind(p, f) != "as parent" for p, f in zip(rows["smiles"], rows["form"], strict=True)])
    out["ClinTox"]["charged_share"] = {
        "failed_for_toxicity": round(float(charged[rows["CT_TOX"].astype(float) == 1].mean()), 3),
        "not_failed": round(float(charged[rows["CT_TOX"].astype(float) == 0].mean()), 3),
        "fda_approved": round(float(charged[rows["FDA_APPROVED"].astype(float) == 1].mean()), 3),
    }
    return out


def by_form(model: object, smiles: list[str]) -> pd.DataFrame:
    """Predictions from each input's own form (all fragments, charges and labels), as before."""
    canonical = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in smiles]
    raw = model.predict_smiles(canonical)  # type: ignore[attr-defined]
    return pd.DataFrame({name: raw.values[name] for name in SHOWN}, index=smiles)


def same_compound(model: object) -> dict[str, object]:
    texts = [s for forms in SAME_COMPOUND.values() for s in forms.values()]
    before = by_form(model, texts)
    after = profile(texts, predictor=model).set_index("input_smiles")  # type: ignore[arg-type]
    out: dict[str, object] = {}
    for compound, forms in SAME_COMPOUND.items():
        out[compound] = {
            written: {
                name: {"before": round(float(before.loc[s, name]), 3), "now": round(float(after.loc[s, name]), 3)}
                for name in SHOWN
            }
            for written, s in forms.items()
        }
    return out


def approved_clintox(model: object) -> dict[str, object]:
    drugs = approved_drugs()["smiles"].tolist()
    now = profile(drugs, predictor=model)  # type: ignore[arg-type]
    ok = now[now[ERROR_COLUMN].isna()]
    before = by_form(model, ok["input_smiles"].tolist())
    return {
        "drugs": len(ok),
        "share_clintox_over_0.5_before": round(float((before["ClinTox"] > 0.5).mean()), 3),
        "share_clintox_over_0.5_now": round(float((ok["ClinTox"] > 0.5).mean()), 3),
        "aspirin_now": round(float(profile([USER_DRUGS["aspirin"]], predictor=model)["ClinTox"].iloc[0]), 3),  # type: ignore[arg-type]
        "profile": ok,
    }


def bounds_violations(model: object, approved: pd.DataFrame) -> dict[str, object]:
    """Values and interval bounds outside the catalogue's range over the approved drugs: unclipped (as
    before for every endpoint but PPBR) and as served."""
    out = {}
    for name in model.endpoints:  # type: ignore[attr-defined]
        endpoint = get_endpoint(name)
        if endpoint.is_classification:
            continue
        low, high = endpoint.value_range
        centre = endpoint.to_model_scale(approved[name].to_numpy(float))
        half = approved[f"{name}_uncertainty"].to_numpy(float)
        raw_low, raw_high = endpoint.from_model_scale(centre - half), endpoint.from_model_scale(centre + half)
        served = approved[[name, f"{name}_lower", f"{name}_upper"]].to_numpy(float)
        out[name] = {
            "range": [low, high],
            "unclipped_outside": int(((raw_low < low) | (raw_high > high)).sum()),
            "unclipped_extremes": [float(f"{raw_low.min():.3g}"), float(f"{raw_high.max():.3g}")],
            "served_outside": int(((served < low) | (served > high)).any(axis=1).sum()),
            "median_width_model_scale": round(float(np.median(2 * half)), 3),
        }
    return out


def _quantile(scores: np.ndarray) -> float:
    n = len(scores)
    return float(np.quantile(scores, min(1.0, np.ceil((n + 1) * COVERAGE) / n)))


def intervals(model: object) -> dict[str, object]:
    """Coverage and median width of split-conformal intervals on the model's validation part (the split of the
    very frames the served recipe trained on: curated, one row per parent)."""
    names = [n for n in model.endpoints if not get_endpoint(n).is_classification]  # type: ignore[attr-defined]
    frames = served_training_frames(model.endpoints).frames  # type: ignore[attr-defined]
    meta = model.metadata  # type: ignore[attr-defined]
    _, valid = split_for_validation(frames, float(meta["valid_fraction"]), int(model.config.seed))  # type: ignore[attr-defined]
    molecules = sorted({s for n in names for s in valid[n]["smiles"]})
    features, graphs = model.featurize(molecules), model.graphs_for(molecules)  # type: ignore[attr-defined]
    components = model.head_components(features, graphs)  # type: ignore[attr-defined]
    domain = model.predict_features(features, graphs).endpoint_domain  # type: ignore[attr-defined]
    row = {s: i for i, s in enumerate(molecules)}
    rng = np.random.default_rng(0)
    out = {}
    for name in names:
        endpoint, head = get_endpoint(name), model.heads[name]  # type: ignore[attr-defined]
        frame = valid[name]  # one label per parent: the mean on the model scale, as training takes it
        per_parent = pd.Series(endpoint.to_model_scale(frame["y"].to_numpy(float))).groupby(frame["smiles"].to_numpy())
        truth = per_parent.mean().to_numpy()
        index = np.array([row[s] for s in per_parent.mean().index], dtype=int)
        if len(index) < 40:  # two halves of at least 20
            continue
        parts = components[name]
        predicted = parts.blend(head.gbm_weight, model.config.graph_weight)[index]  # type: ignore[attr-defined]
        error = np.abs(truth - predicted)
        disagreement = parts.disagreement[index]
        similarity = domain[name][index]
        methods: dict[str, list[tuple[float, float]]] = {
            "plain": [],
            "disagreement (served)": [],
            "mondrian by domain + disagreement": [],
        }
        for _ in range(HALVINGS):
            calibrate = rng.permutation(len(truth)) < len(truth) // 2
            test = ~calibrate
            for method in methods:
                if method == "plain":
                    sigma = np.ones_like(error)
                else:
                    sigma = disagreement + np.median(disagreement[calibrate]) + 1e-6
                scores = error / sigma
                if method.startswith("mondrian"):
                    edges = np.quantile(similarity[calibrate], np.linspace(0, 1, DOMAIN_BINS + 1)[1:-1])
                    bins = np.digitize(similarity, edges)
                    half = np.zeros_like(error)
                    for b in range(DOMAIN_BINS):
                        in_bin = scores[calibrate & (bins == b)]  # too few: the whole half's quantile
                        q = _quantile(in_bin if len(in_bin) >= 10 else scores[calibrate])
                        half[bins == b] = q * sigma[bins == b]
                else:
                    half = _quantile(scores[calibrate]) * sigma
                low, high = endpoint.to_model_scale(np.array(endpoint.value_range))
                lower, upper = np.maximum(predicted - half, low), np.minimum(predicted + half, high)
                covered = (truth[test] >= lower[test]) & (truth[test] <= upper[test])
                methods[method].append((float(covered.mean()), float(np.median(upper[test] - lower[test]))))
        out[name] = {"n": len(truth)} | {
            method: {
                "coverage": round(float(np.mean([c for c, _ in runs])), 3),
                "median_width": round(float(np.mean([w for _, w in runs])), 3),
            }
            for method, runs in methods.items()
        }
    return out


def nearest(
    tables: dict[str, tuple[MoleculeTable, str]], endpoint: str, smiles: str, k: int = 5
) -> list[dict[str, object]]:
    table, column = tables[endpoint]
    rows = table.valid[table.valid[column].notna()]
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    query = generator.GetFingerprint(Chem.MolFromSmiles(smiles))
    fingerprints = [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in rows["smiles"]]
    similarity = np.array(DataStructs.BulkTanimotoSimilarity(query, fingerprints))
    order = np.argsort(-similarity)[:k]
    return [
        {
            "smiles": rows["smiles"].iloc[i],
            "label": float(rows[column].iloc[i]),
            "similarity": round(float(similarity[i]), 3),
        }
        for i in order
    ]


def domain_and_misses(model: object, tables: dict[str, tuple[MoleculeTable, str]]) -> dict[str, object]:
    result = profile(list(USER_DRUGS.values()), predictor=model).set_index("input_smiles")  # type: ignore[arg-type]
    drugs = {}
    for drug, smiles in USER_DRUGS.items():
        parent = result.loc[smiles, "smiles"]
        trained = [n for n in CATALOGUE if n in tables and parent in set(tables[n][0].labelled(tables[n][1])["smiles"])]
        drugs[drug] = {
            "applicability_domain": round(float(result.loc[smiles, "applicability_domain"]), 3),
            "in_domain": bool(result.loc[smiles, "in_domain"]),
            "in_training_of": trained,
            "in_domain_for_those": all(bool(result.loc[smiles, f"{n}_in_domain"]) for n in trained),
            "out_of_domain_endpoints": [n for n in model.endpoints if not result.loc[smiles, f"{n}_in_domain"]],  # type: ignore[attr-defined]
        }
    misses = {
        "amoxicillin HIA_Hou": {
            "now": round(float(result.loc[USER_DRUGS["amoxicillin"], "HIA_Hou"]), 3),
            "HIA_Hou_domain": round(float(result.loc[USER_DRUGS["amoxicillin"], "HIA_Hou_domain"]), 3),
            "nearest_training": nearest(tables, "HIA_Hou", USER_DRUGS["amoxicillin"]),
        },
        "metformin AMES": {
            "now": round(float(result.loc[USER_DRUGS["metformin"], "AMES"]), 3),
            "AMES_domain": round(float(result.loc[USER_DRUGS["metformin"], "AMES_domain"]), 3),
            "nearest_training": nearest(tables, "AMES", USER_DRUGS["metformin"]),
        },
    }
    return {"drugs": drugs, "misses": misses}


def profile_speed(model: object) -> dict[str, float]:
    """Milliseconds per molecule for the full profile of 500 approved drugs (one process, after a warm-up)."""
    drugs = approved_drugs()["smiles"].tolist()[:500]
    profile(drugs[:20], predictor=model)  # type: ignore[arg-type]
    started = time.perf_counter()
    profile(drugs, predictor=model)  # type: ignore[arg-type]
    total = (time.perf_counter() - started) / len(drugs) * 1e3
    features = model.featurize(drugs[:200])  # type: ignore[attr-defined]
    morgan = features[:, model.feature_set.block("morgan")]  # type: ignore[attr-defined]
    started = time.perf_counter()
    model.domain.score(morgan)  # type: ignore[attr-defined]
    domain = (time.perf_counter() - started) / len(morgan) * 1e3
    return {"profile_ms_per_molecule": round(total, 2), "domain_ms_per_molecule": round(domain, 2)}


def _row(*cells: object) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# User test (issue 23, point 5): the default model's answers",
        "",
        f"Command: `python -m benchmarks.user_test.run`; {result['machine']}.",
        "",
        "## How the public training sets write compounds (labels: model scale)",
        "",
        _row("endpoint", "rows", "not as parent", "parents with several rows", "of which labels differ", "by form"),
        _row(*["---"] * 6),
    ]
    for name, entry in result["forms"].items():
        by = "; ".join(f"{k}: {v['rows']} rows, mean {v['mean_label']:g}" for k, v in entry["label_by_form"].items())
        cells = (entry["rows"], entry["not_as_parent"], entry["parents_with_several_rows"])
        lines.append(_row(name, *cells, entry["of_which_labels_differ"], by))
    shares = result["forms"]["ClinTox"]["charged_share"]
    lines += ["", f"Share of ClinTox rows written as a salt or an ion: {shares}", ""]
    lines += [
        "## One compound, several spellings (before: every endpoint on the input form as drawn → now: the served"
        " profile, the parent for every endpoint but solubility, which belongs to the form)",
        "",
        _row("compound", "written as", *SHOWN),
        _row(*["---"] * (2 + len(SHOWN))),
    ]
    for compound, forms in result["same_compound"].items():
        for written, values in forms.items():
            lines.append(_row(compound, written, *(f"{v['before']:g} → {v['now']:g}" for v in values.values())))
    clintox = result["approved_clintox"]
    lines += [
        "",
        f"Approved drugs with ClinTox > 0.5: {clintox['share_clintox_over_0.5_before']:.1%} before, "
        f"{clintox['share_clintox_over_0.5_now']:.1%} now ({clintox['drugs']} drugs); "
        f"aspirin now {clintox['aspirin_now']}.",
        "",
        "## Intervals: range violations over the approved drugs",
        "",
        _row(
            "endpoint", "range", "unclipped rows outside", "unclipped extremes", "served rows outside", "median width"
        ),
        _row(*["---"] * 6),
    ]
    for name, entry in result["bounds"].items():
        cells = (entry["range"], entry["unclipped_outside"], entry["unclipped_extremes"], entry["served_outside"])
        lines.append(_row(name, *cells, entry["median_width_model_scale"]))
    methods = ["plain", "disagreement (served)", "mondrian by domain + disagreement"]
    lines += [
        "",
        f"## Intervals on the validation part: coverage / median width (model scale), {HALVINGS} halvings",
        "",
        _row("endpoint", "n", *methods),
        _row(*["---"] * (2 + len(methods))),
    ]
    for name, entry in result["intervals"].items():
        cells = (f"{entry[m]['coverage']:.3f} / {entry[m]['median_width']:.2f}" for m in methods)
        lines.append(_row(name, entry["n"], *cells))
    lines += ["", "## Applicability domain of the user test's drugs; misses", "", "```"]
    lines += [json.dumps(result["domain"], indent=1), "```", "", f"Speed: {result['speed']}", ""]
    return "\n".join(lines)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    model = resolve_predictor(get_settings()).model
    tables = public_tables()
    approved = approved_clintox(model)
    result: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "forms": forms_evidence(tables),
        "same_compound": same_compound(model),
        "approved_clintox": {k: v for k, v in approved.items() if k != "profile"},
        "bounds": bounds_violations(model, approved["profile"]),  # type: ignore[arg-type]
        "intervals": intervals(model),
        "domain": domain_and_misses(model, tables),
        "speed": profile_speed(model),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "user_test.json").write_text(json.dumps(result, indent=1, default=str))
    (RESULTS / "user_test.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
