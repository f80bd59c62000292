"""What the Flower runtime knows of a model: a task that makes initial parameters and opens one session per
partner. The runtime never imports a task's domain (molecules, patients); tasks register here by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class RoundInfo:
    server_round: int
    run_name: str
    run_id: int
    options: Mapping[str, Any]  # the task's own settings as sent by the coordinator (JSON-able)


@dataclass(frozen=True)
class FitResult:
    parameters: dict[str, np.ndarray]  # the shared arrays after local training (names as in initial_parameters)
    num_examples: int
    metrics: dict[str, float | int | str]  # only what the partner agrees to share (no per-record values)


@dataclass(frozen=True)
class EvaluateResult:
    num_examples: int
    metrics: dict[str, float | int | str]


class PartnerSession(Protocol):
    """One partner's data and private state, living on its node across rounds."""

    partner: str

    def fit(self, shared: Mapping[str, np.ndarray], round: RoundInfo) -> FitResult: ...
    def evaluate(self, shared: Mapping[str, np.ndarray], round: RoundInfo) -> EvaluateResult: ...
    def keep(self, shared: Mapping[str, np.ndarray], round: RoundInfo, valid_score: float) -> None: ...


class FederatedTask(Protocol):
    """All the Flower runtime knows of a model."""

    name: str

    def initial_parameters(self, options: Mapping[str, Any]) -> dict[str, np.ndarray]: ...
    def open_partner(self, data_dir: Path, options: Mapping[str, Any]) -> PartnerSession: ...


TASKS: dict[str, Callable[[], FederatedTask]] = {}


def register_task(name: str) -> Callable[[Callable[[], FederatedTask]], Callable[[], FederatedTask]]:
    """Make the task ``name`` known to the runtime (used as a class decorator)."""

    def register(factory: Callable[[], FederatedTask]) -> Callable[[], FederatedTask]:
        TASKS[name] = factory
        return factory

    return register
