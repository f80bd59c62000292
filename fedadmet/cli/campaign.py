"""`fedadmet campaign ...`: lab-in-the-loop campaigns from the command line (as the operator)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fedadmet.cli.common import _OPTIONS, app, console, fail
from fedadmet.exceptions import FedadmetError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

campaign_app = typer.Typer(
    help="Design-make-test campaigns: the platform picks what the lab makes and tests next.", **_OPTIONS
)
app.add_typer(campaign_app, name="campaign")

SPEC_EXAMPLE = (
    '{"objective": {"terms": [{"column": "pIC50", "goal": "maximize", "low": 5, "high": 8, "unit": ""}, '
    '{"column": "Lipophilicity_AstraZeneca", "goal": "within", "low": 1, "high": 3}, '
    '{"column": "hERG", "goal": "minimize", "low": 0.1, "high": 0.3}]}, "strategy": "greedy", "batch_size": 48}'
)


def _sessions() -> sessionmaker[Session]:
    """The configured registry, opened on use so that --help stays fast."""
    from fedadmet.workflows.store import open_store

    return open_store()


@campaign_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Campaign name (letters, digits, '-', '_').")],
    pool: Annotated[Path, typer.Option(help="Candidate pool: any file `fedadmet predict` reads (CSV/TSV/SDF/SMI).")],
    spec: Annotated[Path, typer.Option(help=f"JSON spec: objective terms, constraints, strategy. E.g. {SPEC_EXAMPLE}")],
    measurements: Annotated[
        Path | None, typer.Option(help="Results already measured (same format as `campaign ingest`).")
    ] = None,
    partner: Annotated[str | None, typer.Option(help="The partner the campaign belongs to (default: none).")] = None,
    partner_data: Annotated[
        Path | None,
        typer.Option(
            help="The partner's prepared folder: the model it uses after joining is the prior (as `predict --partner`; "
            "needs --key, the campaign belongs to that partner)."
        ),
    ] = None,
    key: Annotated[
        Path | None, typer.Option(help="With --partner-data: the consortium key file it was prepared with.")
    ] = None,
    run: Annotated[
        str | None,
        typer.Option(help="With --partner-data: the run whose kept model to use (default: as `predict --partner`)."),
    ] = None,
    id_column: Annotated[str | None, typer.Option(help="Compound id column (default: compound_id, name, …).")] = None,
    smiles_column: Annotated[str | None, typer.Option(help="SMILES column of the pool.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Override the spec's acquisition strategy.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Override the spec's batch size.")] = None,
) -> None:
    """Featurise the pool once (platform features + the default model's, or with --partner-data the partner's
    kept model's, predictions as prior) and record it."""
    from pydantic import ValidationError

    from fedadmet.campaigns.engine import CampaignSpec
    from fedadmet.config import get_settings
    from fedadmet.workflows.campaigns import create_campaign
    from fedadmet.workflows.predictors import check_choice, resolve_predictor

    try:
        check_choice(partner=partner_data, key=key, run=run, partner_option="--partner-data")
        prior = None
        if partner_data is not None:
            prior = resolve_predictor(get_settings(), partner=partner_data, key=key, run=run)
            console.print(f"prior: {prior.description}", highlight=False)
        overrides = {k: v for k, v in {"strategy": strategy, "batch_size": batch_size}.items() if v is not None}
        parsed = CampaignSpec.model_validate(json.loads(spec.read_text()) | overrides)
        view = create_campaign(
            _sessions(),
            name=name,
            pool_path=pool,
            spec=parsed,
            campaigns_dir=get_settings().campaigns_dir,
            partner=partner,
            id_column=id_column,
            smiles_column=smiles_column,
            prior=prior,
            measurements=measurements,
        )
    except (FedadmetError, ValidationError, json.JSONDecodeError) as exc:
        raise fail(str(exc)) from None
    console.print(f"campaign [bold]{view['name']}[/] (id {view['id']}): {view['pool_size']} molecules in the pool")
    if view["pool_rejects"]:
        console.print(f"{len(view['pool_rejects'])} pool rows left out, e.g. {view['pool_rejects'][:3]}")
    if "seed" in view:
        _print_ingest(view["seed"])


@campaign_app.command("propose")
def propose(
    campaign: Annotated[str, typer.Argument(help="Campaign name or id.")],
) -> None:
    """Refit on every measurement so far, pick the next batch and write the order files (CSV and SD)."""
    from fedadmet.config import get_settings
    from fedadmet.workflows.campaigns import propose_round

    try:
        with console.status("fitting the surrogate and scoring the pool…"):
            outcome = propose_round(_sessions(), campaign, None, threads=get_settings().n_jobs)
    except (FedadmetError, LookupError) as exc:
        raise fail(str(exc)) from None
    console.print(
        f"round {outcome.round}: {len(outcome.picks)} picks from {outcome.candidates} candidates "
        f"(surrogate: {outcome.model['surrogate'] or 'none, prior only'})"
    )
    for path in outcome.order_files:
        console.print(f"wrote {path}")


@campaign_app.command("ingest")
def ingest(
    campaign: Annotated[str, typer.Argument(help="Campaign name or id.")],
    results: Annotated[
        Path,
        typer.Argument(help="Long table: compound_id, endpoint (or column), value, optional smiles, relation, unit."),
    ],
) -> None:
    """Take in lab results: bad rows are named and rejected, the rest stored; nothing stored before is lost."""
    from fedadmet.workflows.campaigns import ingest_results

    try:
        outcome = ingest_results(_sessions(), campaign, results, None)
    except (FedadmetError, LookupError) as exc:
        raise fail(str(exc)) from None
    _print_ingest(outcome.__dict__)


@campaign_app.command("to-partner")
def to_partner(
    campaign: Annotated[str, typer.Argument(help="Campaign name or id (a campaign of that partner).")],
    partner_data: Annotated[Path, typer.Option(help="The partner's prepared folder (says who it is, what it trains).")],
    raw_data: Annotated[
        Path, typer.Option(help="The partner's raw data folder: campaign-<name>.csv is written or extended there.")
    ],
) -> None:
    """Hand a partner campaign's measurements to that partner's data: an assay table that `data prepare`
    reads with its other tables, so the next federated run trains on them."""
    from fedadmet.workflows.campaigns import hand_to_partner

    try:
        outcome = hand_to_partner(_sessions(), campaign, partner_data, raw_data)
    except (FedadmetError, LookupError) as exc:
        raise fail(str(exc)) from None
    console.print(
        f"wrote {outcome.path}: {outcome.added} new of {outcome.total} rows for {outcome.partner}; "
        "prepare the partner's data again (`fedadmet data prepare ... --force`) before the next run"
    )


def _print_ingest(outcome: dict) -> None:
    console.print(f"{outcome['filename']}: {outcome['stored']} of {outcome['rows']} rows stored")
    for reject in outcome["rejects"]:
        console.print(f"  row {reject['row']} rejected: {reject['reason']}", markup=False, highlight=False)


@campaign_app.command("status")
def status(
    campaign: Annotated[str | None, typer.Argument(help="Campaign name or id (default: list them all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Rounds, pending picks, measurements and ingested files of a campaign (or the list of campaigns)."""
    from fedadmet.workflows.campaigns import campaign_status, list_campaigns

    try:
        view = campaign_status(_sessions(), campaign, None) if campaign else list_campaigns(_sessions(), None)
    except (FedadmetError, LookupError) as exc:
        raise fail(str(exc)) from None
    if as_json or not campaign:
        console.print_json(json.dumps(view, default=str))
        return
    console.print(
        f"[bold]{view['name']}[/]: {len(view['rounds'])} rounds, {view['measured_compounds']} compounds measured, "
        f"{len(view['pending'])} pending"
    )


@campaign_app.command("report")
def report(
    campaign: Annotated[str, typer.Argument(help="Campaign name or id.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the Markdown here.")] = None,
) -> None:
    """A Markdown report: rounds, models, calibration of the predicted uncertainty, best molecules, rejects."""
    from fedadmet.workflows.campaigns import campaign_report

    try:
        text = campaign_report(_sessions(), campaign, None)
    except (FedadmetError, LookupError) as exc:
        raise fail(str(exc)) from None
    if output:
        output.write_text(text)
        console.print(f"wrote {output}")
    else:
        console.print(text, markup=False, highlight=False, soft_wrap=True)


@app.command("export")
def export(
    campaign: Annotated[str, typer.Argument(help="Campaign name or id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write.")],
    licence: Annotated[str, typer.Option(help="SPDX licence of the data: CC-BY-4.0, CC0-1.0 or CC-BY-SA-4.0.")] = (
        "CC-BY-4.0"
    ),
    creator: Annotated[str, typer.Option(help="Who made the data (person or organisation).")] = "fedadmet campaign",
) -> None:
    """Export a campaign's measurements for outside researchers: CSV files described as Croissant, a
    Frictionless data package and an RO-Crate, with licence, provenance and the SHA-256 of every file."""
    from fedadmet.workflows.export import export_campaign

    try:
        outcome = export_campaign(_sessions(), campaign, None, output, licence=licence, creator=creator)
    except (FedadmetError, LookupError) as exc:
        raise fail(str(exc)) from None
    for name, digest in outcome.files.items():
        console.print(f"{name}  sha256 {digest}")
    console.print(f"described in {', '.join(outcome.descriptions)} under {outcome.folder}")
