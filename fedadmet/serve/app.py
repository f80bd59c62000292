"""The FastAPI application: REST API under /v1, the web page at /, OpenAPI at /docs and /openapi.json.

Every answer to a bad request is a 4xx whose ``detail`` says what was wrong; a 5xx means the server's own
model or files failed (or a bug), never the caller's input.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import fastapi_offline
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, Response, Security, UploadFile
from fastapi import Path as PathParameter
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from fedadmet import __version__
from fedadmet.config import Settings, get_settings
from fedadmet.exceptions import FedadmetError, InputError, ModelUnavailableError, TooLargeError, readable_size
from fedadmet.serve.batching import MicroBatcher
from fedadmet.serve.campaign_routes import campaign_router
from fedadmet.serve.clinical_routes import clinical_router
from fedadmet.serve.design_routes import design_router
from fedadmet.serve.schemas import (
    DATABASE_INTEGER_MAX,
    PAGED,
    AtcClassInfo,
    EndpointInfo,
    Health,
    JobAnswer,
    Limits,
    Paging,
    PredictAnswer,
    PropertiesInfo,
    sent,
)
from fedadmet.serve.workers import ProfileWorkers
from fedadmet.workflows.jobs import JobNotFoundError, JobNotReadyError, JobService, JobView, JobWithdrawnError
from fedadmet.workflows.keys import Caller, check_key
from fedadmet.workflows.predictors import ResolvedPredictor, register_served_model, resolve_predictor
from fedadmet.workflows.profiling import (
    choose_endpoints,
    describe_endpoints,
    describe_properties,
    listed_endpoints,
    named_molecules,
    profile_cards,
)
from fedadmet.workflows.reference import DrugReference, load_reference
from fedadmet.workflows.store import Store, open_store
from fedadmet.workflows.views import Page, RunView, VersionView, get_run, list_runs, list_versions

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"  # Swagger UI 5, which reads OpenAPI 3.1
DOCS_ASSETS = "/docs-assets"
FAVICON = Path(__file__).parent / "favicon.svg"
NO_KEY = (
    "an API key is required: paste yours into the API key field of the web page (`fedadmet serve` prints a "
    "link that fills it in); programs send it as the X-API-Key header"
)
REFUSALS_SHOWN = 10  # per-molecule reasons in a 422 for a request where no molecule could be profiled
SERVER_FAILURE_DETAIL = "the server's model or stored files failed; this is not your request's fault (see the log)"
SERVER_ERRORS = (500, 503)  # answers of a route that profiles: its model or files failed
INPUT_ERROR_STATUS: dict[type[InputError], int] = {  # first match wins; any other InputError is a 422
    TooLargeError: 413,
    JobNotFoundError: 404,
    JobNotReadyError: 409,
    JobWithdrawnError: 410,
}


class PredictRequest(BaseModel):
    """Molecules to profile (the server states its maximum per request in ``GET /v1/limits``)."""

    model_config = ConfigDict(extra="forbid", strict=True)  # "yes" is not a boolean, 1 is not a SMILES
    smiles: list[str] = Field(
        min_length=1,
        description="SMILES strings, profiled in order; each may be followed by white space and a name "
        '("CCO ethanol"), as in a .smi file, which comes back as the molecule\'s id.',
    )
    ids: list[str] | None = Field(
        default=None,
        description="A name or ID per molecule (as many as smiles), returned with its profile as id, so that "
        "the answer joins to your records.",
    )
    depict: bool = Field(default=False, description="Add an RDKit SVG depiction of each molecule.")
    endpoints: list[str] | None = Field(
        default=None,
        description="Only these endpoints (names as GET /v1/endpoints lists them), in this order; default: all.",
    )
    atc: str | None = Field(
        default=None,
        description="Percentiles among the approved drugs of this ATC class only (e.g. N, N06); "
        "GET /v1/reference/atc lists the classes. Default: all approved drugs.",
    )

    @field_validator("smiles", "ids")
    @classmethod
    def _unicode_text(cls, texts: list[str] | None, info: ValidationInfo) -> list[str] | None:
        """JSON can escape a lone surrogate (``"\\ud800"``) that no UTF-8 answer could echo back."""
        for number, text in enumerate(texts or (), start=1):
            try:
                text.encode()
            except UnicodeEncodeError as exc:
                what = "molecule" if info.field_name == "smiles" else "id"
                problem = f"{what} {number} is not Unicode text ({exc.reason} at position {exc.start + 1})"
                raise ValueError(problem) from None
        return texts


class ErrorAnswer(BaseModel):
    """Every error answer: what was wrong, in words."""

    detail: str


ERROR_MEANINGS = {
    401: "No API key, or one that is unknown or revoked.",
    404: "No such job of this key's user, or no such run.",
    409: "The job has not completed yet.",
    410: "The job was cancelled, or its files deleted.",
    413: "More molecules, bytes or rows than the limits in GET /v1/limits.",
    422: "The request cannot be used (for /v1/predict also: no molecule of it could be profiled); detail says why.",
    500: "The server's model or stored files failed (not the request's fault).",
    503: "The server's model cannot be loaded or used right now.",
}


def error_answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers of a route with an API key (401, 422) and ``codes``."""
    return {code: {"description": ERROR_MEANINGS[code], "model": ErrorAnswer} for code in (401, 422, *codes)}


