"""The typed answers of the API (what OpenAPI states for each route) and the one paging convention of
every list route: ``limit`` and ``offset`` in the query, the page as a JSON list, the whole list's length
in the ``X-Total-Count`` header."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, TypeVar

from fastapi import Query, Response
from pydantic import BaseModel, Field

from fedadmet.workflows.views import Page

PAGE_DEFAULT, PAGE_MAX = 50, 500
DATABASE_INTEGER_MAX = 2**63 - 1  # SQLite and PostgreSQL store no larger integer: larger offsets are refused
TOTAL_HEADER = "X-Total-Count"
Item = TypeVar("Item")


class Paging(BaseModel):
    """Which page of a list route a caller asked for (query parameters ``limit`` and ``offset``)."""

    limit: int
    offset: int

    @classmethod
    def from_query(
        cls,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="Items per page.")] = PAGE_DEFAULT,
        offset: Annotated[int, Query(ge=0, le=DATABASE_INTEGER_MAX, description="Items to skip.")] = 0,
    ) -> Paging:
        return cls(limit=limit, offset=offset)

    def of(self, items: Sequence[Item]) -> Page[Item]:
        """This page of a list read whole (a short one: model versions, campaigns, reports)."""
        return Page(items=list(items[self.offset : self.offset + self.limit]), total=len(items))


def sent(page: Page[Item], response: Response) -> list[Item]:
    """The page's items as a list route answers them, its total in ``X-Total-Count``."""
    response.headers[TOTAL_HEADER] = str(page.total)
    return page.items


PAGED = {
    200: {
        "headers": {
            TOTAL_HEADER: {"description": "How many items the whole list holds.", "schema": {"type": "integer"}}
        }
    }
}


class Health(BaseModel):
    status: str = Field(description="ok, or why the server is degraded.")
    version: str
    endpoints: int = Field(description="How many endpoints the served model predicts.")


class Limits(BaseModel):
    max_molecules_per_request: int
    max_body_bytes: int
    max_upload_bytes: int
    max_job_rows: int


class EndpointInfo(BaseModel):
    """How an endpoint the model predicts is read."""

    name: str
    category: str
    task: str
    unit: str
    good: str | None = Field(description="higher, lower, or none where no direction is desirable.")
    description: str
    thresholds: str = Field(description="How its traffic light is set.")


class EndpointValue(BaseModel):
    """One endpoint's prediction for one molecule."""

    name: str
    category: str
    task: str
    unit: str
    value: float | None = Field(description="The value in the unit; for a classifier the probability.")
    uncertainty: float | None
    interval: list[float] | None = Field(description="A regression endpoint's 90 % interval in the unit.")
    percentile: float | None = Field(description="Percentile among approved drugs' predictions.")
    traffic_light: Literal["green", "amber", "red", "neutral"]


class RadarAxis(BaseModel):
    axis: str
    endpoint: str
    score: float = Field(description="0–1, 1 = desirable.")


class MoleculeProfile(BaseModel):
    """One molecule's profile; a molecule that could not be profiled has only ``error`` and what it was."""

    id: str | None = Field(description="The name or ID the caller sent with the molecule.")
    input: str | None = Field(description="The SMILES as sent.")
    smiles: str | None = Field(description="The standardised parent the profile is for.")
    standardisation: str | None = Field(description="What standardisation changed.")
    error: str | None = Field(description="Why the molecule has no profile.")
    applicability_domain: float | None = None
    in_domain: bool | None = None
    alerts: list[str] | None = None
    endpoints: list[EndpointValue] | None = None
    radar: list[RadarAxis] | None = None
    svg: str | None = Field(default=None, description="The depiction, where asked for.")


class PredictAnswer(BaseModel):
    model_version_id: int = Field(description="The registry version that answered (GET /v1/models).")
    molecules: list[MoleculeProfile] = Field(description="One per molecule sent, in order.")


class JobAnswer(BaseModel):
    id: str
    filename: str
    status: str
    rows: int
    done: int
    errors: int
    progress: float
    message: str
    created: str
    result: str | None = Field(description="Where the CSV is, once completed.")
