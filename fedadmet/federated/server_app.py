"""Flower ServerApp: the coordinator. A thin adapter that aggregates the shared trunk, round by round.

Secure aggregation uses Flower's SecAgg+ workflow (on by default) around a legacy strategy (FedAvg,
FedProx or FedAdam): in Flower 1.41 SecAgg+ exists only for that workflow. Each round the aggregate is
checked, checkpointed (a restarted coordinator resumes from the last round) and recorded in the
registry with the metrics partners chose to share; the run ends by publishing a model version.

Every run gets its own checkpoint folder (``<checkpoint-dir>/run-<registry id>``): a new run never picks
up another's checkpoint, and only an explicit resume carries a run on, after checking that it is the
same federation (name, strategy, partners, consortium key).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Context, Message, RecordDict
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import LegacyContext, ServerConfig
from flwr.server.strategy import FedAdam, FedAvg, FedProx
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.serverapp import Grid, ServerApp
from flwr.supercore.run import Run
from pydantic import BaseModel
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import load_file, save_file
from sqlalchemy.orm import Session, sessionmaker

from fedadmet.chem.featurizers import default_feature_set
from fedadmet.exceptions import FedadmetError, InputError
from fedadmet.federated.config import PARTNER_FAILED, FederationConfig, check_distinct_partners, check_run_name
from fedadmet.federated.privacy import spent_epsilon
from fedadmet.federated.task import build_net, shared_arrays
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.registry.tables import FederationRun

log = logging.getLogger("fedadmet.federation")
STRATEGIES = {"fedavg": FedAvg, "fedprox": FedProx, "fedadam": FedAdam}
SECAGG_CLIPPING_RANGE = 8.0  # trunk weights stay well inside ±8; SecAgg+ quantises within this range
SECAGG_QUANTIZATION_RANGE = 2**22


class RunSettings(BaseModel):
    """What the coordinator needs besides the Flower context; from ``--run-config`` in deployment."""

    run_name: str  # may be empty when resuming: the run's own name is taken
    n_partners: int
    federation: FederationConfig = FederationConfig()
    checkpoint_dir: Path
    registry_url: str | None = None
    key_id: str = ""
    partners: list[str] = []  # partner names when known up front (simulation): a resume must have the same
    run_id: int | None = None  # the registry run to carry on; None starts a new one
    started: str = ""  # when the registry run started (set by open_run): ties a checkpoint to that run
    model_name: str = "consortium-admet"
    wait_for_partners_s: float = 120.0

    @classmethod
    def from_run_config(cls, config: dict[str, Any]) -> RunSettings:
        federation = json.loads(str(config["federation"])) if "federation" in config else {}
        return cls(
            run_name=str(config["run-name"]),
            n_partners=int(config["num-partners"]),
            federation=FederationConfig.model_validate(federation),
            checkpoint_dir=Path(str(config["checkpoint-dir"])),
            registry_url=str(config["registry-url"]) if config.get("registry-url") else None,
            key_id=str(config.get("key-id", "")),
            run_id=int(config["resume-run"]) if int(config.get("resume-run", 0)) > 0 else None,
        )

    @property
    def run_folder(self) -> Path:
        """This run's own checkpoint folder (the run must be open: see :func:`open_run`)."""
        if self.run_id is None:
            raise RuntimeError("the run has no registry id yet; call open_run first")
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


class RunInterruptedError(FedadmetError):
    """The operator stopped the run (Ctrl-C); it can be resumed from its last checkpoint."""


RUNNING_LOCK = "running.lock"