class ServingState:
    """What the routes share: the loaded model, its approved-drug reference, the registry and the workers.

    Built by :meth:`open`, the explicit startup step; the constructor only keeps what it is given."""

    def __init__(
        self,
        settings: Settings,
        served: ResolvedPredictor,
        reference: DrugReference,
        sessions: Store,
        model_version_id: int,
    ) -> None:
        assert served.folder is not None
        self.settings, self.model_dir, self.model = settings, served.folder, served.model
        self.reference, self.sessions, self.model_version_id = reference, sessions, model_version_id
        self.jobs = JobService(sessions, settings, self.model, str(self.model_dir))
        self.workers: ProfileWorkers | None = None
        self.batcher = MicroBatcher(
            self.profile,
            settings.batch_wait_ms / 1000,
            settings.batch_max_molecules,
            concurrency=max(1, settings.serve_processes),
        )

    @classmethod
    def open(cls, settings: Settings, model_dir: Path | None) -> ServingState:
        """Load the model (default: the default model) and its approved-drug reference, open (and migrate)
        the registry and register the model there: the work a server does once before it serves."""
        served = resolve_predictor(settings, model=model_dir)
        reference = load_reference(served.model, served.folder, settings.reference_cache_dir)
        sessions = open_store(settings.registry_url)
        return cls(settings, served, reference, sessions, register_served_model(sessions, served))

    async def start(self) -> None:
        if self.settings.serve_processes > 0:
            self.workers = ProfileWorkers(self.settings, self.model_dir, self.reference, self.settings.serve_processes)
            await self.workers.start()
        await self.batcher.start()
        self.jobs.start()

    async def stop(self) -> None:
        self.jobs.stop()
        await self.batcher.stop()
        if self.workers is not None:
            self.workers.stop()

    async def profile(self, smiles: list[str], options: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Cards for ``smiles``; ``options``: (depict, endpoints, ATC class of the percentiles), as
        :meth:`predict_options` makes them."""
        depict, endpoints, atc = options or (False, None, None)
        if self.workers is not None:
            return await self.workers.profile(smiles, depict, endpoints, atc)
        quantiles = self.reference.quantiles_for(atc)
        return await asyncio.to_thread(profile_cards, self.model, quantiles, smiles, depict, endpoints)

    def predict_options(self, body: PredictRequest) -> tuple[bool, tuple[str, ...] | None, str | None]:
        """What a batch of /v1/predict calls must share (hashable): depictions, the chosen endpoints and the ATC
        class of the percentiles, checked here so that an unknown name is the caller's 422 before any work."""
        self.reference.quantiles_for(body.atc)  # refuses a class that cannot give percentiles
        if body.endpoints is None:
            return body.depict, None, body.atc
        return body.depict, tuple(choose_endpoints(self.model.endpoints, body.endpoints)), body.atc


# Declared as security schemes, so that OpenAPI (and /docs' Authorize button) says how to send the key.
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (`fedadmet keys create`).")
BEARER = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


def current_user(
    request: Request,
    api_key: Annotated[str | None, Security(API_KEY_HEADER)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
) -> Caller:
    """The user whose key came in ``X-API-Key`` (or ``Authorization: Bearer``); 401 otherwise."""
    state: ServingState = request.app.state.serving
    key = api_key or (bearer.credentials if bearer is not None else "")
    if not key.strip():
        raise HTTPException(401, NO_KEY)
    user = check_key(state.sessions, key.strip())
    if user is None:
        raise HTTPException(401, "the API key is not valid (unknown or revoked)")
    return user


Authorized = Annotated[Caller, Depends(current_user)]
Paged = Annotated[Paging, Depends(Paging.from_query)]


def create_app(settings: Settings | None = None, model_dir: Path | None = None) -> FastAPI:
    """The app for ``model_dir`` (default: the default model) with ``settings`` (default: the environment)."""
    settings = settings or get_settings()
    state = ServingState.open(settings, Path(model_dir) if model_dir else None)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.start()
        yield
        await state.stop()

    app = FastAPI(
        title="fedadmet",
        version=__version__,
        description="ADMET/Tox profiles with uncertainty, applicability domain, alerts and drug percentiles.",
        lifespan=lifespan,
        docs_url=None,  # served below from the bundled Swagger UI, so that it works offline
        redoc_url=None,
    )
    app.state.serving = state
    app.add_middleware(BodyLimit, settings=settings)
    _add_error_handlers(app)
    _add_routes(app, state)
    app.include_router(design_router(current_user, state.model_dir))
    app.include_router(campaign_router(current_user))
    app.include_router(clinical_router(current_user))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI), name="docs-assets")
    return app


