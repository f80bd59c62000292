"""Federated training without Flower: a partner's data, its network, local training and scoring.

The Flower apps are thin adapters over these functions, so the same code trains the local-only and
the centralised baselines in the consortium benchmark. Parameter names starting with ``trunk.`` are
the shared part; ``heads.`` parameters are private to the partner and never leave it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, r2_score

from fedadmet.data.catalogue import get_endpoint
from fedadmet.federated.config import FederationConfig
from fedadmet.federated.prepare import PreparedDataError, read_manifest
from fedadmet.models.trunk import MultitaskNet, masked_multitask_loss

TEST_FOLD = 0
SHARED_PREFIX = "trunk."


class UnsafeUpdateError(ValueError):
    """An update that must not be aggregated (wrong parameter names or shapes, NaN or infinite values)."""


@dataclass
class PartnerData:
    """A partner's prepared data in memory: keyed features, scaled targets, censoring and folds."""

    name: str
    tasks: list[str]
    is_classification: np.ndarray
    features: np.ndarray
    targets: np.ndarray
    relations: np.ndarray
    folds: np.ndarray
    key_id: str

    @classmethod
    def load(cls, folder: Path, expected_key_id: str | None = None) -> PartnerData:
        """Trainable tasks of a prepared folder; regression targets z-scored on the training folds."""
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
        train = folds != TEST_FOLD
        for j in np.flatnonzero(~kinds):
            column = values[train, j]
            mean, std = np.nanmean(column), np.nanstd(column)
            values[:, j] = (values[:, j] - mean) / (std if std > 1e-6 else 1.0)
        return cls(
            name=str(manifest["partner"]),
            tasks=trainable,
            is_classification=kinds,
            features=np.load(Path(folder) / "features.npy", allow_pickle=False).astype(np.float32),
            targets=values,
            relations=labels["relations"][:, keep],
            folds=folds,
            key_id=str(manifest["key_id"]),
        )

    def rows(self, test: bool) -> np.ndarray:
        labelled = ~np.isnan(self.targets).all(axis=1)
        return np.flatnonzero(labelled & ((self.folds == TEST_FOLD) == test))


def build_net(n_features: int, tasks: list[str], config: FederationConfig) -> MultitaskNet:
    torch.manual_seed(config.seed)
    trunk = config.trunk
    return MultitaskNet(n_features, tasks, trunk.hidden_sizes, trunk.dropout, trunk.input_dropout)


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
) -> dict[str, float]:
    """Train trunk and heads on the partner's training folds; ``anchor`` adds FedProx's proximal term."""
    generator = torch.Generator().manual_seed(config.seed * 100_003 + round_seed)
    rows = data.rows(test=False)
    x = torch.as_tensor(data.features[rows])
    y = torch.as_tensor(data.targets[rows])
    relations = torch.as_tensor(data.relations[rows], dtype=torch.float32)
    kinds = torch.as_tensor(data.is_classification)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.trunk.weight_decay)
    anchored = (
        {k: torch.as_tensor(v) for k, v in anchor.items()} if anchor is not None and config.proximal_mu > 0 else None
    )
    parameters = dict(net.named_parameters())
    net.train()
    total, batches = 0.0, 0
    for _ in range(epochs):
        order = torch.randperm(len(rows), generator=generator)
        for start in range(0, len(order), config.trunk.batch_size):
            batch = order[start : start + config.trunk.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = masked_multitask_loss(net(x[batch]), y[batch], kinds, relations[batch])
            if anchored is not None:
                proximal = sum(((parameters[k] - v) ** 2).sum() for k, v in anchored.items())
                loss = loss + config.proximal_mu / 2 * proximal
            loss.backward()
            optimizer.step()
            total, batches = total + float(loss), batches + 1
    net.eval()
    return {"train_loss": total / max(batches, 1), "num-examples": float(len(rows))}


@torch.no_grad()
def predict_scaled(net: MultitaskNet, features: np.ndarray) -> np.ndarray:
    net.eval()
    return net(torch.as_tensor(features)).numpy()


def score_tasks(data: PartnerData, predictions: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    """AUC-PR per classification task and R² per regression task (exact values) on ``rows``."""
    scores: dict[str, float] = {}
    for j, task in enumerate(data.tasks):
        labelled = rows[~np.isnan(data.targets[rows, j])]
        if data.is_classification[j]:
            truth = data.targets[labelled, j]
            if len(np.unique(truth)) == 2:
                scores[task] = float(average_precision_score(truth, predictions[labelled, j]))
        else:
            exact = labelled[data.relations[labelled, j] == 0]
            if len(exact) >= 3:
                scores[task] = float(r2_score(data.targets[exact, j], predictions[exact, j]))
    return scores


def evaluate(net: MultitaskNet, data: PartnerData) -> dict[str, float]:
    """Scores on the partner's held-out scaffold fold; ``score`` is their mean (the benchmark's unit)."""
    predictions = predict_scaled(net, data.features)
    scores = score_tasks(data, predictions, data.rows(test=True))
    return {"score": float(np.mean(list(scores.values()))) if scores else float("nan"), **scores}