class Checkpoint:
    """The last aggregated trunk of a run and who made it, so that a resumed run goes on after that round."""

    def __init__(self, folder: Path, identity: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self.identity = identity or {}

    def state(self) -> dict[str, Any] | None:
        meta = self.folder / "checkpoint.json"
        return json.loads(meta.read_text()) if meta.is_file() else None

    def begin(self) -> None:
        """Record who makes this run before its first round, so that a run that fails before any checkpoint
        is still resumed only by the same partners and key."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / "identity.json.tmp"
        tmp.write_text(json.dumps(self.identity))
        tmp.replace(self.folder / "identity.json")

    def recorded_identity(self) -> dict[str, Any] | None:
        """The last checkpoint's identity, else the one recorded when the run began (None for neither)."""
        begun = self.folder / "identity.json"
        try:
            return self.state() or (json.loads(begun.read_text()) if begun.is_file() else None)
        except ValueError:
            raise InputError(f"{self.folder} holds a damaged checkpoint record; it cannot be resumed") from None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Held by the process that runs the run, until it ends (or dies: the system lets go of it then)."""
        import fcntl  # POSIX: coordinators run on Linux or macOS

        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / RUNNING_LOCK).open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError(f"{self.folder} is in use: another process is running this run") from None
            yield

    def in_use(self) -> bool:
        """Whether a live process runs this run now (a killed one holds nothing)."""
        try:
            with self.running():
                return False
        except InputError:
            return True

    def load(self) -> tuple[int, dict[str, np.ndarray]] | None:
        state = self.state()
        if state is None:
            return None
        return int(state["round"]), load_file(str(self.folder / state["file"]))

    def save(self, round_number: int, arrays: dict[str, np.ndarray]) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"trunk-round-{round_number:04d}.safetensors"
        save_file(arrays, str(self.folder / name))
        tmp = self.folder / "checkpoint.json.tmp"
        tmp.write_text(json.dumps({**self.identity, "round": round_number, "file": name}))
        tmp.replace(self.folder / "checkpoint.json")  # atomic: a crash never leaves half a checkpoint
        return self.folder / name


RESUMABLE_CHANGES = frozenset({"rounds", "secagg_stage_timeout_s", "min_partners"})


def open_run(settings: RunSettings) -> RunSettings:
    """Start a new registry run with an empty checkpoint folder, or (``settings.run_id`` set) check that
    that run may be carried on: not completed, the same name and settings, and a checkpoint (if any) made
    by this very run with the same partners and consortium key (as recorded when the run began, if it made
    no checkpoint). Returns the settings naming the run."""
    federation = settings.federation
    with open_registry(settings.registry_url).begin() as session:
        if settings.run_id is None:
            check_run_name(settings.run_name)
            run = repository.start_run(
                session, settings.run_name, federation.strategy, federation.secagg, federation.model_dump(mode="json")
            )
            session.refresh(run)  # the start time as the registry stores it, which a resume reads back
            settings = settings.model_copy(update={"run_id": run.id, "started": _start_stamp(run)})
            if settings.run_folder.exists():  # left by a registry that was since replaced: not this run's
                orphan = settings.run_folder.with_name(f"{settings.run_folder.name}.orphaned-{int(time.time())}")
                settings.run_folder.rename(orphan)
                log.warning("moved %s aside to %s: the registry has no run it belongs to", settings.run_folder, orphan)
            Checkpoint(settings.run_folder, settings.identity()).begin()
            return settings
        run = repository.get_run(session, settings.run_id)
        if run is None:
            raise InputError(f"no federation run {settings.run_id} in the registry to resume")
        settings = settings.model_copy(update={"run_name": settings.run_name or run.name, "started": _start_stamp(run)})
        problems = (
            [f"run name {run.name!r} differs from {settings.run_name!r}"] if run.name != settings.run_name else []
        )
        # Everything that shapes the trunk or its privacy must stay; more rounds, a longer SecAgg+ wait or
        # another quorum may change. (DP switched on halfway would publish an epsilon for noiseless rounds.)
        ours = federation.model_dump(mode="json")
        problems += [
            f"setting {key} {run.config.get(key)!r} differs from {ours[key]!r}"
            for key in sorted(set(ours) - RESUMABLE_CHANGES)
            if run.config.get(key) != ours[key]
        ]
        if run.status == "completed":
            problems.append("it completed already; start a new run instead")
        if settings.run_folder.is_dir() and Checkpoint(settings.run_folder).in_use():
            problems.append("it is running now in another process; wait for it to end or stop it first")
        if not settings.run_folder.is_dir():  # elsewhere it would start again from round 1, unchecked
            problems.append("no folder of it there: give the --checkpoint-dir the run was started with")
        recorded = Checkpoint(settings.run_folder).recorded_identity()
        if recorded is not None:
            problems += [
                f"checkpoint {key} {recorded.get(key)!r} differs from {value!r}"
                for key, value in settings.identity().items()
                if recorded.get(key) != value
            ]
        if problems:
            raise InputError(f"run {run.id} cannot go on from {settings.run_folder}: " + "; ".join(problems))
        repository.reopen_run(session, run.id)
    return settings


def _start_stamp(run: FederationRun) -> str:
    return run.started.strftime("%Y-%m-%dT%H:%M:%S.%f")


def initial_trunk(config: FederationConfig) -> dict[str, np.ndarray]:
    return shared_arrays(build_net(len(default_feature_set()), [], config))


NOT_FINITE_AGGREGATE = "not aggregated: the mean of the round's updates was not finite (the trunk stayed as it was)"


def make_strategy(settings: RunSettings, names: list[str], start: dict[str, np.ndarray], offset: int):
    """A legacy Flower strategy that also checks, checkpoints and records every round."""
    federation = settings.federation
    base = STRATEGIES[federation.strategy]
    session_factory = open_registry(settings.registry_url)
    checkpoint = Checkpoint(settings.run_folder, settings.identity())
    run_id = settings.run_id
    minimum = min(federation.min_partners, settings.n_partners)

    def round_config(server_round: int) -> dict[str, Any]:
        return {
            "server-round": offset + server_round,
            "federation": federation.model_dump_json(),
            "n-partners": settings.n_partners,
            "key-id": settings.key_id,
            "run-name": settings.run_name,
            "run-id": run_id,
            "trunk-round": int((checkpoint.state() or {}).get("round", 0)),  # the last round aggregated into it
        }

    class Recording(base):  # type: ignore[misc, valid-type]
        def aggregate_fit(self, server_round: int, results: list, failures: list):
            check_distinct_partners([str(r.metrics.get("partner", proxy.cid)) for proxy, r in results])
            kept, excluded = [], dropouts(failures)
            for proxy, fit_res in results:
                arrays = parameters_to_ndarrays(fit_res.parameters)
                if all(np.isfinite(a).all() for a in arrays):
                    kept.append((proxy, fit_res))
                else:
                    excluded[str(fit_res.metrics.get("partner", proxy.cid))] = "update holds NaN or infinite values"
            for partner, reason in excluded.items():
                log.warning("round %d: %s excluded: %s", offset + server_round, partner, reason)
            if len(kept) < minimum:  # fewer would let the partners read each other's updates from the trunk
                log.error(
                    "round %d: %d usable update(s), fewer than %d; the trunk stays as it was",
                    offset + server_round, len(kept), minimum,
                )  # fmt: skip
                with session_factory.begin() as session:  # who failed, and why, stays on record
                    repository.record_round(session, run_id, offset + server_round, [], {}, excluded)
                return None, {}
            parameters, metrics = super().aggregate_fit(server_round, kept, [])
            arrays = parameters_to_ndarrays(parameters) if parameters is not None else []
            if not arrays or not all(np.isfinite(a).all() for a in arrays):
                log.error("round %d: aggregate is not finite; the trunk stays as it was", offset + server_round)
                unused = {str(r.metrics.get("partner", "?")): NOT_FINITE_AGGREGATE for _, r in kept}
                with session_factory.begin() as session:  # each partner learns why its update went unused
                    repository.record_round(session, run_id, offset + server_round, [], {}, {**excluded, **unused})
                return None, {}
            number = offset + server_round
            checkpoint.save(number, dict(zip(names, arrays, strict=True)))
            partners = sorted(str(r.metrics.get("partner", "?")) for _, r in kept)
            fit_metrics = {str(r.metrics.get("partner", "?")): _scalars(r.metrics) for _, r in kept}
            with session_factory.begin() as session:
                run = repository.get_run(session, run_id)
                earlier = [len(r.partners) for r in run.rounds if r.round < number and r.partners] if run else []
                fewest = min([*earlier, len(partners)])
                epsilon = spent_epsilon(federation.privacy, number, fewest, settings.n_partners)
                shared = {"fit": fit_metrics}
                repository.record_round(session, run_id, number, partners, shared, excluded, epsilon=epsilon)
            return parameters, metrics

        def aggregate_evaluate(self, server_round: int, results: list, failures: list):
            number = offset + server_round
            shared = {str(r.metrics.get("partner", "?")): _scalars(r.metrics) for _, r in results}
            failed = {name: f"evaluation failed: {reason}" for name, reason in dropouts(failures).items()}
            for partner, reason in failed.items():
                log.warning("round %d: %s excluded: %s", number, partner, reason)
            sent = sum(int(m.get("bytes_sent", 0)) for m in shared.values())
            with session_factory.begin() as session:  # a round SecAgg+ halted has no row yet: it gets one
                row = repository.get_round(session, run_id, number) or repository.record_round(
                    session, run_id, number, [], {}
                )
                row.metrics = {**row.metrics, "evaluate": shared}
                row.excluded = {**failed, **row.excluded}  # a fit-step reason, if any, says more
                row.bytes_sent = sent
            log.info("round %d: %s", number, {p: round(m.get("valid_score", np.nan), 4) for p, m in shared.items()})
            return super().aggregate_evaluate(server_round, results, failures)

    extra: dict[str, Any] = {}
    if federation.strategy == "fedprox":
        extra["proximal_mu"] = federation.proximal_mu
    if federation.strategy == "fedadam":
        extra["eta"] = federation.server_learning_rate
    return Recording(
        fraction_fit=1.0,
        fraction_evaluate=1.0,
        min_fit_clients=minimum,
        min_evaluate_clients=minimum,
        min_available_clients=minimum,
        initial_parameters=ndarrays_to_parameters([start[k] for k in names]),
        on_fit_config_fn=round_config,
        on_evaluate_config_fn=round_config,
        accept_failures=True,
        **extra,
    )


UNNAMED = "unnamed partner"


def dropouts(failures: Iterable[object]) -> dict[str, str]:
    """Failed replies by partner name (the ClientApp names itself in its errors; SecAgg+ may report one
    partner at several stages, which counts once). A reply with a status names itself in its metrics."""
    found: dict[str, str] = {}
    for failure in failures:
        if isinstance(failure, tuple):
            proxy, res = failure
            name = str(res.metrics.get("partner", f"node {proxy.node_id}"))
            found.setdefault(name, f"{res.status.code.name}: {res.status.message}")
            continue
        named = re.search(rf"{re.escape(PARTNER_FAILED)} ([^:'\\\n]+): ([^\n\\']+)", str(failure))
        if named:
            found.setdefault(named.group(1).strip(), named.group(2).strip())
        else:  # a node that timed out or lost its connection says nothing about itself: each counts
            found[f"{UNNAMED} {sum(name.startswith(UNNAMED) for name in found) + 1}"] = failure_reason(failure)
    return found


def failure_reason(failure: object) -> str:
    """The partner-side exception behind a failed reply, without the transport's wrapping."""
    text = str(failure[1] if isinstance(failure, tuple) else failure)
    for name, message in re.findall(r"(\w+(?:Error|Exception)): ([^\n\\']+)", text):
        if name not in {"RayTaskError", "ClientAppException"}:
            return f"{name}: {message.strip()}"
    return text[-300:]


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str)}


