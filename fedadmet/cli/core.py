"""Core commands: predict, train, endpoints, demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from fedadmet.cli.common import app, console, errors, fail
from fedadmet.exceptions import FedadmetError, InputError

if TYPE_CHECKING:
    from fedadmet.workflows.training import ADMETModel

STDIO = "-"  # as a file name: standard input or output
FAILURES_SHOWN = 20  # rows whose reason is printed; the rest are in the output's error column


@app.command()
def predict(
    input_path: Annotated[
        Path,
        typer.Argument(
            help="CSV/TSV with a SMILES column, a SMILES file (.smi) or an SD file (.sdf, .sd); each may be gzipped. "
            "- reads standard input (SD records, a table whose header names the SMILES column, or SMILES lines)."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="CSV to write (.csv, or .csv.gz to compress), one row per input row; - writes it to standard "
            "output (messages then go to standard error).",
        ),
    ],
    smiles_column: Annotated[
        str | None, typer.Option(help="SMILES column (default: found by name: smiles, Drug, IsomericSMILES, ...).")
    ] = None,
    endpoints: Annotated[
        str | None,
        typer.Option(
            help="Only these endpoints, comma-separated, as `fedadmet endpoints` names them (default: all); "
            "faster, and the output has only their columns."
        ),
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Model folder (default: the default model).")] = None,
    partner: Annotated[
        Path | None,
        typer.Option(
            help="Instead of --model: a federation partner's prepared folder, to predict its endpoints with the "
            "model it kept from a federated run (calibrated and given a domain on its own data; needs --key)."
        ),
    ] = None,
    key: Annotated[
        Path | None, typer.Option(help="With --partner: the consortium key file it was prepared with.")
    ] = None,
    run: Annotated[
        str | None,
        typer.Option(
            help="With --partner: the run whose model to use, by id, or as NAME/ID where two consortia's ids "
            "collide (default: the best on validation of the runs federated without DP)."
        ),
    ] = None,
) -> None:
    """Predict every endpoint with uncertainty, applicability domain and structural alerts.

    Output columns, after every input column (one an output takes is kept as input_<name>):
    smiles: the standardised parent, whose identity the prediction is for;
    standardisation: what changed on the way to it (salt or solvent fragments removed, charges neutralised,
    isotope labels dropped), and a caveat for a radical (profiled as drawn, though the models learned from
    closed-shell molecules); every endpoint is predicted for the parent;
    <endpoint>: the value, in the unit `fedadmet endpoints` lists (classifiers: a probability);
    <endpoint>_uncertainty: classifiers, the probability that the call is wrong;
    regressors, the half-width of the 90 % conformal interval on the model's scale (log10 for log-scaled
    endpoints), and <endpoint>_lower / <endpoint>_upper: that interval in the value's unit, within the
    endpoint's range; <endpoint>_domain / <endpoint>_in_domain: similarity to that endpoint's own training
    molecules and whether it reaches the endpoint's threshold;
    applicability_domain, in_domain (to any training molecule), alerts (PAINS/Brenk/NIH), and error: why a
    row has no prediction.
    """
    from fedadmet.config import get_settings
    from fedadmet.data.loaders import read_molecules, read_unnamed_molecules
    from fedadmet.data.output import check_output_path, write_csv
    from fedadmet.workflows.predictors import check_choice, resolve_predictor
    from fedadmet.workflows.profiling import choose_endpoints, listed_endpoints, profile, summarise

    try:
        check_choice(model=model, partner=partner, key=key, run=run)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    to_stdout = str(output) == STDIO
    messages = errors if to_stdout else console  # standard output carries the table alone
    if not to_stdout and not output.name.lower().endswith((".csv", ".csv.gz")):
        raise fail(f"--output must name a .csv or .csv.gz file (or - for standard output), got {output.name!r}")
    try:
        if not to_stdout:
            check_output_path(output, input_path)
        if str(input_path) == STDIO:
            frame = read_unnamed_molecules(sys.stdin.buffer.read(), smiles_column)
        else:
            frame = read_molecules(input_path, smiles_column)
        resolved = resolve_predictor(get_settings(), model=model, partner=partner, key=key, run=run)
        for caveat in resolved.caveats:
            errors.print(f"[bold yellow]warning:[/] {caveat.message}", highlight=False)
        chosen = choose_endpoints(resolved.predictor.endpoints, listed_endpoints(endpoints))
        messages.print(f"model: {resolved.description} ({len(chosen)} endpoints)", highlight=False)
        result = profile(frame, predictor=resolved.predictor, endpoints=chosen, smiles_column=smiles_column)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    if to_stdout:
        result.to_csv(sys.stdout, index=False)
    else:
        write_csv(result, output)
    summary = summarise(result)
    destination = "standard output" if to_stdout else output
    counts = f"{summary.predicted} of {summary.rows} rows predicted, {summary.out_of_domain} outside the domain"
    messages.print(f"wrote {destination}: {counts}")
    for row, reason in summary.failures[:FAILURES_SHOWN]:
        messages.print(f"  row {row}: {reason}", highlight=False)
    if len(summary.failures) > FAILURES_SHOWN:
        more = len(summary.failures) - FAILURES_SHOWN
        messages.print(f"  ... and {more} more rows with errors (see the 'error' column)")
    if summary.predicted == 0:
        raise fail("no row of the input could be predicted", code=1)


@app.command()
def train(
    data: Annotated[
        Path | None, typer.Argument(help="File or folder of labelled data (default: the bundled public data).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Model folder to write (replaced as a whole once training succeeds). Default: "
            "the folder models/default in FEDADMET_HOME, which then becomes the model predict, demo and serve use.",
        ),
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="Endpoint of a TDC-format file (Drug, Y).")] = None,
    smiles_column: Annotated[str | None, typer.Option(help="SMILES column of a wide table.")] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            help="COLUMN=ENDPOINT: train ENDPOINT on a column named otherwise (repeatable); columns named after "
            "an endpoint, in any spelling, are found without it."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    gbm_iterations: Annotated[
        int | None, typer.Option(min=10, help="CatBoost iterations per endpoint (default: the benchmarked 1000).")
    ] = None,
    side_tasks: Annotated[
        bool,
        typer.Option(
            help="Give every endpoint's trees the predictions of networks trained on the bundled public side data "
            "(PharmaBench, CYP1A2/2C19, Tox21, ClinTox), as in the benchmarked model; adds a few minutes."
        ),
    ] = True,
) -> None:
    """Train a model (trunk + heads for every endpoint found) and save it without pickle."""
    from fedadmet.config import get_settings
    from fedadmet.workflows.training import check_model_destination, load_training_data, recipe_for, train_and_save

    settings = get_settings()
    destination = output or settings.trained_model_dir
    try:
        check_model_destination(destination)  # before the data: a wrong -o must not cost a whole run
        if data is None:
            console.print(
                "loading the bundled public data (TDC ADMET group train_val and test, PharmaBench, CYP1A2/2C19, "
                "Tox21, ClinTox): the served recipe"
            )
        training = load_training_data(data, endpoint, smiles_column, _label_mapping(label or []))
        if training.curation:
            console.print(
                f"  removed {training.curation['external_validation_molecules_removed']} molecules of the external "
                "validation sets (ExpansionRx, ASAP); rows of one parent merged per endpoint"
            )
        for file, column, name in training.labels:
            console.print(f"  {file}: {column} → {name}", highlight=False)
        for file, columns in training.ignored.items():
            console.print(f"  {file}: ignored column(s) {', '.join(columns)} (use --label to train on one)")
        frames = training.frames
        endpoints = f"{len(frames)} endpoint{'' if len(frames) == 1 else 's'}"
        console.print(f"training on {endpoints}, {sum(len(f) for f in frames.values())} labelled rows")
        recipe = recipe_for(training, seed=seed, side_tasks=side_tasks, gbm_iterations=gbm_iterations)
        trained = train_and_save(
            training, recipe, destination, settings.feature_cache_dir, settings.progress, announce=console.print
        )
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    console.print(_validation_table(trained.model))
    console.print(f"saved model to {trained.folder} ({trained.model.metadata['trained_seconds']} s)")
    if output is None:
        console.print(
            f"[bold]this model is now the default[/] for predict, demo and serve in {settings.home}; "
            f"delete {trained.folder} to go back to the bundled one, or train with -o to keep it apart",
            highlight=False,
        )


def _label_mapping(pairs: list[str]) -> dict[str, str]:
    """``--label column=endpoint`` options as a mapping; a malformed one is an input error."""
    mapping = {}
    for pair in pairs:
        column, separator, name = pair.rpartition("=")
        if not separator or not column.strip() or not name.strip():
            raise InputError(f"--label {pair!r} is not COLUMN=ENDPOINT", expected="e.g. --label ic50_class=hERG")
        mapping[column.strip()] = name.strip()
    return mapping


def _validation_table(model: ADMETModel) -> Table:
    """Each head's score on its scaffold-held-out validation part: what a user checks before trusting it."""
    table = Table("endpoint", "metric", "model", "GBM alone", "trunk alone", "validation n", title="validation")
    for name, head in model.heads.items():
        scores = head.validation
        if not scores:  # e.g. a validation part with one class only: nothing could be scored
            table.add_row(name, "–", "not scored", "–", "–", "–")
            continue
        cells = (f"{scores[key]:.3f}" for key in ("blend", "gbm_only", "trunk_only"))
        table.add_row(name, scores["metric"], *cells, str(scores["n"]))
    return table


@app.command()
def endpoints() -> None:
    """List every endpoint with its task, unit and desirable direction."""
    from fedadmet.data.catalogue import ENDPOINTS

    longest = max(len(e.name) for e in ENDPOINTS)  # names are what --label takes: never cut them, nor the rest
    table = Table(
        Column("endpoint", no_wrap=True, min_width=longest),
        *(Column(heading, overflow="fold") for heading in ("category", "task", "unit", "good", "description")),
    )
    for e in ENDPOINTS:
        table.add_row(e.name, e.category.value, e.task.value, e.unit, e.good or "-", e.description)
    (console if console.is_terminal else Console(width=250)).print(table)  # a file or pipe: a line per endpoint


@app.command()
def demo() -> None:
    """A short tour: profile example molecules (with bad rows) and approved drugs, then summarise."""
    from fedadmet.config import get_settings
    from fedadmet.workflows.demo import run_demo

    try:
        run_demo(console, get_settings())
    except FedadmetError as exc:
        raise fail(str(exc)) from None
