"""The typed shapes of a campaign's answers, one per answer, that every entry point (REST, MCP) gives."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from fedadmet.workflows.campaigns import IngestOutcome, RoundOutcome

MAX_POOL = 100_000


class PoolMolecule(BaseModel):
    """One candidate of a pool: the id the lab's results will name, and its structure."""

    model_config = ConfigDict(extra="forbid")
    compound_id: str = Field(min_length=1, max_length=200)
    smiles: str = Field(min_length=1, max_length=2000)


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


class PoolReject(BaseModel):
    row: int = Field(description="1-based data row of the pool.")
    compound_id: str
    reason: str


class CampaignCreated(CampaignSummary):
    """A new campaign, with the pool rows left out and why."""

    pool_rejects: list[PoolReject]


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
    order_files: list[str] = Field(description="File names of the round's order (CSV and SD).")
    picks: list[dict[str, Any]]
    candidates: int
    model: dict[str, Any]

    @classmethod
    def of(cls, outcome: RoundOutcome) -> ProposedRound:
        """The round as answered: its order files by name (the folder is the server's)."""
        return cls.model_validate(asdict(outcome) | {"order_files": [Path(f).name for f in outcome.order_files]})


class ResultReject(BaseModel):
    row: int = Field(description="1-based data row of the results file.")
    reason: str


class IngestedResults(BaseModel):
    campaign: str
    filename: str
    rows: int
    stored: int
    rejects: list[ResultReject] = Field(description="Rows refused (1-based), with why.")

    @classmethod
    def of(cls, outcome: IngestOutcome) -> IngestedResults:
        return cls.model_validate(asdict(outcome))
