"""Flower ClientApp: a thin adapter that runs a :class:`~fedadmet.federated.protocol.FederatedTask` at a
partner (a SuperNode).

Which folder a node trains on comes from its node config (``data-dir``, set with ``flower-supernode
--node-config``) or, in simulation, from the folder list the app was made with (indexed by
``partition-id``); which task from the app (simulation) or the run config's ``task``. What the node sends
back: the shared parameters (masked by SecAgg+ unless the operator turned it off and the partner allowed
that, clipped and noised under DP) and the metrics the partner agreed to (node config ``share-metrics``,
a comma-separated subset; all by default) plus its name. The private arrays stay in the node's state; a
failure goes back as a typed :class:`~fedadmet.federated.failures.PartnerFailure`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import Code, EvaluateRes, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.compat.common.recorddict_compat import (
    evaluateres_to_recorddict,
    fitres_to_recorddict,
    recorddict_to_evaluateins,
    recorddict_to_fitins,
)

from fedadmet.federated.failures import PartnerFailure
from fedadmet.federated.plan import SECAGG_CLIPPING_RANGE, FederationPlan
from fedadmet.federated.privacy import clip_and_noise, partner_noise_std, secure_rng
from fedadmet.federated.protocol import VALID_SCORE, FederatedTask, RoundInfo, get_task

PRIVATE_RECORD, BYTES_SENT = "fedadmet.private", "fedadmet.bytes_sent"
BYTES_METRIC = "bytes_sent"  # the size of what the node sent for training: the same for every partner
Mod = Callable[[Message, Context, Callable[[Message, Context], Message]], Message]


class SecAggRequiredError(RuntimeError):
    """The server asked for a plain (unmasked) update from a partner that only sends masked ones."""


class UntrustedParametersError(ValueError):
    """Shared parameters the consortium's strategy could not have produced (non-finite, beyond the values
    SecAgg+ can carry, or with a norm beyond the partner's bound): a coordinator probing the partner's data
    with a crafted model, or a corrupted one. The partner neither trains nor evaluates on them."""


@dataclass(frozen=True)
class ReceivedBounds:
    """What a partner accepts of the shared parameters it receives (node config ``max-parameter-value`` and
    ``max-parameter-norm``). Every value of a SecAgg+ aggregate lies within ±SECAGG_CLIPPING_RANGE (each
    partner's values are clipped there before they are summed); the norm bound is the partner's own, per
    array, generous for the trunks the tasks build (norms of 10 to 30) and far below a crafted probe's."""

    max_value: float = SECAGG_CLIPPING_RANGE
    max_norm: float = 100.0

    @classmethod
    def of(cls, context: Context) -> ReceivedBounds:
        config = context.node_config
        return cls(
            float(config.get("max-parameter-value", cls.max_value)),  # type: ignore[arg-type]
            float(config.get("max-parameter-norm", cls.max_norm)),  # type: ignore[arg-type]
        )

    def check(self, shared: dict[str, np.ndarray]) -> None:
        """Refuse the parameters (:class:`UntrustedParametersError`, naming the array) unless every array is
        finite and within the bounds; the task then checks names and shapes against its own model."""
        for name, values in shared.items():
            if not np.isfinite(values).all():
                raise UntrustedParametersError(f"{name} holds NaN or infinite values")
            largest = float(np.abs(values).max(initial=0.0))
            if largest > self.max_value:
                raise UntrustedParametersError(f"{name} holds a value of {largest:.3g}, beyond ±{self.max_value:g}")
            norm = float(np.linalg.norm(values.astype(np.float64)))
            if norm > self.max_norm:
                raise UntrustedParametersError(f"{name} has norm {norm:.3g}, beyond {self.max_norm:g}")


def make_client_app(
    partner_dirs: Sequence[Path] = (), require_secagg: bool = True, task: FederatedTask | None = None
) -> ClientApp:
    """The ClientApp; ``partner_dirs`` are the prepared folders of simulated nodes, in partition order, and
    ``task`` the task they run (default: the run config's ``task``, else the molecular one)."""
    node = PartnerNode(tuple(Path(p) for p in partner_dirs), task)
    app = ClientApp(mods=[node.name_failures, secagg_guard(require_secagg)])
    app.train()(node.train)
    app.evaluate()(node.evaluate)
    return app


class PartnerNode:
    """What a partner's node does with each message: open its data with the task, train or evaluate, and
    answer with what the partner agreed to send."""

    def __init__(self, partner_dirs: tuple[Path, ...], task: FederatedTask | None) -> None:
        self.partner_dirs, self.task = partner_dirs, task

    def task_of(self, context: Context) -> FederatedTask:
        return self.task or get_task(str(context.run_config.get("task", "molecular")))

    def folder_of(self, context: Context) -> Path:
        if "data-dir" in context.node_config:
            return Path(str(context.node_config["data-dir"]))
        return self.partner_dirs[int(context.node_config["partition-id"])]

    def name_failures(
        self, msg: Message, context: Context, call_next: Callable[[Message, Context], Message]
    ) -> Message:
        """Any error goes back as a typed record naming this partner, so the coordinator records it under it."""
        try:
            return call_next(msg, context)
        except Exception as exc:
            folder = self.folder_of(context)
            partner = self.task_of(context).partner_name(folder)
            return Message(
                PartnerFailure.of(partner, msg.metadata.message_type, exc, str(folder)).to_error(), reply_to=msg
            )

    def train(self, msg: Message, context: Context) -> Message:
        instruction = recorddict_to_fitins(msg.content, keep_input=True)
        shared, info = _received(instruction.parameters, instruction.config, context)
        session = self.task_of(context).open_partner(self.folder_of(context), info.options, _private(context))
        result = session.fit(shared, info)
        plan = FederationPlan.model_validate(info.options)
        privacy, names = plan.privacy, sorted(shared)
        noise = partner_noise_std(privacy.clipping_norm, privacy.noise_multiplier, info.n_partners)
        update = {k: result.parameters[k] - shared[k] for k in names}
        clipped, _ = clip_and_noise(update, privacy.clipping_norm, noise if privacy.enabled else 0.0, secure_rng())
        sent = {k: shared[k] + clipped[k] for k in names} if privacy.enabled else result.parameters
        context.state.array_records[PRIVATE_RECORD] = ArrayRecord({k: Array(v) for k, v in result.private.items()})
        reply = FitRes(
            status=Status(Code.OK, "ok"),
            parameters=ndarrays_to_parameters([_for_the_wire(sent[k], plan.secagg) for k in names]),
            num_examples=plan.update_weight(result.num_examples),
            metrics=agreed(context, session.partner, result.metrics, plan),
        )
        return Message(fitres_to_recorddict(reply, keep_input=False), reply_to=msg)

    def evaluate(self, msg: Message, context: Context) -> Message:
        instruction = recorddict_to_evaluateins(msg.content, keep_input=True)
        shared, info = _received(instruction.parameters, instruction.config, context)
        session = self.task_of(context).open_partner(self.folder_of(context), info.options, _private(context))
        evaluation = session.evaluate(shared, info)
        session.keep(shared, info, evaluation)
        plan = FederationPlan.model_validate(info.options)
        metrics = agreed(context, session.partner, evaluation.metrics, plan) | {BYTES_METRIC: _take_bytes_sent(context)}
        reply = EvaluateRes(
            status=Status(Code.OK, "ok"),
            loss=1.0 - float(metrics.get(VALID_SCORE, 1.0)),  # the loss field carries nothing unagreed
            num_examples=plan.update_weight(evaluation.num_examples),  # the validation fold's size, or 1 under DP
            metrics=metrics,
        )
        return Message(evaluateres_to_recorddict(reply), reply_to=msg)


def _for_the_wire(values: np.ndarray, masked: bool) -> np.ndarray:
    """What a partner sends of one shared array: under SecAgg+ in double precision, because Flower scales
    each update by its weight ratio and quantises it around the clipping range in the array's own precision
    (in float32, 8 + a small scaled value keeps a millionth: errors of 1e-4 in the aggregate). The coordinator
    gives the aggregate back its original precision."""
    return values.astype(np.float64) if masked else values


def secagg_guard(require_secagg: bool) -> Mod:
    """Route SecAgg+ stages through Flower's mod, refuse unmasked training unless the partner allows it
    (node config ``require-secagg=false``), and count the bytes this node sends for training."""

    def guard(msg: Message, context: Context, call_next: Callable[[Message, Context], Message]) -> Message:
        masked = RECORD_KEY_CONFIGS in msg.content.config_records
        training = msg.metadata.message_type == "train"
        allowed = str(context.node_config.get("require-secagg", str(require_secagg))).lower() == "false"
        if training and not masked and not allowed:
            raise SecAggRequiredError("this partner sends trunk updates only under SecAgg+")
        reply = secaggplus_mod(msg, context, call_next) if masked else call_next(msg, context)
        if training and not reply.has_error():
            counter = context.state.config_records.setdefault(BYTES_SENT, ConfigRecord({"bytes": 0}))
            content = reply.content
            records = [*content.array_records.values(), *content.config_records.values()]
            sent = sum(record.count_bytes() for record in records + list(content.metric_records.values()))
            counter["bytes"] = int(counter["bytes"]) + sent
        return reply

    return guard


def _received(
    parameters: object, config: dict[str, object], context: Context
) -> tuple[dict[str, np.ndarray], RoundInfo]:
    """The shared arrays by name, checked against the partner's bounds, and the round, from a legacy
    instruction's parameters and config."""
    names = json.loads(str(config["parameter-names"]))
    shared = dict(zip(names, parameters_to_ndarrays(parameters), strict=True))  # type: ignore[arg-type]
    ReceivedBounds.of(context).check(shared)
    info = RoundInfo(
        server_round=int(config["server-round"]),  # type: ignore[call-overload]
        run_name=str(config["run-name"]),
        run_id=int(config.get("run-id", 0)),  # type: ignore[call-overload]
        n_partners=int(config["n-partners"]),  # type: ignore[call-overload]
        options={**json.loads(str(config["federation"])), "key_id": str(config.get("key-id", ""))},
        trunk_round=int(config.get("trunk-round", -1)),  # type: ignore[call-overload]  # -1: not said
    )
    return shared, info


def _private(context: Context) -> dict[str, np.ndarray]:
    record = context.state.array_records.get(PRIVATE_RECORD)
    return {k: v.numpy() for k, v in record.items()} if record is not None else {}


def agreed(
    context: Context, partner: str, metrics: dict[str, float | int | str], plan: FederationPlan
) -> dict[str, float | int | str]:
    """The partner's name and only the metrics it agreed to share (node config ``share-metrics``, a
    comma-separated list; by default all the task returns, which never includes a test score). Under
    partner-level DP none: a per-partner score or loss in the clear would bypass the noise and its ε."""
    allowed = context.node_config.get("share-metrics")
    chosen = {a.strip() for a in str(allowed).split(",")} if allowed is not None else set(metrics)
    if plan.privacy.enabled:
        chosen = set()
    return {k: v for k, v in metrics.items() if k in chosen} | {"partner": partner}


def _take_bytes_sent(context: Context) -> int:
    """Bytes this node sent for training since the last evaluation (one round, all SecAgg+ stages)."""
    counter = context.state.config_records.get(BYTES_SENT)
    if counter is None:
        return 0
    sent, counter["bytes"] = int(counter["bytes"]), 0
    return sent


app = make_client_app()