def _add_routes(app: FastAPI, state: ServingState) -> None:
    settings = state.settings

    @app.get("/", include_in_schema=False)
    def web_page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        )

    @app.get("/favicon.ico", include_in_schema=False)  # browsers ask for it whatever the page links
    def favicon() -> FileResponse:
        return FileResponse(FAVICON, media_type="image/svg+xml")

    @app.get("/healthz", response_model=Health, responses={503: {"model": Health, "description": "Degraded."}})
    @app.head("/healthz", include_in_schema=False)  # monitors often ask with HEAD
    def health() -> JSONResponse:
        """200 while everything serves; 503 (for load balancers and monitors) if batch jobs have stopped."""
        healthy = state.jobs.alive
        answer = Health(
            status="ok" if healthy else "degraded: the batch-job worker is not running",
            version=__version__,
            endpoints=len(state.model.endpoints),
        )
        return JSONResponse(answer.model_dump(), 200 if healthy else 503)

    @app.get("/v1/limits", responses=error_answers())
    def limits(_: Authorized) -> Limits:
        return Limits(
            max_molecules_per_request=settings.api_max_molecules,
            max_body_bytes=settings.api_max_body_bytes,
            max_upload_bytes=settings.upload_max_bytes,
            max_job_rows=settings.job_max_rows,
        )

    @app.post("/v1/predict", response_model=PredictAnswer, responses=error_answers(413, *SERVER_ERRORS))
    async def predict_route(body: PredictRequest, _: Authorized) -> JSONResponse:
        """Profiles in the order sent, each with the id sent for its molecule."""
        if len(body.smiles) > settings.api_max_molecules:
            raise HTTPException(
                413, f"{len(body.smiles)} molecules in one request; at most {settings.api_max_molecules}"
            )
        smiles, ids = named_molecules(body.smiles, body.ids)
        options = state.predict_options(body)
        profiles = await state.batcher.predict(smiles, options)
        if all(p["error"] for p in profiles):
            shown = profiles[:REFUSALS_SHOWN]
            reasons = "; ".join(f"molecule {i + 1}: {p['error']}" for i, p in enumerate(shown))
            more = f"; and {len(profiles) - len(shown)} more" if len(profiles) > len(shown) else ""
            raise HTTPException(422, f"no molecule could be profiled: {reasons}{more}")
        # Profiles are plain JSON already (PredictAnswer states their shape; a test checks them against it):
        # returned as they are, without FastAPI's generic validation and re-encoding (~0.7 ms per molecule
        # on the event loop, which every concurrent request waits behind).
        molecules = [{"id": id_} | profile for id_, profile in zip(ids, profiles, strict=True)]
        reference = state.reference.describe(body.atc)
        return JSONResponse(
            {
                "model_version_id": state.model_version_id,
                "percentile_reference": {"atc": reference.code, "name": reference.name, "drugs": reference.drugs},
                "molecules": molecules,
            }
        )

    @app.get("/v1/reference/atc", responses=error_answers() | PAGED)
    def atc_classes(_: Authorized, paging: Paged, response: Response) -> list[AtcClassInfo]:
        """The ATC classes (levels 1 and 2, at least 10 drugs) that /v1/predict's ``atc`` compares with, with
        their drug counts, by code; ``X-Total-Count`` holds their number."""
        classes = [AtcClassInfo(code=c.code, name=c.name, drugs=c.drugs) for c in state.reference.classes()]
        return sent(paging.of(classes), response)

    @app.get("/v1/properties", responses=error_answers())
    def properties(_: Authorized) -> PropertiesInfo:
        """The physicochemical properties and drug-likeness rules in every profile: what each is, each limit."""
        return PropertiesInfo.model_validate(describe_properties())

    @app.get("/v1/endpoints", responses=error_answers())
    def endpoints(_: Authorized) -> list[EndpointInfo]:
        """Every endpoint the model predicts (a description of the model, not a growing list: not paged)."""
        return [EndpointInfo.model_validate(row) for row in describe_endpoints(state.model.endpoints)]

    @app.post("/v1/jobs", status_code=202, responses=error_answers(413))
    async def submit_job(
        request: Request,
        user: Authorized,
        file: Annotated[UploadFile, File(description="CSV/TSV with a SMILES column, or an SD file; .gz allowed.")],
        smiles_column: Annotated[
            str | None, Form(description="SMILES column (default: smiles, SMILES, Drug, ...)")
        ] = None,
        endpoints: Annotated[
            str | None, Form(description="Only these endpoints, comma-separated (default: all).")
        ] = None,
    ) -> JobAnswer:
        parts = len((await request.form()).getlist("file"))  # parsed once already: the form is kept
        if parts > 1:
            raise HTTPException(422, f"one file per job: the upload holds {parts} parts named 'file'")
        data = await file.read(settings.upload_max_bytes + 1)
        if len(data) > settings.upload_max_bytes:
            raise HTTPException(413, f"the upload is larger than {readable_size(settings.upload_max_bytes)}")
        # Parsing a large upload takes seconds: in a thread, so that other requests are not held up.
        name, chosen = file.filename or "upload.csv", listed_endpoints(endpoints)
        job = await run_in_threadpool(state.jobs.submit, name, data, user.id, smiles_column, chosen)
        return _job_json(job)

    @app.get("/v1/jobs", responses=error_answers() | PAGED)
    def list_jobs(user: Authorized, paging: Paged, response: Response) -> list[JobAnswer]:
        """This key's user's jobs, newest first: a page or client that lost a job's id finds it here."""
        page = state.jobs.list(user.id, paging.limit, paging.offset)
        return sent(Page(items=[_job_json(job) for job in page.items], total=page.total), response)

    @app.get("/v1/jobs/{job_id}", responses=error_answers(404))
    def job_status(job_id: str, user: Authorized) -> JobAnswer:
        job = state.jobs.get(job_id, user.id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r} for this API key")
        return _job_json(job)

    @app.delete("/v1/jobs/{job_id}", responses=error_answers(404))
    def withdraw_job(job_id: str, user: Authorized) -> JobAnswer:
        """Cancel an unfinished job (it stops within one chunk), or delete a finished job's result; either
        way the job's files (upload, partial and final results) are removed. The job stays listed."""
        job = state.jobs.withdraw(job_id, user.id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r} for this API key")
        return _job_json(job)

    @app.get(
        "/v1/jobs/{job_id}/result",
        response_class=FileResponse,
        responses={200: {"content": {"text/csv": {}}, "description": "The profiles, one row per input row."}}
        | error_answers(404, 409, 410),
    )
    def job_result(job_id: str, user: Authorized) -> FileResponse:
        result = state.jobs.result(job_id, user.id)  # its typed refusals are answered 404, 409 or 410
        return FileResponse(result.path, media_type="text/csv", filename=result.download_name)

    @app.get("/v1/models", responses=error_answers() | PAGED)
    def models(user: Authorized, paging: Paged, response: Response) -> list[VersionView]:
        """Model versions, newest first; ``X-Total-Count`` holds their number."""
        versions = list_versions(state.sessions, user.partner, serving_id=state.model_version_id)
        return sent(paging.of(versions), response)

    @app.get("/v1/federation/runs", responses=error_answers() | PAGED)
    def federation_runs(user: Authorized, paging: Paged, response: Response) -> list[RunView]:
        """Federation runs, newest first, with their rounds; ``X-Total-Count`` holds the number of runs.
        A partner's user sees its own shared metrics and the consortium's mean, not other partners'."""
        return sent(list_runs(state.sessions, user.partner, paging.limit, paging.offset), response)

    @app.get("/v1/federation/runs/{run_id}", responses=error_answers(404))
    def federation_run(
        run_id: Annotated[int, PathParameter(ge=1, le=DATABASE_INTEGER_MAX, description="The run's id.")],
        user: Authorized,
    ) -> RunView:
        run = get_run(state.sessions, run_id, user.partner)
        if run is None:
            raise HTTPException(404, f"no federation run {run_id}")
        return run


