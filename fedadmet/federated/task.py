"""Federated training without Flower: a partner's data, its network, local training and scoring.

The Flower apps are thin adapters over these functions, so the same code trains the local-only and
the centralised baselines in the consortium benchmark. Parameter names starting with ``trunk.`` are
the shared part; ``heads.`` parameters are private to the partner and never leave it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from fedadmet.data.catalogue import get_endpoint
from fedadmet.federated.config import FederationConfig
from fedadmet.federated.prepare import PreparedDataError, read_manifest
from fedadmet.federated.privacy import RecordDpSchedule, secure_torch_generator
from fedadmet.models.metrics import score
from fedadmet.models.targets import TargetScaling
from fedadmet.models.trainer import BestEpoch, NetworkTrainer, TaskMatrix, predict_raw
from fedadmet.models.trunk import MultitaskNet

TEST_FOLD = 0
VALID_FOLD = 1
SHARED_PREFIX = "trunk."
OPTIMIZER_PREFIX = "optimizer."  # a partner's optimiser state: private, kept beside its heads
ADAM_STATE = ("step", "exp_avg", "exp_avg_sq")
Part = Literal["train", "valid", "test"]


class UnsafeUpdateError(ValueError):
    """An update that must not be aggregated (wrong parameter names or shapes, NaN or infinite values)."""


@dataclass
class PartnerData:
    """A partner's prepared data in memory: keyed features, scaled targets, censoring and folds.

    Targets are scaled as every network of the model family learns them (:attr:`scaling`)."""

    name: str
    tasks: list[str]
    is_classification: np.ndarray
    features: np.ndarray
    targets: np.ndarray
    relations: np.ndarray
    folds: np.ndarray
    key_id: str
    target_mean: np.ndarray
    target_std: np.ndarray

    @classmethod
    def load(cls, folder: Path, expected_key_id: str | None = None) -> PartnerData:
        """Trainable tasks of a prepared folder; regression targets z-scored on the training folds.

        Fold 0 (keyed by scaffold) is the test fold, fold 1 selects the round or epoch, the rest train.
        """
        manifest = read_manifest(folder, expected_key_id)
        trainable = [t["name"] for t in manifest["tasks"] if t["trainable"]]
        if not trainable:
            raise PreparedDataError(f"{folder} has no task that meets the quorum; nothing to train")
        all_tasks = [t["name"] for t in manifest["tasks"]]
        labels = np.load(Path(folder) / "labels.npz", allow_pickle=False)
        keep = [all_tasks.index(t) for t in trainable]
        values = labels["values"][:, keep].astype(np.float32)
        folds = labels["folds"]
        kinds = np.array([get_endpoint(t).is_classification for t in trainable])
        train = folds > VALID_FOLD
        scaling = TargetScaling.fit([values[train, j] for j in range(len(trainable))], kinds, np.float32)
        for j in np.flatnonzero(~kinds):
            values[:, j] = scaling.scale(j, values[:, j])
        return cls(
            name=str(manifest["partner"]),
            tasks=trainable,
            is_classification=kinds,
            features=np.load(Path(folder) / "features.npy", allow_pickle=False).astype(np.float32),
            targets=values,
            relations=labels["relations"][:, keep],
            folds=folds,
            key_id=str(manifest["key_id"]),
            target_mean=scaling.mean,
            target_std=scaling.std,
        )

    @property
    def scaling(self) -> TargetScaling:
        return TargetScaling(self.target_mean, self.target_std, self.is_classification)

    def matrix(self, part: Part) -> TaskMatrix:
        """The rows of ``part`` as the trainer takes them, censoring included."""
        rows = self.rows(part)
        return TaskMatrix(self.features[rows], self.targets[rows], self.is_classification, self.relations[rows])

    def rows(self, part: Part) -> np.ndarray:
        labelled = ~np.isnan(self.targets).all(axis=1)
        in_part = {"train": self.folds > VALID_FOLD, "valid": self.folds == VALID_FOLD, "test": self.folds == TEST_FOLD}
        return np.flatnonzero(labelled & in_part[part])

    @classmethod
    def pool(cls, partners: list[PartnerData], shared_heads: bool = False) -> PartnerData:
        """All partners' data on one machine: the centralised model of the same architecture, the
        federation's upper reference. Each partner's tasks are kept apart (``partner/task``), or with
        ``shared_heads`` one task per endpoint name takes every partner's labels of it (regression values
        each on its own partner's scale, which the partner's scores are read on)."""
        own = [[t if shared_heads else f"{p.name}/{t}" for t in p.tasks] for p in partners]
        tasks = list(dict.fromkeys(name for names in own for name in names))
        first = {
            name: (p, j) for p, names in zip(partners, own, strict=True) for j, name in reversed(list(enumerate(names)))
        }
        shape = (sum(len(p.features) for p in partners), len(tasks))
        targets, relations = np.full(shape, np.nan, dtype=np.float32), np.zeros(shape, dtype=np.int8)
        row = 0
        for p, names in zip(partners, own, strict=True):
            columns = [tasks.index(name) for name in names]
            targets[row : row + len(p.features), columns] = p.targets
            relations[row : row + len(p.features), columns] = p.relations
            row += len(p.features)
        return cls(
            name="pooled",
            tasks=tasks,
            is_classification=np.array([first[name][0].is_classification[first[name][1]] for name in tasks]),
            features=np.concatenate([p.features for p in partners]),
            targets=targets,
            relations=relations,
            folds=np.concatenate([p.folds for p in partners]),
            key_id=partners[0].key_id,
            target_mean=np.array([first[name][0].target_mean[first[name][1]] for name in tasks]),
            target_std=np.array([first[name][0].target_std[first[name][1]] for name in tasks]),
        )

    def columns_of(self, partner: PartnerData) -> list[int]:
        """The pooled columns of ``partner``'s tasks (its own, or the shared ones of the same names)."""
        return [
            self.tasks.index(f"{partner.name}/{t}" if f"{partner.name}/{t}" in self.tasks else t) for t in partner.tasks
        ]