def secagg_workflow(settings: RunSettings) -> SecAggPlusWorkflow | None:
    """The fit workflow that masks every update, or None (Flower's plain fit) when SecAgg+ is off."""
    federation = settings.federation
    if not federation.secagg:
        return None
    federation.check_partners(settings.n_partners)
    return SecAggPlusWorkflow(
        num_shares=settings.n_partners,
        reconstruction_threshold=min(federation.min_partners, settings.n_partners),
        clipping_range=SECAGG_CLIPPING_RANGE,
        quantization_range=SECAGG_QUANTIZATION_RANGE,
        max_weight=1e6,
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


def run_federation(grid: Grid, context: Context, settings: RunSettings) -> dict[str, Any]:
    """Run (or resume) the federation opened by :func:`open_run` and publish its model version; returns a
    summary. The run's folder is held meanwhile: a second process cannot carry the same run on."""
    with Checkpoint(settings.run_folder).running():
        return _run_rounds_and_publish(grid, context, settings)


def _run_rounds_and_publish(grid: Grid, context: Context, settings: RunSettings) -> dict[str, Any]:
    federation = settings.federation
    session_factory = open_registry(settings.registry_url)
    start = initial_trunk(federation)
    names = sorted(start)
    offset = 0
    saved = Checkpoint(settings.run_folder).load()
    if saved is not None:
        offset, arrays = saved
        start = {k: arrays[k] for k in names}
        log.info("resuming run %d after round %d from %s", settings.run_id, offset, settings.run_folder)
    remaining = federation.rounds - offset
    try:
        _wait_for_partners(grid, settings)
        strategy = make_strategy(settings, names, start, offset)
        if remaining > 0:
            legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=remaining), strategy=strategy)
            DefaultWorkflow(fit_workflow=secagg_workflow(settings))(grid, legacy)
        return _publish(settings, session_factory)
    except RunInterruptedError:
        state = Checkpoint(settings.run_folder).state()
        record_end(settings, "interrupted", f"interrupted at round {(state or {}).get('round', 0) + 1}")
        raise
    except Exception as exc:
        record_end(settings, "failed", f"{type(exc).__name__}: {exc}")
        raise