def _job_json(job: JobView) -> JobAnswer:
    result = f"/v1/jobs/{job.id}/result" if job.completed else None
    return JobAnswer(**asdict(job) | {"progress": job.progress, "created": job.created.isoformat(), "result": result})


class BodyLimit:
    """Refuses bodies over the limit before they are read (uploads have their own, larger limit).

    Plain ASGI: Starlette's ``BaseHTTPMiddleware`` (``app.middleware("http")``) would wrap every request
    in a task group and memory streams on the event loop that all concurrent requests share."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = _body_refusal(self.settings, scope) if scope["type"] == "http" else None
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _body_refusal(settings: Settings, scope: Scope) -> JSONResponse | None:
    limit = settings.upload_max_bytes + 64_000 if scope["path"] == "/v1/jobs" else settings.api_max_body_bytes
    declared = Headers(scope=scope).get("content-length")
    if declared is not None and (not (declared.isascii() and declared.isdigit()) or int(declared) > limit):
        too_large = f"the request body is larger than {readable_size(limit)} (or its Content-Length is not a number)"
        return JSONResponse({"detail": too_large}, 413)
    if declared is None and scope["method"] in {"POST", "PUT", "PATCH"}:
        return JSONResponse({"detail": "a Content-Length header is required"}, 411)
    return None


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        untyped = "json" not in request.headers.get("content-type", "")  # then the body was not read as JSON
        problems = []
        for error in exc.errors()[:20]:
            if error.get("type") == "json_invalid":  # loc: ("body", the character position from 0)
                position = error.get("loc", ("body", 0))[-1]
                reason = error.get("ctx", {}).get("error", "")
                problems.append(f"the body is not valid JSON ({reason} at character {position + 1})")
                continue
            # Positions count from 1, as in the per-molecule errors of /v1/predict ("smiles #2").
            parts = [f"#{part + 1}" if isinstance(part, int) else str(part) for part in error.get("loc", ())]
            where = " ".join(part for part in parts if part != "body") or "body"
            reason = "send it as JSON, with Content-Type: application/json" if where == "body" and untyped else None
            problems.append(f"{where}: {reason or error.get('msg', 'invalid')}")
        return JSONResponse({"detail": "invalid request: " + "; ".join(problems)}, 422)

    @app.exception_handler(FedadmetError)
    async def platform_error(_: Request, exc: FedadmetError) -> JSONResponse:
        """The caller's input: 4xx with what was wrong. Anything else (the server's model or files): 5xx,
        with the reason in the operator's log and not in the answer (it may name the server's paths)."""
        if isinstance(exc, InputError):
            return JSONResponse({"detail": str(exc)}, _input_status(exc))
        log.error("the server failed to answer: %s: %s", type(exc).__name__, exc)
        status = 503 if isinstance(exc, ModelUnavailableError) else 500
        return JSONResponse({"detail": SERVER_FAILURE_DETAIL}, status)


def _input_status(exc: InputError) -> int:
    for kind, status in INPUT_ERROR_STATUS.items():
        if isinstance(exc, kind):
            return status
    return 422
