"""REST routes of lab-in-the-loop campaigns under /v1/campaigns.

Same API keys as every route; a campaign made with a partner's key belongs to that partner, one made
with a key without partner belongs to nobody. A partner's key sees only its own campaigns (any other
answers 404, as if it did not exist); a key without partner (the operator) sees every campaign.
"""

# No ``from __future__ import annotations``: the routes' ``Viewer`` type is local to the factory, and
# FastAPI must see it evaluated.
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from fedadmet.campaigns.engine import CampaignSpec
from fedadmet.serve.schemas import PAGED, Paging, sent
from fedadmet.workflows import campaigns as workflow
from fedadmet.workflows.campaign_schemas import (
    MAX_POOL,
    CampaignCreated,
    CampaignStatus,
    CampaignSummary,
    IngestedResults,
    PoolMolecule,
    ProposedRound,
)
from fedadmet.workflows.keys import Caller

ORDER_MEDIA = {"csv": "text/csv", "sdf": "chemical/x-mdl-sdfile"}


class CampaignRequest(BaseModel):
    """A new campaign: its name, spec and candidate pool (the ids the lab's results will name)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")
    spec: CampaignSpec
    pool: list[PoolMolecule] = Field(min_length=1, max_length=MAX_POOL)


class ScoreAfterIngest(BaseModel):
    ingest: int
    file: str
    measured_compounds: int
    best: float | None


class MeasuredCompound(BaseModel):
    compound_id: str
    smiles: str
    values: dict[str, float | None]
    desirability: dict[str, float | None]
    score: float | None
    pareto: bool


class DrawnPick(BaseModel):
    round: int
    rank: int
    compound_id: str
    smiles: str
    score_mean: float | None
    score_std: float | None
    predicted: dict[str, Any] = Field(description="Per objective column, the surrogate's mean and std (model scale).")
    measured: dict[str, float | None]
    reason: str | None
    svg: str


class CampaignProgress(CampaignSummary):
    """What the campaign page draws."""

    terms: list[dict[str, Any]]
    best_after_ingest: list[ScoreAfterIngest]
    compounds: list[MeasuredCompound]
    picks: list[DrawnPick]
    picks_total: int


def campaign_router(current_user: Callable[..., Caller]) -> APIRouter:
    """The routes, authenticated by the app's own ``current_user`` dependency."""
    router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
    Viewer = Annotated[Caller, Depends(current_user)]
    Paged = Annotated[Paging, Depends(Paging.from_query)]

    def sessions(request: Request) -> Any:
        return request.app.state.serving.sessions

    def found(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None

    @router.get("", responses=PAGED)
    def list_campaigns(request: Request, user: Viewer, paging: Paged, response: Response) -> list[CampaignSummary]:
        """The key's campaigns, as the registry lists them; ``X-Total-Count`` holds their number."""
        campaigns = [
            CampaignSummary.model_validate(c) for c in workflow.list_campaigns(sessions(request), user.partner)
        ]
        return sent(paging.of(campaigns), response)

    @router.post("", status_code=201)
    def create(body: CampaignRequest, request: Request, user: Viewer) -> CampaignCreated:
        """Featurise the pool (seconds per thousand molecules) and record the campaign for the key's partner."""
        state = request.app.state.serving
        created = workflow.create_campaign_from_text(
            state.sessions,
            name=body.name,
            pool_csv=workflow.pool_table([(m.compound_id, m.smiles) for m in body.pool]),
            spec=body.spec,
            campaigns_dir=state.settings.campaigns_dir,
            partner=user.partner,
            model_dir=state.model_dir,
        )
        return CampaignCreated.model_validate(created)

    @router.get("/{campaign}")
    def status(campaign: str, request: Request, user: Viewer) -> CampaignStatus:
        return CampaignStatus.model_validate(
            found(lambda: workflow.campaign_status(sessions(request), campaign, user.partner))
        )

    @router.get("/{campaign}/progress")
    def progress(campaign: str, request: Request, user: Viewer) -> CampaignProgress:
        """What the campaign page draws: best score after each results file, measured compounds with their
        desirabilities and Pareto front, picks with predictions, measurements and depictions."""
        return CampaignProgress.model_validate(
            found(lambda: workflow.campaign_progress(sessions(request), campaign, user.partner))
        )

    @router.post("/{campaign}/propose", status_code=201)
    def propose(campaign: str, request: Request, user: Viewer) -> ProposedRound:
        """The next round: its picks with predictions and reasons (order files under .../rounds/{n}/order)."""
        return ProposedRound.of(found(lambda: workflow.propose_round(sessions(request), campaign, user.partner)))

    @router.post("/{campaign}/results")
    async def results(
        campaign: str,
        request: Request,
        user: Viewer,
        file: Annotated[UploadFile, File(description="compound_id, endpoint, value, optional smiles/relation/unit")],
    ) -> IngestedResults:
        data = await file.read(request.app.state.serving.settings.upload_max_bytes + 1)
        if len(data) > request.app.state.serving.settings.upload_max_bytes:
            raise HTTPException(413, "the results file is larger than the upload limit")

        def ingest() -> IngestedResults:
            filename = file.filename or "results.csv"
            return IngestedResults.of(
                workflow.ingest_results_data(sessions(request), campaign, filename, data, user.partner)
            )

        return await run_in_threadpool(found, ingest)

    @router.get("/{campaign}/report", response_class=PlainTextResponse)
    def report(campaign: str, request: Request, user: Viewer) -> str:
        return found(lambda: workflow.campaign_report(sessions(request), campaign, user.partner))

    @router.get(
        "/{campaign}/rounds/{round_number}/order",
        response_class=FileResponse,
        responses={200: {"content": {media: {} for media in ORDER_MEDIA.values()}, "description": "The order file."}},
    )
    def order(
        campaign: str,
        round_number: int,
        request: Request,
        user: Viewer,
        format: Annotated[str, Query(pattern="^(csv|sdf)$")] = "csv",
    ) -> FileResponse:
        path = found(lambda: workflow.order_file(sessions(request), campaign, user.partner, round_number, format))
        return FileResponse(path, media_type=ORDER_MEDIA[format], filename=path.name)

    return router
