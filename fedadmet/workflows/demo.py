"""The five-minute tour behind `make demo`: real predictions on bundled molecules, summarised."""

from __future__ import annotations

import time
from collections import Counter

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fedadmet.config import Settings
from fedadmet.data.public import approved_drugs, example_molecules_path
from fedadmet.inference import default_model_dir, load_model
from fedadmet.workflows.profiling import ALERTS_COLUMN, DOMAIN_COLUMN, ERROR_COLUMN, IN_DOMAIN_COLUMN, profile

SHOWN = ("Solubility_AqSolDB", "Lipophilicity_AstraZeneca", "BBB_Martins", "CYP3A4_Veith", "hERG", "AMES", "DILI")


def run_demo(console: Console, settings: Settings) -> None:
    """`fedadmet demo`: profiles written under the settings' home, summaries printed to ``console``."""
    out_dir = settings.home / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = default_model_dir(settings)
    model = load_model(folder)
    console.rule("[bold]fedadmet tour")
    console.print(f"model: {folder} — {len(model.endpoints)} endpoints, trunk + GBM heads, calibrated")

    console.rule("1. example molecules (including three bad rows)")
    examples = pd.read_csv(example_molecules_path(), keep_default_na=False, na_values=[""])
    examples_profile = profile(examples, predictor=model, smiles_column="smiles")
    examples_profile.to_csv(out_dir / "example_profiles.csv", index=False)
    shown = [name for name in SHOWN if name in model.heads] or model.endpoints[:7]
    console.print(example_table(examples_profile, shown))
    console.print(f"full profiles ({len(examples_profile.columns)} columns) in {out_dir / 'example_profiles.csv'}")

    console.rule("2. all approved drugs (DrugBank)")
    drugs = approved_drugs()
    started = time.perf_counter()
    drug_profile = profile(drugs, predictor=model, smiles_column="smiles")
    seconds = time.perf_counter() - started
    drug_profile.to_csv(out_dir / "approved_drug_profiles.csv", index=False)
    ok = drug_profile[drug_profile[ERROR_COLUMN].isna()]
    console.print(f"{len(ok)} of {len(drugs)} drugs profiled in {seconds:.1f} s ({len(drugs) / seconds:.0f} mol/s)")
    summary = Table("endpoint", "unit", "median", "share flagged")
    for name in shown:
        endpoint = model.heads[name].endpoint
        flagged = f"{(ok[name] > 0.5).mean():.0%} p>0.5" if endpoint.is_classification else "-"
        summary.add_row(name, endpoint.unit, f"{ok[name].median():.3g}", flagged)
    console.print(summary)
    outside = int((ok[IN_DOMAIN_COLUMN] == False).sum())  # noqa: E712 (object column)
    console.print(f"outside the applicability domain: {outside} ({outside / max(len(ok), 1):.0%})")
    alerts = Counter(a for cell in ok[ALERTS_COLUMN].dropna() for a in cell.split("; ") if a)
    console.print("most frequent structural alerts: " + ", ".join(f"{a} ({n})" for a, n in alerts.most_common(5)))
    console.print(f"profiles in {out_dir / 'approved_drug_profiles.csv'}")


def example_table(frame: pd.DataFrame, shown: list[str], first: int = 12) -> Table:
    """The ``first`` rows of a profile and every refused row after them, each once, a refusal with its
    whole reason (the cell wraps)."""
    refused_later = frame.iloc[first:][frame.iloc[first:][ERROR_COLUMN].notna()]
    table = Table("name", *(name.split("_")[0] for name in shown), "domain", "alerts / error")
    for _, row in pd.concat([frame.head(first), refused_later]).iterrows():
        table.add_row(*_row_cells(row, shown))
    return table


def _row_cells(row: pd.Series, shown: list[str]) -> list[str]:
    name = str(row.get("name", ""))[:28]
    if isinstance(row[ERROR_COLUMN], str):
        return [name, *("-" for _ in shown), "-", f"[red]{escape(row[ERROR_COLUMN])}[/]"]
    cells = [f"{row[n]:.2f}" for n in shown]
    domain = f"{row[DOMAIN_COLUMN]:.2f}" + ("" if row[IN_DOMAIN_COLUMN] else " [yellow]out[/]")
    alerts = row[ALERTS_COLUMN] or ""
    return [name, *cells, domain, alerts[:60]]
