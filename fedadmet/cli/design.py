"""`fedadmet design`: run, resume and inspect design runs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fedadmet.cli.common import _OPTIONS, app, console, fail
from fedadmet.exceptions import FedadmetError

design_app = typer.Typer(help="Design molecules against an ADMET/Tox objective and read the trail.", **_OPTIONS)
app.add_typer(design_app, name="design")


@design_app.command("run")
def run(
    start: Annotated[Path, typer.Option(help="Starting molecules: CSV/TSV with a SMILES column, .smi or SD file.")],
    objective: Annotated[Path, typer.Option(help="Objective TOML: goals per endpoint, alerts, similarity, selection.")],
    budget: Annotated[int, typer.Option(help="Molecules to profile in all (starting molecules included).")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed: one seed, one trail.")] = 0,
    name: Annotated[str, typer.Option(help="Run name (default: design-<seed>).")] = "",
    model: Annotated[Path | None, typer.Option(help="Model folder (default: the default model).")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV of the designed molecules, best first (SMILES, scores).")
    ] = None,
) -> None:
    """Propose, filter, score and select molecules for --budget profiles; every generation is recorded."""
    from fedadmet.design.objective import load_objective
    from fedadmet.workflows.design import read_start_molecules, run_design

    try:
        molecules = read_start_molecules(start)
        result = run_design(molecules, load_objective(objective), budget=budget, seed=seed, name=name, model=model)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    _report(result.id, output)


@design_app.command("resume")
def resume(
    run_id: Annotated[int, typer.Argument(help="The design run to carry on.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="CSV of the designed molecules.")] = None,
) -> None:
    """Carry on a design run that stopped, from its last recorded generation."""
    from fedadmet.workflows.design import resume_design

    try:
        resume_design(run_id)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    _report(run_id, output)


@design_app.command("show")
def show(
    run_id: Annotated[int, typer.Argument(help="The design run.")],
    trail: Annotated[
        bool, typer.Option(help="Every candidate of every generation, with why it was kept or dropped.")
    ] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="CSV of the designed molecules.")] = None,
) -> None:
    """A design run's generations and best molecules (with --trail: every candidate and its reason)."""
    _report(run_id, output, trail=trail)


@design_app.command("score")
def score(
    objective: Annotated[Path, typer.Option(help="Objective TOML to score against.")],
    references: Annotated[
        Path | None, typer.Option(help="Molecules similarity is measured to (CSV/.smi/SD; default: none).")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Model folder (default: the default model).")] = None,
) -> None:
    """Score SMILES read from standard input, one per line, and print REINVENT 4's ExternalProcess JSON:
    {"version": 1, "payload": {"predictions": [...]}} (0 for a molecule that cannot be read or is dropped)."""
    import json
    import sys

    from fedadmet.design.objective import load_objective
    from fedadmet.workflows.design import read_start_molecules, score_molecules

    smiles = [line.strip() for line in sys.stdin if line.strip()]
    try:
        reference_smiles = read_start_molecules(references) if references is not None else []
        results = score_molecules(smiles, load_objective(objective), references=reference_smiles, model=model)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    sys.stdout.write(json.dumps({"version": 1, "payload": {"predictions": [result.score for result in results]}}))
    sys.stdout.write("\n")


@design_app.command("list")
def list_runs(limit: Annotated[int, typer.Option(help="Newest runs to list.")] = 20) -> None:
    """Design runs, newest first."""
    from fedadmet.workflows.design import list_design_runs

    table = Table("id", "name", "status", "seed", "budget", "created")
    for run in list_design_runs(limit):
        table.add_row(
            str(run.id), run.name, run.status, str(run.seed), str(run.budget), f"{run.created:%Y-%m-%d %H:%M}"
        )
    console.print(table)


def _report(run_id: int, output: Path | None, *, trail: bool = False) -> None:
    from fedadmet.data.output import write_csv
    from fedadmet.workflows.design import results_table, show_design

    try:
        run = show_design(run_id)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"design run {run.id} ({run.name}): {run.status}, {run.budget_used} of {run.budget} molecules profiled, "
        f"{len(run.generations)} generations, seed {run.seed}" + (f"; {run.message}" if run.message else ""),
        highlight=False,
    )
    statuses = ("start", "selected", "kept", "dropped")
    generations = Table("generation", "candidates", *statuses, "best in population")
    for generation in run.generations:
        counts = Counter(candidate.status for candidate in generation.candidates)
        best = max((member.score for member in generation.population), default=0.0)
        generations.add_row(
            str(generation.number),
            str(len(generation.candidates)),
            *(str(counts[status]) for status in statuses),
            f"{best:.3f}",
        )
    console.print(generations)
    if trail:
        candidates = Table("gen", "status", "score [range before the uncertainty penalty]", "SMILES", "operator", "why")
        for generation in run.generations:
            for candidate in generation.candidates:
                score = (
                    f"{candidate.score:.3f} [{candidate.score_low:.3f}, {candidate.score_high:.3f}]"
                    if candidate.score is not None
                    else ""
                )
                candidates.add_row(
                    str(generation.number),
                    candidate.status,
                    score,
                    candidate.smiles,
                    candidate.operator,
                    candidate.reason,
                )
        console.print(candidates)
    best = Table("rank", "score [range before the uncertainty penalty]", "SMILES", "generation")
    for rank, candidate in enumerate(run.ranked()[:10], start=1):
        best.add_row(
            str(rank),
            f"{candidate.score:.3f} [{candidate.score_low:.3f}, {candidate.score_high:.3f}]",
            candidate.smiles,
            str(candidate.generation),
        )
    console.print(best)
    if output is not None:
        write_csv(results_table(run), output)
        console.print(f"wrote {output}")
