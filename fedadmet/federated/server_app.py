"""Flower ServerApp: the coordinator. A thin adapter that aggregates the shared trunk, round by round.

Secure aggregation uses Flower's SecAgg+ workflow (on by default) around a legacy strategy (FedAvg,
FedProx or FedAdam): in Flower 1.41 SecAgg+ exists only for that workflow. Each round the aggregate is
checked, checkpointed (a restarted coordinator resumes from the last round) and recorded in the
registry with the metrics partners chose to share; the run ends by publishing a model version.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Context
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import LegacyContext, ServerConfig
from flwr.server.strategy import FedAdam, FedAvg, FedProx
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.serverapp import Grid, ServerApp
from pydantic import BaseModel
from safetensors.numpy import load_file, save_file
from sqlalchemy.orm import Session, sessionmaker

from fedadmet.chem.featurizers import default_feature_set
from fedadmet.federated.config import FederationConfig
from fedadmet.federated.privacy import gaussian_epsilon
from fedadmet.federated.task import build_net, shared_arrays
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry

log = logging.getLogger("fedadmet.federation")
STRATEGIES = {"fedavg": FedAvg, "fedprox": FedProx, "fedadam": FedAdam}
SECAGG_CLIPPING_RANGE = 8.0  # trunk weights stay well inside ±8; SecAgg+ quantises within this range
SECAGG_QUANTIZATION_RANGE = 2**22


class RunSettings(BaseModel):
    """What the coordinator needs besides the Flower context; from ``--run-config`` in deployment."""

    run_name: str
    n_partners: int
    federation: FederationConfig = FederationConfig()
    checkpoint_dir: Path
    registry_url: str | None = None
    key_id: str = ""
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
        )


class Checkpoint:
    """The last aggregated trunk of a run, so that a restarted coordinator resumes after that round."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def load(self) -> tuple[int, int, dict[str, np.ndarray]] | None:
        meta = self.folder / "checkpoint.json"
        if not meta.is_file():
            return None
        state = json.loads(meta.read_text())
        return int(state["round"]), int(state["run_id"]), load_file(str(self.folder / state["file"]))

    def save(self, round_number: int, run_id: int, arrays: dict[str, np.ndarray]) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"trunk-round-{round_number:04d}.safetensors"
        save_file(arrays, str(self.folder / name))
        tmp = self.folder / "checkpoint.json.tmp"
        tmp.write_text(json.dumps({"round": round_number, "run_id": run_id, "file": name}))
        tmp.replace(self.folder / "checkpoint.json")  # atomic: a crash never leaves half a checkpoint
        return self.folder / name


def initial_trunk(config: FederationConfig) -> dict[str, np.ndarray]:
    return shared_arrays(build_net(len(default_feature_set()), [], config))


def make_strategy(settings: RunSettings, names: list[str], start: dict[str, np.ndarray], run_id: int, offset: int):
    """A legacy Flower strategy that also checks, checkpoints and records every round."""
    federation = settings.federation
    base = STRATEGIES[federation.strategy]
    session_factory = open_registry(settings.registry_url)
    checkpoint = Checkpoint(settings.checkpoint_dir)

    def round_config(server_round: int) -> dict[str, Any]:
        return {
            "server-round": offset + server_round,
            "federation": federation.model_dump_json(),
            "n-partners": settings.n_partners,
            "key-id": settings.key_id,
            "run-name": settings.run_name,
        }

    class Recording(base):  # type: ignore[misc, valid-type]
        def aggregate_fit(self, server_round: int, results: list, failures: list):
            kept, excluded = [], {}
            for proxy, fit_res in results:
                arrays = parameters_to_ndarrays(fit_res.parameters)
                if all(np.isfinite(a).all() for a in arrays):
                    kept.append((proxy, fit_res))
                else:
                    excluded[str(fit_res.metrics.get("partner", proxy.cid))] = "update holds NaN or infinite values"
            for failure in failures:
                excluded[f"node-{len(excluded)}"] = failure_reason(failure)
            for partner, reason in excluded.items():
                log.warning("round %d: %s excluded: %s", offset + server_round, partner, reason)
            if not kept:
                log.error("round %d: no usable update; the trunk stays as it was", offset + server_round)
                return None, {}
            parameters, metrics = super().aggregate_fit(server_round, kept, [])
            arrays = parameters_to_ndarrays(parameters) if parameters is not None else []
            if not arrays or not all(np.isfinite(a).all() for a in arrays):
                log.error("round %d: aggregate is not finite; the trunk stays as it was", offset + server_round)
                return None, {}
            number = offset + server_round
            checkpoint.save(number, run_id, dict(zip(names, arrays, strict=True)))
            partners = sorted(str(r.metrics.get("partner", "?")) for _, r in kept)
            fit_metrics = {str(r.metrics.get("partner", "?")): _scalars(r.metrics) for _, r in kept}
            with session_factory.begin() as session:
                repository.record_round(session, run_id, number, partners, {"fit": fit_metrics}, excluded)
            return parameters, metrics

        def aggregate_evaluate(self, server_round: int, results: list, failures: list):
            number = offset + server_round
            shared = {str(r.metrics.get("partner", "?")): _scalars(r.metrics) for _, r in results}
            sent = sum(int(m.get("bytes_sent", 0)) for m in shared.values())
            with session_factory.begin() as session:
                row = repository.get_round(session, run_id, number)
                if row is not None:
                    row.metrics = {**row.metrics, "evaluate": shared}
                    row.bytes_sent = sent
            log.info("round %d: %s", number, {p: round(m.get("valid_score", np.nan), 4) for p, m in shared.items()})
            return super().aggregate_evaluate(server_round, results, failures)

    extra: dict[str, Any] = {}
    if federation.strategy == "fedprox":
        extra["proximal_mu"] = federation.proximal_mu
    if federation.strategy == "fedadam":
        extra["eta"] = federation.server_learning_rate
    minimum = min(federation.min_partners, settings.n_partners)
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
    return SecAggPlusWorkflow(
        num_shares=settings.n_partners,
        reconstruction_threshold=min(federation.min_partners, settings.n_partners),
        clipping_range=SECAGG_CLIPPING_RANGE,
        quantization_range=SECAGG_QUANTIZATION_RANGE,
        max_weight=1e6,
        timeout=federation.secagg_stage_timeout_s,
    )


