"""Flower ClientApp: a thin adapter that runs task.py at a partner (a SuperNode).

Which prepared folder a node trains on comes from its node config (``data-dir``, set with
``flower-supernode --node-config``) or, in simulation, from the folder list the app was made with
(indexed by ``partition-id``). What the node sends back: the trunk parameters (masked by SecAgg+
unless the operator turned it off and the partner allowed that) and the metrics listed in
``SHARED_METRICS`` that the partner agreed to (node config ``share-metrics``, a comma-separated
subset; all by default) plus its name. Heads, SMILES, labels and per-compound values stay in the node.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from safetensors.numpy import save_file

from fedadmet.federated.config import PARTNER_FAILED, FederationConfig, check_run_name
from fedadmet.federated.privacy import clip_and_noise, partner_noise_std

if TYPE_CHECKING:
    from fedadmet.federated.task import PartnerData

# Flower starts a fresh ClientApp process for every message, and three of a SecAgg+ round's four
# stages never reach the training code: fedadmet.federated.task (PyTorch, scikit-learn: ~4 s of CPU
# per import) is therefore imported inside the functions that train or evaluate, not here.

SHARED_METRICS = ("train_loss", "update_norm", "valid_score", "test_score", "bytes_sent")
HEADS_RECORD, BEST_SCORE, BYTES_SENT = "fedadmet.heads", "fedadmet.best_score", "fedadmet.bytes_sent"
# A partner's best model of each run: MODEL_ROOT/<run name>/run-<id>/ in its prepared folder.
MODEL_ROOT, WEIGHTS_FILE, FEDERATION_FILE = "federated_model", "weights.safetensors", "federation.json"
PROVENANCE_FILE = "provenance.json"  # when the model was kept, and from which prepared labels
LOCAL_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[/\\][^\s'\",;:)]+")


class SecAggRequiredError(RuntimeError):
    """The server asked for a plain (unmasked) update from a partner that only sends masked ones."""


class PartnerFailedError(RuntimeError):
    """A partner's failure as the coordinator sees it: the partner's name and the reason, without local
    paths (they say nothing the coordinator needs and may reveal a site's layout)."""

    def __init__(self, partner: str, error: BaseException, data_dir: str = "") -> None:
        reason = f"{type(error).__name__}: {error}"
        for folder in filter(None, {data_dir, str(Path(data_dir).resolve()) if data_dir else ""}):
            reason = reason.replace(folder, "<data-dir>")
        reason = LOCAL_PATH.sub("<local path>", reason)
        super().__init__(f"{PARTNER_FAILED} {partner}: {' '.join(reason.replace(chr(39), '').split())}")


@lru_cache(maxsize=8)
def _partner(folder: str, key_id: str | None) -> PartnerData:
    from fedadmet.federated.task import PartnerData

    return PartnerData.load(Path(folder), key_id)


def _node_folder(context: Context, partner_dirs: Sequence[Path]) -> str:
    if "data-dir" in context.node_config:
        return str(context.node_config["data-dir"])
    return str(partner_dirs[int(context.node_config["partition-id"])])


def to_record(arrays: dict[str, np.ndarray]) -> ArrayRecord:
    return ArrayRecord.from_array_dict({k: Array(v) for k, v in arrays.items()})


def from_record(record: ArrayRecord) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in record.items()}


def trunk_names(net: object) -> list[str]:
    """Fixed order of trunk arrays on the wire (Flower's legacy messages carry an ordered list)."""
    from fedadmet.federated.task import shared_arrays

    return sorted(shared_arrays(net))  # type: ignore[arg-type]


def _partner_name(folder: str) -> str:
    """The name in the folder's manifest, or the folder's own name when the manifest cannot be read."""
    try:
        return str(json.loads((Path(folder) / "manifest.json").read_text())["partner"])
    except (OSError, ValueError, KeyError, TypeError):
        return Path(folder).name


