"""Training loop for the multitask trunk: masked losses, early stopping on validation loss."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from fedadmet.models.config import TrunkConfig
from fedadmet.models.trunk import MultitaskNet, masked_multitask_loss


@dataclass
class TaskMatrix:
    """Scaled features and a (molecules × tasks) label matrix with NaN where a label is missing."""

    features: np.ndarray
    targets: np.ndarray

    def __post_init__(self) -> None:
        if len(self.features) != len(self.targets):
            raise ValueError("features and targets must have the same number of rows")


def train_trunk(
    net: MultitaskNet,
    train: TaskMatrix,
    valid: TaskMatrix | None,
    is_classification: np.ndarray,
    config: TrunkConfig,
    seed: int,
    progress: bool = True,
) -> list[float]:
    """Train ``net`` in place and keep the weights of the best validation epoch; returns the loss curve."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    kinds = torch.as_tensor(is_classification, dtype=torch.bool)
    x_train = torch.as_tensor(train.features)
    y_train = torch.as_tensor(train.targets, dtype=torch.float32)
    best_loss, best_state, stale, curve = float("inf"), copy.deepcopy(net.state_dict()), 0, []
    bar = tqdm(range(config.max_epochs), desc="trunk", unit="epoch", disable=not progress)
    for _ in bar:
        net.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = masked_multitask_loss(net(x_train[batch]), y_train[batch], kinds)
            loss.backward()
            optimizer.step()
        monitored = valid if valid is not None else train
        loss_value = evaluate_loss(net, monitored, kinds)
        curve.append(loss_value)
        bar.set_postfix(valid_loss=f"{loss_value:.4f}")
        if loss_value < best_loss - 1e-4:
            best_loss, best_state, stale = loss_value, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    bar.close()
    net.load_state_dict(best_state)
    net.eval()
    return curve


@torch.no_grad()
def evaluate_loss(net: MultitaskNet, data: TaskMatrix, kinds: torch.Tensor) -> float:
    net.eval()
    outputs = predict_raw(net, data.features)
    return float(masked_multitask_loss(torch.as_tensor(outputs), torch.as_tensor(data.targets), kinds))


@torch.no_grad()
def predict_raw(net: MultitaskNet, features: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    net.eval()
    blocks = [net(torch.as_tensor(features[i : i + batch_size])).numpy() for i in range(0, len(features), batch_size)]
    return np.concatenate(blocks) if blocks else np.zeros((0, len(net.tasks)), dtype=np.float32)
