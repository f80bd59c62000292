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


class PropertyValue(BaseModel):
    name: str = Field(description="As in the CLI's table, e.g. molecular_weight, logP, tpsa, QED.")
    label: str = Field(description="Short label, e.g. MW, cLogP.")
    unit: str
    value: float | None


class RuleVerdict(BaseModel):
    name: str = Field(description="Lipinski, Veber, Pfizer_3_75, GSK_4_400 or Golden_Triangle.")
    passed: bool
    violations: list[str] = Field(description='Each limit broken, e.g. "MW 612.8 > 500" (a rule may allow one).')


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
    properties: list[PropertyValue] | None = Field(default=None, description="RDKit's physicochemical properties.")
    rules: list[RuleVerdict] | None = None
    svg: str | None = Field(default=None, description="The depiction, where asked for.")


class AtcClassInfo(BaseModel):
    """An ATC class of the approved-drug reference."""

    code: str = Field(description="The WHO ATC code (level 1: N, level 2: N06).")
    name: str | None
    drugs: int = Field(description="How many reference drugs the class holds.")


class PercentileReference(BaseModel):
    """Which approved drugs the percentiles compare with."""

    atc: str | None = Field(description="The ATC class asked for; none: all approved drugs.")
    name: str | None
    drugs: int = Field(description="How many reference drugs that is.")


class PredictAnswer(BaseModel):
    model_version_id: int = Field(description="The registry version that answered (GET /v1/models).")
    percentile_reference: PercentileReference
    molecules: list[MoleculeProfile] = Field(description="One per molecule sent, in order.")


class PropertyInfo(BaseModel):
    name: str
    label: str
    unit: str
    description: str


class RuleInfo(BaseModel):
    name: str
    statement: str = Field(description="Its limits, how many may be broken, and its source.")


class PropertiesInfo(BaseModel):
    """The physicochemical properties and drug-likeness rules every profile has."""

    properties: list[PropertyInfo]
    rules: list[RuleInfo]


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
