"""REST routes of lab-in-the-loop campaigns under /v1/campaigns.

Same API keys as every route; a campaign made with a partner's key belongs to that partner, one made
with a key without partner belongs to nobody. A partner's key sees only its own campaigns (any other
answers 404, as if it did not exist); a key without partner (the operator) sees every campaign.
"""

# No ``from __future__ import annotations``: the routes' ``Viewer`` type is local to the factory, and
# FastAPI must see it evaluated.
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from fedadmet.campaigns.engine import CampaignSpec
from fedadmet.serve.schemas import PAGED, Paging, sent
from fedadmet.workflows import campaigns as workflow
from fedadmet.workflows.keys import Caller

MAX_POOL = 100_000
ORDER_MEDIA = {"csv": "text/csv", "sdf": "chemical/x-mdl-sdfile"}


class PoolMolecule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    compound_id: str = Field(min_length=1, max_length=200)
    smiles: str = Field(min_length=1, max_length=2000)


class CampaignRequest(BaseModel):
    """A new campaign: its name, spec and candidate pool (the ids the lab's results will name)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")
    spec: CampaignSpec
    pool: list[PoolMolecule] = Field(min_length=1, max_length=MAX_POOL)


class CampaignSummary(BaseModel):
    """A campaign as listed."""

    id: int
    name: str
    partner: str | None
    pool_size: int
    pool_source: str
    spec: dict[str, Any]
    rounds: int
    created: str


class CampaignRound(BaseModel):
    round: int
    strategy: str
    picks: int
    measured: int
    model: dict[str, Any]
    calibration: dict[str, Any]
    order_files: list[str]
    created: str


class ScoredCompound(BaseModel):
    compound_id: str
    score: float


class CampaignStatus(CampaignSummary):
    """Where a campaign stands: its rounds, what is pending and measured, its ingests and best compounds."""

    rounds: list[CampaignRound]  # type: ignore[assignment]  # the rounds themselves, not their number
    pending: list[str]
    measured_compounds: int
    ingests: list[dict[str, Any]]
    best: list[ScoredCompound]


class ProposedRound(BaseModel):
    campaign: str
    round: int
    order_files: list[str]
    picks: list[dict[str, Any]]
    candidates: int
    model: dict[str, Any]


class IngestedResults(BaseModel):
    campaign: str
    filename: str
    rows: int
    stored: int
    rejects: list[dict[str, Any]] = Field(description="Rows refused (1-based), with why.")


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
    def create(body: CampaignRequest, request: Request, user: Viewer) -> CampaignSummary:
        """Featurise the pool (seconds per thousand molecules) and record the campaign for the key's partner."""
        state = request.app.state.serving
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "pool.csv"
            pd.DataFrame([m.model_dump() for m in body.pool]).to_csv(path, index=False)
            created = workflow.create_campaign(
                state.sessions,
                name=body.name,
                pool_path=path,
                spec=body.spec,
                campaigns_dir=state.settings.campaigns_dir,
                partner=user.partner,
                model_dir=state.model_dir,
            )
        return CampaignSummary.model_validate(created)

    @router.get("/{campaign}")
    def status(campaign: str, request: Request, user: Viewer) -> CampaignStatus:
        return CampaignStatus.model_validate(
            found(lambda: workflow.campaign_status(sessions(request), campaign, user.partner))
        )

    @router.post("/{campaign}/propose", status_code=201)
    def propose(campaign: str, request: Request, user: Viewer) -> ProposedRound:
        """The next round: its picks with predictions and reasons (order files under .../rounds/{n}/order)."""
        outcome = found(lambda: workflow.propose_round(sessions(request), campaign, user.partner))
        return ProposedRound.model_validate(
            asdict(outcome) | {"order_files": [Path(f).name for f in outcome.order_files]}
        )

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

        def ingest() -> dict[str, Any]:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / Path(file.filename or "results.csv").name
                path.write_bytes(data)
                return asdict(workflow.ingest_results(sessions(request), campaign, path, user.partner))

        return IngestedResults.model_validate(await run_in_threadpool(found, ingest))

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
