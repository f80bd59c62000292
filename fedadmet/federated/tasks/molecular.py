"""The molecular task: the multitask trunk over keyed molecular features, federated with private heads.

The only federated module that knows molecules: it wraps the functions of :mod:`fedadmet.federated.task`
(data, network, local training, scoring) in the :class:`~fedadmet.federated.protocol.FederatedTask`
protocol, and keeps each partner's best model of a run (shared trunk + private heads) in its prepared
folder, ``federated_model/<run name>/run-<id>/``, where :mod:`fedadmet.federated.partner_model` and
``federate gain`` find it. PyTorch is imported inside the methods that train: Flower starts a process
per message, and SecAgg+ stages that only mask must not pay for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors.numpy import load_file, save_file

from fedadmet.exceptions import InputError
from fedadmet.federated.config import FederationConfig
from fedadmet.federated.protocol import (
    VALID_SCORE,
    Arrays,
    EvaluateResult,
    FitResult,
    Partners,
    RoundInfo,
    register_task,
    replaces_kept,
)
from fedadmet.names import check_distinct_partners, check_run_name

if TYPE_CHECKING:
    import torch

    from fedadmet.federated.task import PartnerData
    from fedadmet.models.trunk import MultitaskNet

# A partner's best model of each run: MODEL_ROOT/<run name>/run-<id>/ in its prepared folder.
MODEL_ROOT, WEIGHTS_FILE, FEDERATION_FILE = "federated_model", "weights.safetensors", "federation.json"
PROVENANCE_FILE = "provenance.json"  # when the model was kept, and from which prepared labels
NODE_STATE_FILE = "node_state.safetensors"  # the node's heads and optimiser state after its last round
RECORD_DP_FILE = "record_dp.json"  # the ε this partner spent in the run under record-level DP


@lru_cache(maxsize=8)
def _partner_data(folder: str, key_id: str | None) -> PartnerData:
    from fedadmet.federated.task import PartnerData

    return PartnerData.load(Path(folder), key_id)


def trunk_names(net: MultitaskNet) -> list[str]:
    """Fixed order of trunk arrays on the wire (Flower's legacy messages carry an ordered list)."""
    from fedadmet.federated.task import shared_arrays

    return sorted(shared_arrays(net))


@register_task("molecular")
class MolecularTask:
    """ADMET/Tox endpoints from a partner's prepared folder (`fedadmet data prepare`)."""

    name = "molecular"

    def initial_parameters(self, options: Mapping[str, Any]) -> Arrays:
        from fedadmet.chem.featurizers import default_feature_set
        from fedadmet.federated.task import build_net, shared_arrays

        return shared_arrays(build_net(len(default_feature_set()), [], FederationConfig.model_validate(options)))

    def open_partner(
        self, data_dir: Path, options: Mapping[str, Any], private: Mapping[str, np.ndarray]
    ) -> MolecularSession:
        key_id = str(options.get("key_id") or "") or None
        data = _partner_data(str(data_dir), key_id)
        return MolecularSession(Path(data_dir), data, FederationConfig.model_validate(options), dict(private))

    def partner_name(self, data_dir: Path) -> str:
        """The name in the folder's manifest, or the folder's own name when the manifest cannot be read."""
        try:
            return str(json.loads((Path(data_dir) / "manifest.json").read_text())["partner"])
        except (OSError, ValueError, KeyError, TypeError):
            return Path(data_dir).name

    def check_partners(self, data_dirs: Sequence[Path]) -> Partners:
        """Every folder prepared, with a trainable task, under one consortium key and its own name."""
        from fedadmet.federated.prepare import read_manifest

        manifests = [read_manifest(p) for p in data_dirs]
        idle = [str(m["partner"]) for m in manifests if not any(t["trainable"] for t in m["tasks"])]
        if idle:
            raise InputError(
                "partner(s) without a task that meets the quorum would fail every round",
                got=idle,
                expected="prepared folders with at least one trainable task (see each folder's qc.md)",
            )
        key_ids = {str(folder): m["key_id"] for folder, m in zip(data_dirs, manifests, strict=True)}
        if len(set(key_ids.values())) > 1:
            raise InputError("partners were prepared with different consortium keys", got=key_ids)
        names = [str(m["partner"]) for m in manifests]
        check_distinct_partners(names)
        return Partners(names, str(manifests[0]["key_id"]))


class MolecularSession:
    """One partner's network: the shared trunk as sent, its private heads and optimiser state as its node
    kept them (in memory, and in the run's folder at the partner, so that a restarted node resumes)."""

    def __init__(self, data_dir: Path, data: PartnerData, federation: FederationConfig, private: Arrays) -> None:
        self.data_dir, self.data, self.federation, self.private = data_dir, data, federation, private
        self.partner = data.name

    def _node_state(self, round: RoundInfo) -> Arrays:
        """The heads and optimiser state this node kept: from its memory, else (a restarted node) from the
        run's folder, where the last round it trained in left them."""
        if self.private:
            return self.private
        saved = partner_model_folder(self.data_dir, round.run_name, round.run_id) / NODE_STATE_FILE
        return dict(load_file(str(saved))) if saved.is_file() else {}

    def _net(self, shared: Mapping[str, np.ndarray], state: Mapping[str, np.ndarray]) -> MultitaskNet:
        from fedadmet.federated.task import OPTIMIZER_PREFIX, build_net, load_arrays

        net = build_net(self.data.features.shape[1], self.data.tasks, self.federation)
        heads = {k: v for k, v in state.items() if not k.startswith(OPTIMIZER_PREFIX)}
        if heads:
            load_arrays(net, heads, shared=False)
        load_arrays(net, shared, shared=True)
        return net

    def fit(self, shared: Mapping[str, np.ndarray], round: RoundInfo) -> FitResult:
        from fedadmet.federated.task import (
            check_update,
            optimizer_arrays,
            private_arrays,
            round_optimizer,
            shared_arrays,
            train_local,
        )

        state = self._node_state(round)
        net = self._net(shared, state)
        federation = self.federation
        optimizer = round_optimizer(net, federation, round.server_round, state)
        if federation.record_dp is not None:
            metrics = self._train_private(net, round, optimizer)
        else:
            anchor = shared if federation.strategy == "fedprox" else None
            trained = train_local(
                net, self.data, federation, federation.local_epochs, round.server_round, anchor, optimizer
            )
            metrics = {"train_loss": trained["train_loss"]}
        trunk = shared_arrays(net)
        check_update(trunk, shared)  # never send NaN/inf or a wrongly shaped array
        private = private_arrays(net) | optimizer_arrays(net, optimizer)
        self._save_node_state(round, private)
        return FitResult(trunk, len(self.data.rows("train")), metrics, private)

    def _save_node_state(self, round: RoundInfo, private: Arrays) -> None:
        folder = partner_model_folder(self.data_dir, round.run_name, round.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{NODE_STATE_FILE}.tmp"
        save_file(private, str(tmp))
        tmp.replace(folder / NODE_STATE_FILE)  # atomic: a node killed mid-write keeps the last round's

    def _train_private(
        self, net: MultitaskNet, round: RoundInfo, optimizer: torch.optim.Optimizer
    ) -> dict[str, float | int | str]:
        """One round of record-level DP-SGD, and the ε spent: counted over every round up to this one, whether
        the partner took part in each or not (an upper bound a restarted node cannot undercount), written in
        the run's folder at the partner and returned among the metrics it may share."""
        from fedadmet.federated.task import record_dp_schedule, train_private

        schedule = record_dp_schedule(self.data, self.federation)
        epsilon = schedule.epsilon_after(round.server_round)  # refuses a round beyond the calibrated budget
        train_private(net, self.data, self.federation, schedule, optimizer)
        spent = {"epsilon": epsilon, "delta": schedule.delta, "noise_multiplier": schedule.noise_multiplier}
        folder = partner_model_folder(self.data_dir, round.run_name, round.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        record = {**spent, "rounds": round.server_round, "planned_rounds": schedule.planned_rounds}
        (folder / RECORD_DP_FILE).write_text(json.dumps(record | {"accountant": schedule.accountant}))
        return spent

    def evaluate(self, shared: Mapping[str, np.ndarray], round: RoundInfo) -> EvaluateResult:
        from fedadmet.federated.task import evaluate

        scores = evaluate(self._net(shared, self._node_state(round)), self.data)
        return EvaluateResult(len(self.data.rows("valid")), dict(scores))

    def keep(self, shared: Mapping[str, np.ndarray], round: RoundInfo, evaluation: EvaluateResult) -> None:
        folder = partner_model_folder(self.data_dir, round.run_name, round.run_id)
        score = float(evaluation.metrics[VALID_SCORE])
        if replaces_kept(kept_scores(folder), score, round.trunk_round):
            from fedadmet.federated.task import refit_heads

            scores = {k: float(v) for k, v in evaluation.metrics.items() if isinstance(v, int | float)}
            net = self._net(shared, self._node_state(round))
            # The heads this node holds were trained against its own pre-aggregation trunk: refitted on the
            # trunk it keeps. valid_score stays the shared one (the coordinator applies the same keep rule).
            scores["heads_before_refit"], scores["kept_valid_score"] = refit_heads(net, self.data, self.federation)
            keep_partner_model(
                self.data_dir, round.run_name, round.run_id, net, scores, self.federation, round.trunk_round
            )
        else:  # a resumed run may have changed its round count: `federate gain` budgets by the latest
            record_run_settings(folder, self.federation)


def partner_model_folder(data_dir: Path, run_name: str, run_id: int) -> Path:
    """Where a partner keeps its best model of one run: one folder per run, so runs never overwrite each other.
    The coordinator names the run: a name that is a path is refused, so it cannot choose where files go."""
    check_run_name(run_name)
    return data_dir / MODEL_ROOT / run_name / f"run-{run_id}"


def kept_scores(folder: Path) -> dict[str, float]:
    """The scores of the model kept for this run (also by a node that restarted since), with the trunk
    round it was kept at (-1: not recorded); without one, scores that any model replaces."""
    try:
        scores = dict(json.loads((folder / "scores.json").read_text()))
    except (OSError, ValueError, TypeError):
        return {VALID_SCORE: -np.inf, "trunk_round": 0}
    try:
        trunk_round = int(json.loads((folder / PROVENANCE_FILE).read_text()).get("trunk_round", -1))
    except (OSError, ValueError, TypeError, AttributeError):
        trunk_round = -1
    return {**scores, "trunk_round": trunk_round}


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
    net: MultitaskNet,
    scores: dict[str, float],
    federation: FederationConfig,
    trunk_round: int = -1,
) -> Path:
    """Keep the partner's best model so far (shared trunk + private heads) in its prepared folder, with the
    run's settings, the prepared labels it was trained on (their scaling is the model's) and the last round
    the federation aggregated into its trunk (0: none, the initial trunk; -1: not known), so that the
    partner can use it and compare it with a local-only model."""
    from fedadmet.federated.prepare import recorded_manifest
    from fedadmet.federated.task import private_arrays, shared_arrays

    folder = partner_model_folder(data_dir, run_name, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(shared_arrays(net) | private_arrays(net), str(folder / WEIGHTS_FILE))
    record_run_settings(folder, federation)
    labels = recorded_manifest(data_dir)["files"]["labels.npz"]
    provenance = {"saved": time.time(), "labels_sha256": labels, "trunk_round": trunk_round}
    (folder / PROVENANCE_FILE).write_text(json.dumps(provenance))
    (folder / "scores.json").write_text(json.dumps(scores))
    return folder
