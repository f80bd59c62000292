"""REST routes of kept patient-level model reports under /v1/clinical/reports (``fedadmet clinical
train|evaluate`` keep a copy of each report in the home folder); same API keys as every route."""

# No ``from __future__ import annotations``: the routes' ``Viewer`` type is local to the factory, and
# FastAPI must see it evaluated.
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import FileResponse

from fedadmet.exceptions import InputError
from fedadmet.serve.schemas import PAGED, Paging, sent
from fedadmet.workflows import clinical as workflow
from fedadmet.workflows.keys import Caller


def clinical_router(current_user: Callable[..., Caller]) -> APIRouter:
    """The routes, authenticated by the app's own ``current_user`` dependency."""
    router = APIRouter(prefix="/v1/clinical/reports", tags=["clinical"])
    Paged = Annotated[Paging, Depends(Paging.from_query)]
    Viewer = Annotated[Caller, Depends(current_user)]

    def home(request: Request) -> Path:
        return request.app.state.serving.settings.home

    def found(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except InputError as exc:
            raise HTTPException(400, str(exc)) from None
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None

    @router.get("", responses=PAGED)
    def list_reports(request: Request, user: Viewer, paging: Paged, response: Response) -> list[workflow.ReportSummary]:
        """Kept reports, newest first; ``X-Total-Count`` holds their number."""
        return sent(paging.of(workflow.list_clinical_reports(home(request))), response)

    @router.get("/{name}")
    def report(name: str, request: Request, user: Viewer) -> workflow.ReportDetail:
        return found(lambda: workflow.clinical_report(home(request), name))

    @router.get(
        "/{name}/evaluation.png",
        response_class=FileResponse,
        responses={200: {"content": {"image/png": {}}, "description": "The evaluation figure."}},
    )
    def evaluation_image(name: str, request: Request, user: Viewer) -> FileResponse:
        """ROC, calibration and decision curves of every model in the report."""
        return FileResponse(found(lambda: workflow.clinical_report_image(home(request), name)), media_type="image/png")

    return router
