"""The MCP server: the platform's profiling and design as tools any MCP client (an LLM agent) can call.

Every tool calls a workflow; a molecule or objective that cannot be used comes back as a tool error
naming it (``is_error`` with the reason), so the calling agent can correct itself, never as a crash. Over
HTTP the same API keys as the REST API are required (``X-API-Key`` or ``Authorization: Bearer``), and
each tool sees what the key's user sees through the REST API: a partner's key sees its own metrics of
model versions and federation runs (no file locations), its own design runs and its partner's campaigns
only, and a campaign it creates belongs to its partner. Over stdio the caller is the person at this
machine, who sees everything (the operator).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from fedadmet.campaigns.engine import CampaignSpec
from fedadmet.config import get_settings
from fedadmet.design.objective import parse_objective
from fedadmet.exceptions import FedadmetError
from fedadmet.workflows import assistant, design
from fedadmet.workflows import campaigns as campaign_workflow
from fedadmet.workflows.campaign_schemas import (
    MAX_POOL,
    CampaignCreated,
    CampaignStatus,
    CampaignSummary,
    IngestedResults,
    PoolMolecule,
    ProposedRound,
)
from fedadmet.workflows.keys import Caller, check_key
from fedadmet.workflows.profiling import ALERTS_COLUMN, DOMAIN_COLUMN, ERROR_COLUMN, IN_DOMAIN_COLUMN, profile
from fedadmet.workflows.store import open_store
from fedadmet.workflows.views import RunView
from fedadmet.workflows.views import list_runs as list_federation_run_views

MAX_MOLECULES = 1000
MAX_DESIGN_BUDGET = 2000  # a tool call waits for the whole run: keep it to minutes
MAX_TABLE_CHARACTERS = 20_000_000  # a pool or results table sent as text

CampaignName = Annotated[str, Field(min_length=1, max_length=200, description="Campaign name or id.")]

Smiles = Annotated[list[str], Field(min_length=1, max_length=MAX_MOLECULES, description="SMILES strings.")]
ObjectiveJson = Annotated[
    dict[str, Any],
    Field(
        description="A design objective: goal (list of {endpoint, direction, low, high, weight}), alerts, "
        "similarity, synthetic_accessibility, domain, selection; as the TOML objective file, in JSON."
    ),
]


class MoleculeProfile(BaseModel):
    input: str
    smiles: str
    values: dict[str, float | None]
    uncertainties: dict[str, float | None]
    applicability_domain: float | None
    in_domain: bool | None
    alerts: list[str]


class Profiles(BaseModel):
    molecules: list[MoleculeProfile]


class StandardisedMolecules(BaseModel):
    molecules: list[assistant.Standardised]


class Alerts(BaseModel):
    alerts: dict[str, list[str]] = Field(description="Standardised SMILES -> alerts as <catalogue>:<name>.")


class Analog(BaseModel):
    smiles: str
    parents: list[str]
    operator: str


class Analogs(BaseModel):
    molecules: list[Analog]


class MoleculeScoreView(BaseModel):
    smiles: str
    score: float = Field(description="Desirability 0..1 after soft constraints and the uncertainty penalty.")
    score_low: float
    score_high: float
    dropped: str | None = Field(description="The hard constraint the molecule failed, if any.")
    components: dict[str, float]
    values: dict[str, float | None]


class Scores(BaseModel):
    molecules: list[MoleculeScoreView]


class DesignOutcome(BaseModel):
    run_id: int
    status: str
    budget_used: int
    generations: int
    best: list[MoleculeScoreView]


class Models(BaseModel):
    models: list[assistant.ModelSummary]


class Runs(BaseModel):
    runs: list[design.DesignRunSummary]


class FederationRuns(BaseModel):
    runs: list[RunView]
    total: int


class Campaigns(BaseModel):
    campaigns: list[CampaignSummary]


def caller_of(context: Context) -> Caller | None:
    """Who is calling: the API key's user over HTTP (checked by :class:`RequireApiKey`), None over stdio
    or in process (the person at this machine, who sees what the operator sees)."""
    request = context.request_context.request
    return None if request is None else request.state.caller


def _partner(context: Context) -> str | None:
    caller = caller_of(context)
    return None if caller is None else caller.partner


def _finite(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def _profiles(frame: pd.DataFrame, smiles: Sequence[str]) -> Profiles:
    failed = [
        f"{text!r}: {reason}"
        for text, reason in zip(smiles, frame[ERROR_COLUMN], strict=True)
        if isinstance(reason, str)
    ]
    if failed:
        raise ToolError(f"molecules that cannot be profiled: {'; '.join(failed)}")
    endpoints = [name.removesuffix("_uncertainty") for name in frame.columns if name.endswith("_uncertainty")]
    return Profiles(
        molecules=[
            MoleculeProfile(
                input=text,
                smiles=row["smiles"],
                values={name: _finite(row[name]) for name in endpoints},
                uncertainties={name: _finite(row[f"{name}_uncertainty"]) for name in endpoints},
                applicability_domain=_finite(row[DOMAIN_COLUMN]),
                in_domain=None if pd.isna(row[IN_DOMAIN_COLUMN]) else bool(row[IN_DOMAIN_COLUMN]),
                alerts=[name for name in str(row[ALERTS_COLUMN] or "").split("; ") if name],
            )
            for text, (_, row) in zip(smiles, frame.iterrows(), strict=True)
        ]
    )


def _score_view(smiles: str, score: Any) -> MoleculeScoreView:
    return MoleculeScoreView(
        smiles=score.parent or smiles,
        score=score.score,
        score_low=score.score_low,
        score_high=score.score_high,
        dropped=score.dropped,
        components=score.components,
        values={name: _finite(value) for name, value in score.values.items()},
    )


def build_server(model: Path | None = None, registry_url: str | None = None) -> MCPServer:
    """The MCP server predicting with ``model`` (default: the default model) and recording design runs
    in ``registry_url`` (default: the configured registry)."""
    server = MCPServer(
        name="fedadmet",
        instructions="ADMET/Tox profiles with uncertainty, applicability domain and structural alerts, and "
        "design runs that propose, score and rank new molecules against an ADMET/Tox objective.",
    )

    def guarded(function: Any) -> Any:
        """A tool body whose domain errors become tool errors (what is wrong, for the agent to fix)."""

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except FedadmetError as exc:
                raise ToolError(str(exc)) from None

        return call

    @server.tool()
    def profile_molecules(
        smiles: Smiles, endpoints: Annotated[list[str] | None, Field(description="Only these endpoints.")] = None
    ) -> Profiles:
        """Predict every ADMET/Tox endpoint with uncertainty, applicability domain and structural alerts."""
        frame = guarded(profile)(list(smiles), predictor=model, endpoints=endpoints)
        return _profiles(frame, smiles)

    @server.tool()
    def standardise(smiles: Smiles) -> StandardisedMolecules:
        """Standardised parent SMILES (largest organic fragment, neutralised) and what changed."""
        return StandardisedMolecules(molecules=guarded(assistant.standardise)(smiles))

    @server.tool()
    def find_alerts(smiles: Smiles) -> Alerts:
        """Structural alerts (PAINS, Brenk, NIH) each molecule matches."""
        return Alerts(alerts=guarded(assistant.find_alerts)(smiles))

    @server.tool()
    def propose_analogs(
        smiles: Smiles,
        count: Annotated[int, Field(ge=1, le=200)] = 10,
        generator: str = "graph-ga",
        seed: int = 0,
    ) -> Analogs:
        """New molecules made from the given ones by a generator (graph-ga or crem), not yet scored."""
        proposals = guarded(design.propose_analogs)(smiles, count=count, generator=generator, seed=seed)
        return Analogs(
            molecules=[Analog(smiles=p.smiles, parents=list(p.parents), operator=p.operator) for p in proposals]
        )

    @server.tool()
    def score_molecules(
        smiles: Smiles,
        objective: ObjectiveJson,
        references: Annotated[list[str], Field(description="Molecules similarity is measured to.")] = [],  # noqa: B006
    ) -> Scores:
        """Score molecules against a design objective (desirability of the full profile, alerts, SA, similarity)."""
        parsed = guarded(parse_objective)(objective)
        scores = guarded(design.score_molecules)(smiles, parsed, references=references, model=model)
        return Scores(molecules=[_score_view(text, score) for text, score in zip(smiles, scores, strict=True)])

    @server.tool()
    def run_design(
        start: Smiles,
        objective: ObjectiveJson,
        context: Context,
        budget: Annotated[int, Field(ge=1, le=MAX_DESIGN_BUDGET, description="Molecules to profile in all.")] = 100,
        seed: int = 0,
        name: str = "",
    ) -> DesignOutcome:
        """Run a design: propose, filter, score and select until the budget is spent; returns the best molecules.
        The full trail is recorded (see list_runs; `fedadmet design show <run_id>`)."""
        parsed = guarded(parse_objective)(objective)
        caller = caller_of(context)
        run = guarded(design.run_design)(
            start,
            parsed,
            budget=budget,
            seed=seed,
            name=name,
            model=model,
            registry_url=registry_url,
            user_id=None if caller is None else caller.id,
        )
        best = [
            MoleculeScoreView(
                smiles=candidate.smiles,
                score=candidate.score or 0.0,
                score_low=candidate.score_low or 0.0,
                score_high=candidate.score_high or 0.0,
                dropped=None,
                components=candidate.details.get("components", {}),
                values=candidate.details.get("values", {}),
            )
            for candidate in run.ranked()[:20]
        ]
        return DesignOutcome(
            run_id=run.id, status=run.status, budget_used=run.budget_used, generations=len(run.generations), best=best
        )

    @server.tool()
    def list_models(context: Context) -> Models:
        """The model the tools predict with and every published model version (a partner's key: with its
        own metrics only, and no file locations)."""
        return Models(models=guarded(assistant.list_models)(model, registry_url, partner=_partner(context)))

    @server.tool()
    def list_runs(context: Context, limit: Annotated[int, Field(ge=1, le=500)] = 50) -> Runs:
        """Design runs, newest first (over HTTP: those of this API key's user, and for a key without a partner
        also those made without a key at the operator's machine)."""
        caller = caller_of(context)
        user_id, with_unowned = (None, False) if caller is None else (caller.id, caller.partner is None)
        runs = design.list_design_runs(limit, user_id=user_id, with_unowned=with_unowned, registry_url=registry_url)
        return Runs(runs=runs)

    @server.tool()
    def list_federation_runs(
        context: Context, limit: Annotated[int, Field(ge=1, le=500)] = 50, offset: Annotated[int, Field(ge=0)] = 0
    ) -> FederationRuns:
        """Federation runs, newest first, with their rounds' metrics as this key may see them (a partner's
        key: its own metrics and the consortium's mean where at least three partners reported)."""
        page = list_federation_run_views(open_store(registry_url), _partner(context), limit, offset)
        return FederationRuns(runs=page.items, total=page.total)

    def campaign_step(function: Any) -> Any:
        """A campaign workflow call whose unusable input, or campaign this caller may not see, is a tool error."""

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return guarded(function)(*args, **kwargs)
            except LookupError as exc:
                raise ToolError(str(exc)) from None

        return call

    @server.tool()
    def list_campaigns(context: Context) -> Campaigns:
        """Lab-in-the-loop campaigns this key may see (a partner's key: its partner's only)."""
        listed = campaign_workflow.list_campaigns(open_store(registry_url), _partner(context))
        return Campaigns(campaigns=[CampaignSummary.model_validate(campaign) for campaign in listed])

    @server.tool()
    def create_campaign(
        name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")],
        spec: Annotated[
            CampaignSpec,
            Field(
                description="What the campaign optimises and how it picks: the JSON `fedadmet campaign create "
                "--spec` takes (objective terms, constraints, strategy, batch_size, surrogate, seed)."
            ),
        ],
        context: Context,
        pool: Annotated[
            list[PoolMolecule | str] | None,
            Field(
                max_length=MAX_POOL,
                description="Candidates: {compound_id, smiles} objects, or SMILES (named row1, row2, … by position).",
            ),
        ] = None,
        pool_csv: Annotated[
            str | None,
            Field(
                max_length=MAX_TABLE_CHARACTERS,
                description="Or the pool as CSV text: a SMILES column and an id column (compound_id, name, id, …).",
            ),
        ] = None,
    ) -> CampaignCreated:
        """Featurise a candidate pool once (the default model's predictions as prior) and record a campaign
        belonging to this key's partner. Rows that cannot be read are left out and named in pool_rejects."""
        if (pool is None) == (pool_csv is None):
            raise ToolError("give the pool either as `pool` (a list) or as `pool_csv` (CSV text), not both")
        text = (
            pool_csv
            if pool is None
            else campaign_workflow.pool_table(
                [
                    (entry.compound_id, entry.smiles) if isinstance(entry, PoolMolecule) else (f"row{i}", entry)
                    for i, entry in enumerate(pool, start=1)
                ]
            )
        )
        created = campaign_step(campaign_workflow.create_campaign_from_text)(
            open_store(registry_url),
            name=name,
            pool_csv=text,
            spec=spec,
            campaigns_dir=get_settings().campaigns_dir,
            partner=_partner(context),
            model_dir=model,
        )
        return CampaignCreated.model_validate(created)

    @server.tool()
    def propose_batch(campaign: CampaignName, context: Context) -> ProposedRound:
        """The campaign's next round: refit on every measurement so far and pick the next batch for the lab,
        each pick with its predictions and why (order files written as CSV and SD)."""
        outcome = campaign_step(campaign_workflow.propose_round)(open_store(registry_url), campaign, _partner(context))
        return ProposedRound.of(outcome)

    @server.tool()
    def ingest_results(
        campaign: CampaignName,
        results_csv: Annotated[
            str,
            Field(
                min_length=1,
                max_length=MAX_TABLE_CHARACTERS,
                description="CSV text, one measurement a row: compound_id, endpoint (or column), value; optional "
                "smiles, relation (<, >, =) and unit.",
            ),
        ],
        context: Context,
        filename: Annotated[str, Field(min_length=1, max_length=200)] = "results.csv",
    ) -> IngestedResults:
        """Take in the lab's results: rows that cannot be used are named in `rejects` (row and why), the rest
        stored; nothing stored before is touched, and the same table twice is refused."""
        outcome = campaign_step(campaign_workflow.ingest_results_data)(
            open_store(registry_url), campaign, filename, results_csv.encode("utf-8"), _partner(context)
        )
        return IngestedResults.of(outcome)

    @server.tool()
    def campaign_status(campaign: CampaignName, context: Context) -> CampaignStatus:
        """Where a campaign stands: rounds with their model and calibration, pending picks, ingested files
        and the best measured molecules so far."""
        status = campaign_step(campaign_workflow.campaign_status)(open_store(registry_url), campaign, _partner(context))
        return CampaignStatus.model_validate(status)

    return server


class RequireApiKey:
    """ASGI wrapper: every HTTP request needs a valid API key, as the REST API does."""

    def __init__(self, app: ASGIApp, registry_url: str | None = None) -> None:
        self.app = app
        self.registry_url = registry_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
            bearer = headers.get("authorization", "")
            key = headers.get("x-api-key") or (bearer[7:] if bearer.lower().startswith("bearer ") else "")
            caller = check_key(open_store(self.registry_url), key.strip()) if key.strip() else None
            if caller is None:
                reason = "the API key is not valid (unknown or revoked)" if key.strip() else "an API key is required"
                await JSONResponse({"detail": f"{reason}: send it in the X-API-Key header"}, 401)(scope, receive, send)
                return
            scope.setdefault("state", {})["caller"] = caller  # read by the tools through the request
        await self.app(scope, receive, send)


def http_app(server: MCPServer, host: str = "127.0.0.1", registry_url: str | None = None) -> ASGIApp:
    """The streamable-HTTP app (path /mcp) behind the API-key check; ``host`` is the address served, which
    the SDK's DNS-rebinding protection checks the Host header against."""
    return RequireApiKey(server.streamable_http_app(host=host), registry_url)