def record_end(settings: RunSettings, status: str, reason: str) -> None:
    """Record why the run ended, unless its end is recorded already (the ServerApp records its own; a
    simulation records one the ServerApp never reached). A registry that fails here too must not hide the
    original error."""
    try:
        with open_registry(settings.registry_url).begin() as session:
            run = repository.get_run(session, settings.run_id)  # type: ignore[arg-type]
            if run is not None and run.status == "running":
                log.error("run %s %s: %s", settings.run_id, status, reason)
                repository.finish_run(session, run.id, status, error=reason)
    except Exception:  # logged; the caller re-raises the error that ended the run
        log.exception("could not record the end of run %s in the registry", settings.run_id)


def _wait_for_partners(grid: Grid, settings: RunSettings) -> None:
    deadline = time.time() + settings.wait_for_partners_s
    while len(list(grid.get_node_ids())) < settings.n_partners and time.time() < deadline:
        time.sleep(1.0)


def publish_artifact(data: bytes, checkpoint_dir: Path) -> tuple[Path, str]:
    """A read-only copy of a trunk (safetensors ``data``) named by its SHA-256, in ``checkpoint_dir``'s
    ``published`` folder, so that a published version's artifact never changes even if a run's checkpoint
    folder is written again; returns its path and digest."""
    digest = hashlib.sha256(data).hexdigest()
    target = checkpoint_dir / "published" / f"trunk-{digest}.safetensors"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o444)
        tmp.replace(target)
    return target, digest