def make_client_app(partner_dirs: Sequence[Path] = (), require_secagg: bool = True) -> ClientApp:
    """The ClientApp; ``partner_dirs`` are the prepared folders of simulated nodes, in partition order."""

    def name_failures(msg: Message, context: Context, call_next: object) -> Message:
        """Any error leaves this node named, so the coordinator records the dropout under the partner."""
        try:
            return call_next(msg, context)  # type: ignore[operator]
        except Exception as exc:
            folder = _node_folder(context, partner_dirs)
            raise PartnerFailedError(_partner_name(folder), exc, folder) from exc

    def secagg_guard(msg: Message, context: Context, call_next: object) -> Message:
        """Route SecAgg+ stages through Flower's mod, refuse unmasked training unless the partner allows
        it (node config ``require-secagg=false``), and count the bytes this node sends for training."""
        masked = RECORD_KEY_CONFIGS in msg.content.config_records
        training = msg.metadata.message_type == "train"
        if training and not masked:
            allowed = str(context.node_config.get("require-secagg", str(require_secagg))).lower() == "false"
            if not allowed:
                raise SecAggRequiredError("this partner sends trunk updates only under SecAgg+")
        reply = secaggplus_mod(msg, context, call_next) if masked else call_next(msg, context)  # type: ignore
        if training and not reply.has_error():
            counter = context.state.config_records.setdefault(BYTES_SENT, ConfigRecord({"bytes": 0}))
            content = reply.content
            records = [*content.array_records.values(), *content.config_records.values()]
            sent = sum(record.count_bytes() for record in records + list(content.metric_records.values()))
            counter["bytes"] = int(counter["bytes"]) + sent
        return reply

    app = ClientApp(mods=[name_failures, secagg_guard])

    def setup(context: Context, config: dict[str, object]) -> tuple[PartnerData, FederationConfig, object]:
        from fedadmet.federated.task import build_net, load_arrays

        federation = FederationConfig.model_validate_json(str(config["federation"]))
        data = _partner(_node_folder(context, partner_dirs), str(config.get("key-id")) or None)
        net = build_net(data.features.shape[1], data.tasks, federation)
        if HEADS_RECORD in context.state.array_records:
            load_arrays(net, from_record(context.state.array_records[HEADS_RECORD]), shared=False)
        return data, federation, net

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        from fedadmet.federated.task import check_update, load_arrays, private_arrays, shared_arrays, train_local

        instruction = recorddict_to_fitins(msg.content, keep_input=True)
        data, federation, net = setup(context, instruction.config)
        names = trunk_names(net)
        global_trunk = dict(zip(names, parameters_to_ndarrays(instruction.parameters), strict=True))
        load_arrays(net, global_trunk, shared=True)
        anchor = global_trunk if federation.strategy == "fedprox" else None
        metrics = train_local(
            net, data, federation, federation.local_epochs, int(instruction.config["server-round"]), anchor
        )
        trunk = shared_arrays(net)
        update = {k: trunk[k] - global_trunk[k] for k in names}
        privacy = federation.privacy
        noise = partner_noise_std(
            privacy.clipping_norm, privacy.noise_multiplier, int(instruction.config["n-partners"])
        )
        rng = np.random.default_rng()
        clipped, norm = clip_and_noise(update, privacy.clipping_norm, noise if privacy.enabled else 0.0, rng)
        if privacy.enabled:
            trunk = {k: global_trunk[k] + clipped[k] for k in names}
        check_update(trunk, global_trunk)  # never send NaN/inf or a wrongly shaped array
        context.state.array_records[HEADS_RECORD] = to_record(private_arrays(net))
        result = FitRes(
            status=Status(Code.OK, "ok"),
            parameters=ndarrays_to_parameters([trunk[k] for k in names]),
            # Equal weights under DP keep each partner's sensitivity at the clipping norm.
            num_examples=1 if privacy.enabled else int(metrics["num-examples"]),
            metrics=agreed(context, data.name, {"train_loss": metrics["train_loss"], "update_norm": norm}),
        )
        return Message(fitres_to_recorddict(result, keep_input=False), reply_to=msg)

    @app.evaluate()
    def evaluate_trunk(msg: Message, context: Context) -> Message:
        from fedadmet.federated.task import evaluate, load_arrays

        instruction = recorddict_to_evaluateins(msg.content, keep_input=True)
        data, federation, net = setup(context, instruction.config)
        names = trunk_names(net)
        load_arrays(net, dict(zip(names, parameters_to_ndarrays(instruction.parameters), strict=True)), shared=True)
        scores = evaluate(net, data)
        run_name, run_id = str(instruction.config["run-name"]), int(instruction.config["run-id"])
        data_dir = Path(_node_folder(context, partner_dirs))
        kept = context.state.config_records.get(BEST_SCORE)
        if kept is None:
            kept = ConfigRecord(kept_scores(partner_model_folder(data_dir, run_name, run_id)))
        trunk_round = int(instruction.config.get("trunk-round", -1))  # -1: a coordinator that does not say
        if replaces_kept(kept, scores["valid_score"], trunk_round):
            context.state.config_records[BEST_SCORE] = ConfigRecord({**scores, "trunk_round": trunk_round})
            keep_partner_model(data_dir, run_name, run_id, net, scores, federation, trunk_round)
        else:  # a resumed run may have changed its round count: `federate gain` budgets by the latest
            record_run_settings(partner_model_folder(data_dir, run_name, run_id), federation)
        shared = agreed(context, data.name, {**scores, "bytes_sent": _take_bytes_sent(context)})
        result = EvaluateRes(
            status=Status(Code.OK, "ok"),
            loss=1.0 - float(shared.get("valid_score", 1.0)),  # the loss field carries nothing unagreed
            num_examples=len(data.rows("valid")),
            metrics=shared,
        )
        return Message(evaluateres_to_recorddict(result), reply_to=msg)

    return app


