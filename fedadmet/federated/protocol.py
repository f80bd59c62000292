"""All the federation runtime knows of a model: the :class:`FederatedTask` protocol, and tasks by name.

The Flower apps, the strategy and the simulation speak only this protocol, so any model a partner can
train locally (the molecular multitask trunk, a patient-level model, a tiny logistic regression in the
tests) is federated by the same runtime. Parameters are named NumPy arrays: the shared part that is
aggregated (under SecAgg+); anything private stays with the partner in its session's ``private`` arrays,
which the node keeps between messages. A task names the metrics it returns; a partner shares only those
it agreed to (node config ``share-metrics``). An evaluation's ``valid_score`` (higher is better) selects
the model a partner keeps of each run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fedadmet.exceptions import InputError

VALID_SCORE = "valid_score"
Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class RoundInfo:
    """What a partner learns of the round it trains or evaluates in."""

    server_round: int
    run_name: str
    run_id: int
    n_partners: int
    options: Mapping[str, Any]  # the run's settings as the coordinator sent them (JSON-able, the task's included)
    trunk_round: int = -1  # the last round aggregated into the shared parameters (0: the initial ones; -1: unknown)


@dataclass(frozen=True)
class FitResult:
    parameters: Arrays  # the shared arrays after local training (names as in initial_parameters)
    num_examples: int
    metrics: dict[str, float | int | str]  # only aggregate values, never per-record ones
    private: Arrays = field(default_factory=dict)  # kept at the node for the next message, never sent


@dataclass(frozen=True)
class EvaluateResult:
    num_examples: int
    metrics: dict[str, float | int | str]  # VALID_SCORE among them


@dataclass(frozen=True)
class Partners:
    """What a task checks of a set of partner folders before a simulation starts."""

    names: list[str]
    key_id: str = ""  # the consortium key their data was prepared with ("" where the task has none)


class PartnerSession(Protocol):
    """One partner's data and private state for one message."""

    partner: str

    def fit(self, shared: Mapping[str, np.ndarray], round: RoundInfo) -> FitResult: ...

    def evaluate(self, shared: Mapping[str, np.ndarray], round: RoundInfo) -> EvaluateResult: ...

    def keep(self, shared: Mapping[str, np.ndarray], round: RoundInfo, evaluation: EvaluateResult) -> None:
        """Keep this model as the partner's model of the run if it is the best so far (see :func:`replaces_kept`)."""


class FederatedTask(Protocol):
    """A model the runtime can federate."""

    name: str

    def initial_parameters(self, options: Mapping[str, Any]) -> Arrays:
        """The shared arrays before round 1 (on the coordinator, without any data)."""

    def open_partner(
        self, data_dir: Path, options: Mapping[str, Any], private: Mapping[str, np.ndarray]
    ) -> PartnerSession:
        """The partner's data in ``data_dir`` with the private arrays its node kept (empty at first)."""

    def partner_name(self, data_dir: Path) -> str:
        """The name a partner is known by, also when its data cannot be opened (to name its failure)."""

    def check_partners(self, data_dirs: Sequence[Path]) -> Partners:
        """Refuse (InputError) partner folders that cannot federate together; their names otherwise."""


TaskFactory = Callable[[], FederatedTask]
_TASKS: dict[str, TaskFactory] = {}
# Tasks that register themselves when their module is imported; imported only when first asked for.
_BUILT_IN = {"molecular": "fedadmet.federated.tasks.molecular", "clinical": "fedadmet.clinical.federated_task"}


def register_task(name: str) -> Callable[[TaskFactory], TaskFactory]:
    """Make a task available by ``name`` (the name travels in the run config)."""

    def register(factory: TaskFactory) -> TaskFactory:
        _TASKS[name] = factory
        return factory

    return register


def get_task(name: str) -> FederatedTask:
    """A new instance of the task registered as ``name``."""
    if name not in _TASKS and name in _BUILT_IN:
        import importlib

        importlib.import_module(_BUILT_IN[name])
    if name not in _TASKS:
        raise InputError(f"no federated task {name!r}", expected=f"one of {sorted({*_TASKS, *_BUILT_IN})}")
    return _TASKS[name]()


def replaces_kept(kept: Mapping[str, Any], valid_score: float, trunk_round: int) -> bool:
    """Whether the model just evaluated replaces the one kept for this run. Shared parameters the
    federation aggregated (round > 0, or not known) replace the initial ones whatever the scores: a round
    that was not aggregated still trains the private part, and such a model can score well while being no
    federated model at all. Between two of the same kind, the better validation score wins."""
    federated, kept_federated = trunk_round != 0, int(kept.get("trunk_round", -1)) != 0
    if federated != kept_federated:
        return federated
    return valid_score > float(kept[VALID_SCORE])  # NaN never wins