def run_federation(grid: Grid, context: Context, settings: RunSettings) -> dict[str, Any]:
    """Run (or resume) the federation and publish its model version; returns a summary."""
    federation = settings.federation
    start = initial_trunk(federation)
    names = sorted(start)
    checkpoint = Checkpoint(settings.checkpoint_dir).load()
    session_factory = open_registry(settings.registry_url)
    if checkpoint is not None:
        offset, run_id, arrays = checkpoint
        start = {k: arrays[k] for k in names}
        log.info("resuming run %d after round %d from %s", run_id, offset, settings.checkpoint_dir)
    else:
        offset = 0
        with session_factory.begin() as session:
            run_id = repository.start_run(
                session, settings.run_name, federation.strategy, federation.secagg, federation.model_dump()
            ).id
    remaining = federation.rounds - offset
    _wait_for_partners(grid, settings)
    strategy = make_strategy(settings, names, start, run_id, offset)
    try:
        if remaining > 0:
            legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=remaining), strategy=strategy)
            DefaultWorkflow(fit_workflow=secagg_workflow(settings))(grid, legacy)
        return _publish(settings, run_id, session_factory)
    except Exception as exc:
        with session_factory.begin() as session:
            repository.finish_run(session, run_id, "failed", error=f"{type(exc).__name__}: {exc}")
        raise


def _wait_for_partners(grid: Grid, settings: RunSettings) -> None:
    deadline = time.time() + settings.wait_for_partners_s
    while len(list(grid.get_node_ids())) < settings.n_partners and time.time() < deadline:
        time.sleep(1.0)


def _publish(settings: RunSettings, run_id: int, session_factory: sessionmaker[Session]) -> dict[str, Any]:
    state = Checkpoint(settings.checkpoint_dir).load()
    if state is None:
        raise RuntimeError("the federation finished without a single aggregated round")
    last_round, _, arrays = state
    federation = settings.federation
    with session_factory.begin() as session:
        run = repository.get_run(session, run_id)
        rounds = run.rounds if run is not None else []
        partners = sorted({p for r in rounds for p in r.partners})
        fewest = min((len(r.partners) for r in rounds), default=settings.n_partners)
        privacy = federation.privacy
        epsilon = (
            gaussian_epsilon(
                privacy.noise_multiplier * np.sqrt(fewest / settings.n_partners), last_round, privacy.delta
            )
            if privacy.enabled
            else None
        )
        final = rounds[-1].metrics.get("evaluate", {}) if rounds else {}
        artifact = settings.checkpoint_dir / f"trunk-round-{last_round:04d}.safetensors"
        version = repository.publish_version(
            session,
            settings.model_name,
            kind="federated",
            artifact_uri=str(artifact.resolve()),
            endpoints=[],
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
        repository.finish_run(session, run_id, "completed", model_version_id=version.id)
        return {"run_id": run_id, "model_version": version.version, "rounds": last_round, "epsilon": epsilon}


def make_server_app(settings: RunSettings | None = None) -> ServerApp:
    """The ServerApp; without ``settings`` they come from the run config (deployment with `flwr run`)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        summary = run_federation(grid, context, settings or RunSettings.from_run_config(dict(context.run_config)))
        log.info("federation finished: %s", summary)

    return app


app = make_server_app()
