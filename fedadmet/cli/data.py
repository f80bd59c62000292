"""`fedadmet data ...`: check and prepare labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedadmet.cli.common import console, data_app, fail
from fedadmet.exceptions import FedadmetError


@data_app.command("qc")
def data_qc(
    input_path: Annotated[Path, typer.Argument(help="CSV/TSV (or TDC file) to check.")],
    label: Annotated[
        list[str] | None, typer.Option(help="Label column(s); default: Y or endpoint-named columns.")
    ] = None,
    smiles_column: Annotated[str | None, typer.Option(help="SMILES column.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Catalogue endpoint of a single label column.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the Markdown report here.")] = None,
) -> None:
    """Quality report: rejects with reasons, duplicates with conflicting labels, ranges and outliers."""
    from fedadmet.workflows.data import quality_report

    try:
        report = quality_report(input_path, labels=label or [], smiles_column=smiles_column, endpoint=endpoint)
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    text = report.to_markdown()
    if output:
        output.write_text(text)
        console.print(f"wrote {output}")
    else:
        console.print(text, markup=False, highlight=False, soft_wrap=True)  # Markdown tables stay one line each


@data_app.command("prepare")
def data_prepare(
    inputs: Annotated[list[Path], typer.Argument(help="Assay tables (long format) and/or TDC-style CSV files.")],
    key: Annotated[Path, typer.Option(help="Consortium key file (from `fedadmet federate keygen`).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Prepared folder to write.")],
    partner: Annotated[str, typer.Option(help="This partner's name as the consortium knows it.")],
    endpoint: Annotated[
        list[str] | None, typer.Option(help="Endpoint of each TDC-style file, in the order given.")
    ] = None,
    expected_reference_hash: Annotated[
        str | None, typer.Option(help="The consortium's published reference-set hash; a mismatch stops here.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Prepare a folder of this partner's again (the federated models kept in it become unusable).",
        ),
    ] = False,
) -> None:
    """Standardise, convert units, aggregate replicates, apply the quorum, key the features; write a QC report.

    A long assay table has columns compound_id, smiles, endpoint, relation (=, <, >), value, unit.
    A TDC-style file has Drug_ID, Drug, Y and needs --endpoint.
    """
    from fedadmet.config import get_settings
    from fedadmet.workflows.data import prepare

    try:
        prepared = prepare(
            inputs,
            key_file=key,
            output=output,
            partner=partner,
            endpoints=endpoint or [],
            expected_reference_hash=expected_reference_hash,
            cache_dir=get_settings().feature_cache_dir,
            overwrite=force,
        )
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"wrote {output}: {prepared.compounds} compounds, {len(prepared.trainable)} of {prepared.tasks} tasks "
        f"meet the quorum; key id {prepared.key_id}"
    )
    # Whole and unwrapped: it is pasted into --expected-reference-hash or compared with the consortium's.
    console.print(f"reference hash: {prepared.reference_hash}", soft_wrap=True)
    console.print(f"QC report: {prepared.qc_report}")
    if not prepared.trainable:
        console.print("[bold yellow]warning:[/] no task meets the quorum: this folder cannot join a federation")