def agreed(context: Context, partner: str, metrics: dict[str, float]) -> dict[str, float | str]:
    """Only the metrics this partner agreed to share, and its name."""
    allowed = str(context.node_config.get("share-metrics", ",".join(SHARED_METRICS))).split(",")
    return {k: v for k, v in metrics.items() if k in {a.strip() for a in allowed}} | {"partner": partner}


def _take_bytes_sent(context: Context) -> int:
    """Bytes this node sent for training since the last evaluation (one round, all SecAgg+ stages)."""
    counter = context.state.config_records.get(BYTES_SENT)
    if counter is None:
        return 0
    sent, counter["bytes"] = int(counter["bytes"]), 0
    return sent


def partner_model_folder(data_dir: Path, run_name: str, run_id: int) -> Path:
    """Where a partner keeps its best model of one run: one folder per run, so runs never overwrite each other.
    The coordinator names the run: a name that is a path is refused, so it cannot choose where files go."""
    check_run_name(run_name)
    return data_dir / MODEL_ROOT / run_name / f"run-{run_id}"


def kept_scores(folder: Path) -> dict[str, float]:
    """The scores of the model kept for this run before the node restarted (a resumed run), with the trunk
    round it was kept at (-1: not recorded); without one, scores that any model replaces."""
    try:
        scores = dict(json.loads((folder / "scores.json").read_text()))
    except (OSError, ValueError, TypeError):
        return {"valid_score": -np.inf, "trunk_round": 0}
    try:
        trunk_round = int(json.loads((folder / PROVENANCE_FILE).read_text()).get("trunk_round", -1))
    except (OSError, ValueError, TypeError, AttributeError):
        trunk_round = -1
    return {**scores, "trunk_round": trunk_round}


def replaces_kept(kept: Mapping[str, Any], valid_score: float, trunk_round: int) -> bool:
    """Whether the model just evaluated replaces the one kept for this run. A trunk the federation
    aggregated (round > 0, or not known) replaces the initial one whatever the scores: a round that was
    not aggregated still trains the private heads, and such a model can score well while being no
    federated model at all. Between two of the same kind, the better validation score wins."""
    federated, kept_federated = trunk_round != 0, int(kept.get("trunk_round", -1)) != 0
    if federated != kept_federated:
        return federated
    return valid_score > float(kept["valid_score"])


def record_run_settings(folder: Path, federation: FederationConfig) -> None:
    """The run's settings beside the model kept of it, as the coordinator last sent them (written only when
    they changed, and only where a model is kept)."""
    settings, path = federation.model_dump_json(indent=2), folder / FEDERATION_FILE
    if folder.is_dir() and (not path.is_file() or path.read_text() != settings):
        path.write_text(settings)


def keep_partner_model(
    data_dir: Path,
    run_name: str,
    run_id: int,
    net: object,
    scores: dict[str, float],
    federation: FederationConfig,
    trunk_round: int = -1,
) -> Path:
    """Keep the partner's best model so far (shared trunk + private heads) in its prepared folder, with the
    run's settings, the prepared labels it was trained on (their scaling is the model's) and the last round
    the federation aggregated into its trunk (0: none, the initial trunk; -1: not known), so that the
    partner can use it and compare it with a local-only model."""
    from fedadmet.federated.task import private_arrays, shared_arrays

    folder = partner_model_folder(data_dir, run_name, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(shared_arrays(net) | private_arrays(net), str(folder / WEIGHTS_FILE))  # type: ignore[arg-type]
    record_run_settings(folder, federation)
    from fedadmet.federated.prepare import recorded_manifest

    labels = recorded_manifest(data_dir)["files"]["labels.npz"]
    provenance = {"saved": time.time(), "labels_sha256": labels, "trunk_round": trunk_round}
    (folder / PROVENANCE_FILE).write_text(json.dumps(provenance))
    (folder / "scores.json").write_text(json.dumps(scores))
    return folder


app = make_client_app()