def build_net(n_features: int, tasks: list[str], config: FederationConfig) -> MultitaskNet:
    return MultitaskNet.seeded(n_features, tasks, config.trunk, config.seed)


def shared_arrays(net: MultitaskNet) -> dict[str, np.ndarray]:
    """The trunk parameters: the only arrays a partner sends."""
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items() if k.startswith(SHARED_PREFIX)}


def private_arrays(net: MultitaskNet) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items() if not k.startswith(SHARED_PREFIX)}


def check_update(arrays: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]) -> None:
    """Refuse updates that do not match the shared trunk exactly or hold non-finite numbers."""
    if set(arrays) != set(reference):
        raise UnsafeUpdateError(f"parameter names differ from the trunk: {sorted(set(arrays) ^ set(reference))[:5]}")
    for name, value in arrays.items():
        if value.shape != reference[name].shape:
            raise UnsafeUpdateError(f"{name} has shape {value.shape}, expected {reference[name].shape}")
        if not np.isfinite(value).all():
            raise UnsafeUpdateError(f"{name} holds NaN or infinite values")


def load_arrays(net: MultitaskNet, arrays: Mapping[str, np.ndarray], shared: bool) -> None:
    """Load the trunk (``shared``) or the private heads after checking names, shapes and values."""
    check_update(arrays, shared_arrays(net) if shared else private_arrays(net))
    net.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()}, strict=False)