def _publish(settings: RunSettings, session_factory: sessionmaker[Session]) -> dict[str, Any]:
    checkpoint = Checkpoint(settings.run_folder)
    state = checkpoint.state()
    if state is None:
        raise RuntimeError("the federation finished without a single aggregated round")
    data = (checkpoint.folder / state["file"]).read_bytes()
    last_round, arrays = int(state["round"]), load_safetensors(data)
    artifact, digest = publish_artifact(data, settings.checkpoint_dir)
    federation = settings.federation
    run_id = settings.run_id
    with session_factory.begin() as session:
        run = repository.get_run(session, run_id)  # type: ignore[arg-type]
        rounds = run.rounds if run is not None else []
        partners = sorted({p for r in rounds for p in r.partners})
        fewest = min((len(r.partners) for r in rounds if r.partners), default=settings.n_partners)  # aggregated
        privacy = federation.privacy
        epsilon = spent_epsilon(privacy, last_round, fewest, settings.n_partners)
        final = next((r.metrics["evaluate"] for r in reversed(rounds) if r.metrics.get("evaluate")), {})
        version = repository.publish_version(
            session,
            settings.model_name,
            kind="federated",
            artifact_uri=str(artifact.resolve()),
            endpoints=[],
            data_hashes={"trunk_sha256": digest},
            metrics={"partners": final, "epsilon": epsilon, "delta": privacy.delta if privacy.enabled else None},
            lineage={
                "run_id": run_id,
                "run_name": settings.run_name,
                "partners": partners,
                "rounds": last_round,
                "strategy": federation.strategy,
                "secagg": federation.secagg,
                "key_id": settings.key_id,
                "trunk_parameters": int(sum(a.size for a in arrays.values())),
            },
        )
        repository.finish_run(session, run_id, "completed", model_version_id=version.id)  # type: ignore[arg-type]
        return {"run_id": run_id, "model_version": version.version, "rounds": last_round, "epsilon": epsilon}


def make_server_app(settings: RunSettings | None = None, stop: threading.Event | None = None) -> ServerApp:
    """The ServerApp for ``settings`` already opened with :func:`open_run` (simulation); without them they
    come from the run config (deployment with `flwr run`) and are opened here.
    ``stop`` (simulation) ends the run at once, recorded as interrupted, when it is set."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        chosen = settings or open_run(RunSettings.from_run_config(dict(context.run_config)))
        summary = run_federation(grid if stop is None else StoppableGrid(grid, stop), context, chosen)
        log.info("federation finished: %s", summary)

    return app


app = make_server_app()
