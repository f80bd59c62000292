"""REST routes of design runs (/v1/design), and a scoring endpoint REINVENT 4 can call.

REINVENT 4's generic ``REST`` scoring component POSTs ``[{"input_string": SMILES, "query_id": "0"}, ...]``
with the query parameters ``predictor_id``, ``predictor_version`` and ``inp_fmt=smiles``, and reads
``{"output": {"successes_list": [{"query_id": "0", "output_value": 0.7}, ...]}}``; a molecule it does not
find there counts as NaN. Here ``predictor_id`` is an endpoint name (the predicted value, which REINVENT
then transforms itself) or ``run:<id>`` (the score under that design run's objective and references).
"""

import io
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, HTTPException, Query
from fastapi import Path as PathParameter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from fedadmet.design.objective import parse_objective
from fedadmet.serve.schemas import PAGED, Paging, sent
from fedadmet.workflows import design
from fedadmet.workflows.profiling import profile

MAX_MOLECULES = 1000
RUN_PREFIX = "run:"


class DesignRequest(BaseModel):
    start: list[str] = Field(min_length=1, max_length=design.MAX_START_MOLECULES)
    objective: dict[str, Any] = Field(description="The objective as in the TOML file, in JSON.")
    budget: int = Field(ge=1, le=design.MAX_BUDGET, description="Molecules to profile in all.")
    seed: int = 0
    name: str = Field(default="", max_length=200)


class ScoreRequest(BaseModel):
    smiles: list[str] = Field(min_length=1, max_length=MAX_MOLECULES)
    objective: dict[str, Any]
    references: list[str] = Field(default_factory=list, max_length=MAX_MOLECULES)


class ReinventQuery(BaseModel):
    input_string: str
    query_id: str


class DesignStarted(BaseModel):
    id: int
    status: str


class DesignScore(BaseModel):
    smiles: str = Field(description="The standardised parent, or the SMILES as sent where it has none.")
    score: float
    score_low: float
    score_high: float
    dropped: str | None = Field(description="The hard constraint the molecule failed, if any.")
    components: dict[str, float] = Field(description="Each goal's or term's desirability.")


class ReinventSuccess(BaseModel):
    query_id: str
    output_value: float


class ReinventFailure(BaseModel):
    query_id: str
    input_string: str


class ReinventOutput(BaseModel):
    successes_list: list[ReinventSuccess]
    failures_list: list[ReinventFailure]


class ReinventAnswer(BaseModel):
    output: ReinventOutput


def design_router(authorized: Callable[..., Any], model_dir: Path | None = None) -> APIRouter:
    """The routes, each behind ``authorized`` (the app's API-key dependency, giving the user), predicting
    with ``model_dir`` (default: the default model)."""
    router = APIRouter(prefix="/v1/design", tags=["design"])
    User = Annotated[Any, Depends(authorized)]
    RunId = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]
    Paged = Annotated[Paging, Depends(Paging.from_query)]

    def owned(run_id: int, user: Any) -> design.DesignRunView:
        try:
            run = design.show_design(run_id)
        except design.UnknownDesignRunError:
            run = None
        if run is None or run.user_id != user.id:
            raise HTTPException(404, f"no design run {run_id} for this API key")
        return run

    @router.post("/runs", status_code=202)
    def start_run(body: DesignRequest, background: BackgroundTasks, user: User) -> DesignStarted:
        """Start a design run; it runs in the background (poll GET /v1/design/runs/{id})."""
        objective = parse_objective(body.objective)
        run_id = design.create_design(
            body.start, objective, budget=body.budget, seed=body.seed, name=body.name, model=model_dir, user_id=user.id
        )
        background.add_task(design.continue_design, run_id)
        return DesignStarted(id=run_id, status="running")

    @router.get("/runs", responses=PAGED)
    def list_runs(user: User, paging: Paged, response: Response) -> list[design.DesignRunSummary]:
        """The key's design runs, newest first; ``X-Total-Count`` holds their number."""
        return sent(paging.of(design.list_design_runs(None, user_id=user.id)), response)

    @router.get("/runs/{run_id}")
    def show_run(run_id: RunId, user: User) -> design.DesignRunView:
        """The run with every generation and candidate: why each was kept or dropped, scores with ranges."""
        return owned(run_id, user)

    @router.get(
        "/runs/{run_id}/molecules.csv",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}, "description": "The designed molecules, best first."}},
    )
    def run_molecules(run_id: RunId, user: User) -> Response:
        """The designed molecules, best first, as CSV (SMILES and scores: a campaign's seed list)."""
        buffer = io.StringIO()
        design.results_table(owned(run_id, user)).to_csv(buffer, index=False)
        return Response(buffer.getvalue(), media_type="text/csv")

    @router.post("/score")
    def score(body: ScoreRequest, _: User) -> list[DesignScore]:
        """Scores under an objective, without a run."""
        results = design.score_molecules(
            body.smiles, parse_objective(body.objective), references=body.references, model=model_dir
        )
        return [
            DesignScore(
                smiles=result.parent or result.smiles,
                score=result.score,
                score_low=result.score_low,
                score_high=result.score_high,
                dropped=result.dropped,
                components=result.components,
            )
            for result in results
        ]

    @router.post("/reinvent")
    def reinvent(
        body: Annotated[list[ReinventQuery], Body(max_length=MAX_MOLECULES)],
        user: User,
        predictor_id: Annotated[str, Query(description="An endpoint name, or run:<id> for a design objective.")],
        predictor_version: str = "",
        inp_fmt: str = "smiles",
    ) -> ReinventAnswer:
        """REINVENT 4 REST scoring component: values (or design scores) per query id."""
        if inp_fmt != "smiles":
            raise HTTPException(422, f"inp_fmt {inp_fmt!r}: only smiles is read")
        texts = [query.input_string for query in body]
        if predictor_id.startswith(RUN_PREFIX):
            values = _run_scores(predictor_id.removeprefix(RUN_PREFIX), texts, user)
        else:
            frame = profile(texts, predictor=model_dir, endpoints=[predictor_id])
            if predictor_id not in frame.columns:
                raise HTTPException(422, f"predictor_id {predictor_id!r} is neither an endpoint nor run:<id>")
            failed = frame["error"].notna()
            values = [None if error else value for value, error in zip(frame[predictor_id], failed, strict=True)]
        successes, failures = [], []
        for query, value in zip(body, values, strict=True):
            if value is None:
                failures.append({"query_id": query.query_id, "input_string": query.input_string})
            else:
                successes.append({"query_id": query.query_id, "output_value": float(value)})
        return ReinventAnswer.model_validate({"output": {"successes_list": successes, "failures_list": failures}})

    def _run_scores(run_id: str, texts: list[str], user: Any) -> list[float | None]:
        if not run_id.isdigit() or not 1 <= int(run_id) < 2**31:
            raise HTTPException(422, f"predictor_id run:{run_id}: expected run:<number>")
        run = owned(int(run_id), user)
        scores = design.score_molecules(
            texts, parse_objective(run.objective), references=run.start, model=Path(run.model_uri)
        )
        return [None if result.parent is None else result.score for result in scores]

    return router
