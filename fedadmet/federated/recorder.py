"""What the runtime records of a run, and through what: a :class:`RunRecorder` that the use case
(:mod:`fedadmet.workflows.federation`) implements over the registry, so that the strategy and the
ServerApp never open a database session themselves."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fedadmet.federated.failures import PartnerFailure


@dataclass(frozen=True)
class FitRound:
    """What one round's training step aggregated (no partners: it aggregated nothing)."""

    round: int
    partners: list[str]
    metrics: dict[str, dict[str, Any]]  # by partner: the metrics each shared
    excluded: dict[str, PartnerFailure]
    epsilon: float | None = None  # DP budget spent up to this round


@dataclass(frozen=True)
class EvaluationRound:
    round: int
    metrics: dict[str, dict[str, Any]]  # by partner
    failures: dict[str, PartnerFailure]
    bytes_sent: int


@dataclass(frozen=True)
class Published:
    """The parameters a completed run leaves, as a read-only artifact named by its digest."""

    artifact: Path
    digest: str
    rounds: int
    parameters: int  # how many numbers the shared model holds
    converged_at: int | None = None  # the round whose score ended the run early (none: it ran every round)


@dataclass(frozen=True)
class RunEnd:
    status: str  # "failed" or "interrupted"
    reason: str
    failures: list[PartnerFailure] = field(default_factory=list)  # the partners' failures behind it, if any


class RunRecorder(Protocol):
    def aggregated_partner_counts(self, before_round: int) -> list[int]:
        """How many partners each round before ``before_round`` aggregated (rounds that aggregated)."""

    def record_fit(self, fit: FitRound) -> None: ...

    def record_evaluation(self, evaluation: EvaluationRound) -> None: ...

    def publish(self, published: Published) -> dict[str, Any]:
        """Publish the run's model version and mark the run completed; a summary of it."""

    def end(self, end: RunEnd) -> None:
        """Record why the run ended, unless its end is recorded already."""