def train_local(
    net: MultitaskNet,
    data: PartnerData,
    config: FederationConfig,
    epochs: int,
    round_seed: int,
    anchor: Mapping[str, np.ndarray] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict[str, float]:
    """Train trunk and heads on the partner's training folds; ``anchor`` adds FedProx's proximal term;
    ``optimizer`` (default: a fresh AdamW at the configured rate) carries on the partner's own."""
    if config.record_dp is not None:
        raise ValueError("a run with record-level DP trains through train_private")
    generator = torch.Generator().manual_seed(config.seed * 100_003 + round_seed)
    trainer = NetworkTrainer(config.trunk, learning_rate=config.learning_rate)
    anchored = (
        {k: torch.as_tensor(v) for k, v in anchor.items()} if anchor is not None and config.proximal_mu > 0 else None
    )
    train = data.matrix("train")
    optimizer = optimizer or trainer.optimizer(net)
    loss = trainer.run_epochs(net, train, epochs, generator, optimizer, anchored, config.proximal_mu)
    return {"train_loss": loss, "num-examples": float(len(train.targets))}


def round_optimizer(
    net: MultitaskNet, config: FederationConfig, server_round: int, saved: Mapping[str, np.ndarray]
) -> torch.optim.Optimizer:
    """The partner's AdamW for one round: at the round's scheduled learning rate, with the moments it kept
    from its previous round (``saved``, as :func:`optimizer_arrays` wrote them; none: fresh), so that a
    partner's optimiser is its own across rounds instead of a new one each time."""
    optimizer = NetworkTrainer(config.trunk, learning_rate=config.round_learning_rate(server_round)).optimizer(net)
    names = [name for name, _ in net.named_parameters()]
    state: dict[int, dict[str, torch.Tensor]] = {}
    for index, name in enumerate(names):
        entry = {
            key: torch.as_tensor(saved[f"{OPTIMIZER_PREFIX}{name}.{key}"])
            for key in ADAM_STATE
            if f"{OPTIMIZER_PREFIX}{name}.{key}" in saved
        }
        if len(entry) == len(ADAM_STATE):
            entry["step"] = entry["step"].reshape(())
            state[index] = entry
    if state:
        optimizer.load_state_dict({**optimizer.state_dict(), "state": state})  # the round's rate stays
    return optimizer


def optimizer_arrays(net: MultitaskNet, optimizer: torch.optim.Optimizer) -> dict[str, np.ndarray]:
    """The optimiser's moments and step count by parameter name (``optimizer.<parameter>.<key>``): private
    to the partner, kept with its heads."""
    names = [name for name, _ in net.named_parameters()]
    return {
        f"{OPTIMIZER_PREFIX}{names[index]}.{key}": np.atleast_1d(torch.as_tensor(value).detach().cpu().numpy()).copy()
        for index, entry in optimizer.state_dict()["state"].items()
        for key, value in entry.items()
        if key in ADAM_STATE
    }


def record_dp_schedule(data: PartnerData, config: FederationConfig) -> RecordDpSchedule:
    """The partner's DP-SGD schedule for the run ``config`` plans (config.record_dp must be set)."""
    if config.record_dp is None:
        raise ValueError("the run has no record-level DP")
    records = len(data.rows("train"))
    batch, epochs = config.trunk.batch_size, config.local_epochs
    return RecordDpSchedule.of(config.record_dp, records, batch, epochs, config.rounds, data.name)


def train_private(
    net: MultitaskNet,
    data: PartnerData,
    config: FederationConfig,
    schedule: RecordDpSchedule,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict[str, float]:
    """One round of the partner's DP-SGD (Opacus): ``schedule.steps_per_round`` steps, each over a
    Poisson-sampled batch, each record's gradient of its own loss (:func:`record_losses`) clipped to the
    configured norm, Gaussian noise added to the sum, then AdamW. Trunk and heads both learn this way, so
    the heads trained in rounds are as private as the trunk. Batches and noise come from a generator
    nobody can replay. Returns the noise multiplier and steps (no loss: it would be a statistic of the
    records outside the accounting)."""
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    from fedadmet.models.trunk import record_losses

    if config.record_dp is None:
        raise ValueError("the run has no record-level DP")
    train = data.matrix("train")
    x, y = torch.as_tensor(train.features), torch.as_tensor(train.targets, dtype=torch.float32)
    kinds = torch.as_tensor(train.is_classification, dtype=torch.bool)
    relations = None if train.relations is None else torch.as_tensor(train.relations, dtype=torch.float32)
    generator = secure_torch_generator()
    model = GradSampleModule(net, loss_reduction="mean")
    private = DPOptimizer(
        optimizer or NetworkTrainer(config.trunk, learning_rate=config.learning_rate).optimizer(net),
        noise_multiplier=schedule.noise_multiplier,
        max_grad_norm=config.record_dp.max_grad_norm,
        expected_batch_size=max(1, round(schedule.sample_rate * len(x))),
        generator=generator,
    )
    model.train()
    try:
        with warnings.catch_warnings():
            # Opacus's hooks fire on outputs when the features need no gradient; PyTorch warns of it each step.
            warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
            for _ in range(schedule.steps_per_round):
                batch = torch.nonzero(torch.rand(len(x), generator=generator) < schedule.sample_rate).flatten()
                private.zero_grad(set_to_none=True)
                censored = None if relations is None else relations[batch]
                losses = record_losses(model(x[batch]), y[batch], kinds, censored)
                (losses.sum() / max(len(batch), 1)).backward()  # a mean, as Opacus's "mean" reduction expects
                private.step()  # an empty batch still takes a step of pure noise, as the accounting assumes
    finally:
        model.to_standard_module()  # the hooks and per-record gradients go; ``net`` keeps the trained weights
    net.eval()
    return {"noise_multiplier": schedule.noise_multiplier, "dp_steps": float(schedule.steps_per_round)}


def predict_scaled(net: MultitaskNet, features: np.ndarray) -> np.ndarray:
    """The network's raw outputs (logits, scaled values) for keyed feature rows, in one pass."""
    return predict_raw(net, features, batch_size=max(len(features), 1))


def scored_rows(data: PartnerData, part: Part, task: int) -> np.ndarray:
    """The rows of ``part`` that score task ``task``: labelled, and for regression exact (a censored value
    is a bound, not a residual)."""
    rows = data.rows(part)
    labelled = rows[~np.isnan(data.targets[rows, task])]
    return labelled if data.is_classification[task] else labelled[data.relations[labelled, task] == 0]


def score_tasks(data: PartnerData, predictions: np.ndarray, part: Part) -> dict[str, float]:
    """AUC-PR per classification task and R² per regression task (exact values) on one part."""
    scores: dict[str, float] = {}
    for j, task in enumerate(data.tasks):
        rows = scored_rows(data, part, j)
        truth = data.targets[rows, j]
        if data.is_classification[j] and len(np.unique(truth)) == 2:
            scores[task] = score("pr-auc", truth, predictions[rows, j])
        elif not data.is_classification[j] and len(rows) >= 3:
            scores[task] = score("r2", truth, predictions[rows, j])
    return scores


def mean_score(data: PartnerData, predictions: np.ndarray, part: Part) -> float:
    """The benchmark's unit: mean over the partner's tasks of AUC-PR / R² on one part."""
    scores = score_tasks(data, predictions, part)
    return float(np.mean(list(scores.values()))) if scores else float("nan")


def evaluate(net: MultitaskNet, data: PartnerData) -> dict[str, float]:
    """The validation score only: the test fold is scored once, by the partner, on the model it kept
    (``federate gain``); a test score each round would invite choosing rounds on it."""
    return {"valid_score": mean_score(data, predict_scaled(net, data.features), "valid")}


def refit_heads(
    net: MultitaskNet, data: PartnerData, config: FederationConfig, trunk_too: bool = False
) -> tuple[float, float]:
    """Train the private heads again on the trunk ``net`` now holds (kept frozen), stopping early on the
    validation fold: heads trained in a round fit the trunk before aggregation, not the aggregated one the
    partner keeps. ``trunk_too``: train the whole network on, from the consortium's trunk, into the
    partner's own model (its copy: the shared trunk is not changed). The refit stays only where it raises
    the validation score. Returns the validation score before and after (equal: the network as it was)."""
    before = mean_score(data, predict_scaled(net, data.features), "valid")
    saved = {k: v.detach().clone() for k, v in net.state_dict().items()}
    frozen = [] if trunk_too else [p for name, p in net.named_parameters() if name.startswith(SHARED_PREFIX)]
    for parameter in frozen:
        parameter.requires_grad_(False)  # AdamW skips parameters without a gradient: the trunk stays as sent
    try:
        trainer = NetworkTrainer(config.trunk, learning_rate=config.learning_rate)
        trainer.fit(net, data.matrix("train"), data.matrix("valid"), config.seed, progress=False)
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)
    after = mean_score(data, predict_scaled(net, data.features), "valid")
    if not after > before:  # NaN (nothing to score), no better or worse: the network as it was
        net.load_state_dict(saved)
        return before, before
    return before, after


def train_with_selection(
    data: PartnerData, config: FederationConfig, epochs: int, progress: bool = False
) -> tuple[MultitaskNet, list[float]]:
    """Train alone for ``epochs`` and keep the epoch that scores best on the validation fold
    (the local-only and centralised baselines; the federation selects its round the same way)."""
    net = build_net(data.features.shape[1], data.tasks, config)
    best, curve = BestEpoch(), []
    optimizer = NetworkTrainer(config.trunk, learning_rate=config.learning_rate).optimizer(net)  # one for all epochs
    for epoch in tqdm(range(epochs), desc="local-only model", unit="epoch", disable=not progress):
        train_local(net, data, config, epochs=1, round_seed=epoch, optimizer=optimizer)
        curve.append(mean_score(data, predict_scaled(net, data.features), "valid"))
        best.update(net, -curve[-1])  # the highest score is the lowest of its negation
    best.restore(net)
    return net, curve
