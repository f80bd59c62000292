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
    from fedadmet.data.catalogue import find_endpoint
    from fedadmet.data.loaders import read_table, table_from_frame
    from fedadmet.data.qc import qc_report

    try:
        frame = read_table(input_path)
        if {"endpoint", "value", "unit"} <= set(frame.columns) and not label:
            raise fail(
                f"{input_path.name} is a long assay table (endpoint, value, unit per row): its QC report is the "
                "qc.md that `fedadmet data prepare` writes after converting units and aggregating replicates"
            )
        labels = label or [c for c in frame.columns if c == "Y" or find_endpoint(str(c)) is not None]
        table = table_from_frame(frame, smiles_column or ("Drug" if "Drug" in frame else None), labels, input_path.name)
        report = qc_report(table, {labels[0]: endpoint} if endpoint and labels else None)
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
    from fedadmet.federated.keys import read_key
    from fedadmet.federated.prepare import load_partner_inputs, prepare_partner
    from fedadmet.names import check_partner_name

    try:
        check_partner_name(partner)  # before the inputs are read and standardised
        manifest = prepare_partner(
            load_partner_inputs(inputs, endpoint or []),
            read_key(key),
            output,
            partner,
            expected_reference_hash=expected_reference_hash,
            cache_dir=get_settings().feature_cache_dir,
            overwrite=force,
        )
    except FedadmetError as exc:
        raise fail(str(exc)) from None
    trainable = [t["name"] for t in manifest["tasks"] if t["trainable"]]
    console.print(
        f"wrote {output}: {manifest['n_compounds']} compounds, {len(trainable)} of {len(manifest['tasks'])} tasks "
        f"meet the quorum; key id {manifest['key_id']}"
    )
    # Whole and unwrapped: it is pasted into --expected-reference-hash or compared with the consortium's.
    console.print(f"reference hash: {manifest['reference_hash']}", soft_wrap=True)
    console.print(f"QC report: {output / 'qc.md'}")
    if not trainable:
        console.print("[bold yellow]warning:[/] no task meets the quorum: this folder cannot join a federation")
