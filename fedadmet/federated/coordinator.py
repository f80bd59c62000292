"""The coordinator's run: its settings, SecAgg+ around the strategy, resuming after the last checkpoint,
a grid the operator can stop, and the published parameters at the end.

Every run gets its own checkpoint folder (``<checkpoint-dir>/run-<registry id>``): a new run never picks
up another's checkpoint, and only an explicit resume (checked by the use case that opens the run) carries
a run on. Nothing here knows the model (the task gives the initial parameters) or the registry (a
:class:`~fedadmet.federated.recorder.RunRecorder` records).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Context, Message, RecordDict
from flwr.server import LegacyContext, ServerConfig
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from pydantic import BaseModel, SerializeAsAny
from safetensors.numpy import load as load_safetensors

from fedadmet.exceptions import FedadmetError
from fedadmet.federated.checkpoints import Checkpoint, publish_artifact
from fedadmet.federated.plan import SECAGG_CLIPPING_RANGE, FederationPlan, secagg_quantization_range
from fedadmet.federated.protocol import FederatedTask
from fedadmet.federated.recorder import Published, RunEnd, RunRecorder
from fedadmet.federated.strategy import RecordingStrategy

log = logging.getLogger("fedadmet.federation")


class RunSettings(BaseModel):
    """What the coordinator needs besides the Flower context; from ``--run-config`` in deployment."""

    run_name: str  # may be empty when resuming: the run's own name is taken
    n_partners: int
    federation: SerializeAsAny[FederationPlan] = FederationPlan()  # the task's own settings ride along
    task: str = "molecular"
    checkpoint_dir: Path
    registry_url: str | None = None
    key_id: str = ""
    partners: list[str] = []  # partner names when known up front (simulation): a resume must have the same
    run_id: int | None = None  # the registry run to carry on; None starts a new one
    started: str = ""  # when the registry run started (set when it is opened): ties a checkpoint to that run
    model_name: str = "consortium-admet"
    wait_for_partners_s: float = 120.0

    @classmethod
    def from_run_config(cls, config: dict[str, Any]) -> RunSettings:
        federation = json.loads(str(config["federation"])) if "federation" in config else {}
        return cls(
            run_name=str(config["run-name"]),
            n_partners=int(config["num-partners"]),
            federation=FederationPlan.model_validate(federation),
            task=str(config.get("task", "molecular")),
            checkpoint_dir=Path(str(config["checkpoint-dir"])),
            registry_url=str(config["registry-url"]) if config.get("registry-url") else None,
            key_id=str(config.get("key-id", "")),
            run_id=int(config["resume-run"]) if int(config.get("resume-run", 0)) > 0 else None,
        )

    @property
    def run_folder(self) -> Path:
        """This run's own checkpoint folder (the run must be open: it has a registry id)."""
        if self.run_id is None:
            raise RuntimeError("the run has no registry id yet; open it first")
        return self.checkpoint_dir / f"run-{self.run_id}"

    def identity(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed by these settings, beyond the registry run's own
        name and settings: that very run (its id and start), and the same partners and consortium key."""
        return {
            "run_id": self.run_id,
            "started": self.started,
            "key_id": self.key_id,
            "n_partners": self.n_partners,
            "partners": sorted(self.partners),
        }


@dataclass(frozen=True)
class OpenedRun:
    """A run the use case opened (or reopened) in the registry: its settings, its task and its recorder."""

    settings: RunSettings
    task: FederatedTask
    recorder: RunRecorder


class RunInterruptedError(FedadmetError):
    """The operator stopped the run (Ctrl-C); it can be resumed from its last checkpoint."""


def secagg_workflow(settings: RunSettings) -> SecAggPlusWorkflow | None:
    """The fit workflow that masks every update, or None (Flower's plain fit) when SecAgg+ is off. Its
    ``max_weight`` is the largest weight a partner sends (see :meth:`FederationPlan.update_weight`) and its
    quantisation as fine as the modulus allows for this many partners. Every partner holds a share of every
    other's keys (``num_shares`` 1.0: all of them) and the threshold counts partners, not a fraction of
    those a round sampled: a round that starts with fewer than ⌈n/2⌉ + 1 partners online is not aggregated,
    rather than unmasked with a smaller threshold."""
    federation, n = settings.federation, settings.n_partners
    if not federation.secagg:
        return None
    federation.check_partners(n)
    return SecAggPlusWorkflow(
        num_shares=1.0,
        reconstruction_threshold=federation.secagg_threshold(n),
        clipping_range=SECAGG_CLIPPING_RANGE,
        quantization_range=secagg_quantization_range(n),
        max_weight=federation.max_update_weight(),
        timeout=federation.secagg_stage_timeout_s,
    )


class StoppableGrid(Grid):
    """A grid whose waits end with :class:`RunInterruptedError` once ``stop`` is set: Flower's plain fit waits
    for replies without a time limit, so a stopped simulation would otherwise never return."""

    def __init__(self, grid: Grid, stop: threading.Event) -> None:
        self.grid, self.stop = grid, stop

    def set_run(self, run: Run) -> None:
        self.grid.set_run(run)

    @property
    def run(self) -> Run:
        return self.grid.run

    def create_message(
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str, ttl: float | None = None
    ) -> Message:
        return self.grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        self._check()  # also ends the wait for partners to connect
        return self.grid.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        self._check()
        return self.grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        self._check()
        return self.grid.pull_messages(message_ids)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        pending = set(self.push_messages(messages))
        deadline = None if timeout is None else time.time() + timeout
        replies: list[Message] = []
        while pending and (deadline is None or time.time() < deadline):
            received = list(self.pull_messages(pending))
            replies += received
            pending -= {m.metadata.reply_to_message_id for m in received}
            if pending:
                self.stop.wait(0.1)
        return replies

    def _check(self) -> None:
        if self.stop.is_set():
            raise RunInterruptedError("stopped by the operator")


def run_federation(
    grid: Grid, context: Context, settings: RunSettings, task: FederatedTask, recorder: RunRecorder
) -> dict[str, Any]:
    """Run (or resume, after its last checkpoint) the opened run and publish its model; returns a summary.
    The run's folder is held meanwhile: a second process cannot carry the same run on. An error ends the
    run recorded as failed (or interrupted), with the partners' failures behind it."""
    checkpoint = Checkpoint(settings.run_folder)
    with checkpoint.running():
        strategy: RecordingStrategy | None = None
        try:
            start, offset = _starting_point(settings, task, checkpoint)
            strategy = RecordingStrategy(settings, start, offset, recorder)
            _wait_for_partners(grid, settings)
            if settings.federation.rounds > offset:
                rounds = ServerConfig(num_rounds=settings.federation.rounds - offset)
                legacy = LegacyContext(context=context, config=rounds, strategy=strategy)
                DefaultWorkflow(fit_workflow=secagg_workflow(settings))(grid, legacy)
            return recorder.publish(_published(checkpoint, settings.checkpoint_dir, strategy.convergence.converged_at))
        except RunInterruptedError:
            recorder.end(RunEnd("interrupted", f"interrupted at round {checkpoint.last_round() + 1}"))
            raise
        except Exception as exc:
            failures = list(strategy.failures.values()) if strategy is not None else []
            recorder.end(RunEnd("failed", f"{type(exc).__name__}: {exc}", failures))
            raise


def _starting_point(
    settings: RunSettings, task: FederatedTask, checkpoint: Checkpoint
) -> tuple[dict[str, np.ndarray], int]:
    """The task's initial parameters, or those of the last checkpoint and its round (a resumed run)."""
    start = task.initial_parameters(settings.federation.model_dump(mode="json"))
    saved = checkpoint.load()
    if saved is None:
        return start, 0
    log.info("resuming run %d after round %d from %s", settings.run_id, saved[0], settings.run_folder)
    return {k: saved[1][k] for k in start}, saved[0]


def _published(checkpoint: Checkpoint, checkpoint_dir: Path, converged_at: int | None) -> Published:
    latest = checkpoint.latest_bytes()
    if latest is None:
        raise RuntimeError("the federation finished without a single aggregated round")
    last_round, data = latest
    artifact, digest = publish_artifact(data, checkpoint_dir)
    parameters = int(sum(a.size for a in load_safetensors(data).values()))
    return Published(artifact, digest, last_round, parameters, converged_at)


def _wait_for_partners(grid: Grid, settings: RunSettings) -> None:
    deadline = time.time() + settings.wait_for_partners_s
    while len(list(grid.get_node_ids())) < settings.n_partners and time.time() < deadline:
        time.sleep(1.0)
