"""The one training loop of the model family: AdamW over shuffled mini-batches of the masked multitask loss.

The central trunk, the side-task networks and a federation partner's network all learn through
:class:`NetworkTrainer`; censored labels (``relations``) are honoured wherever the data carries them.
Who calls it decides only how many epochs run and which epoch is kept (:class:`BestEpoch`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from fedadmet.models.config import TrunkConfig
from fedadmet.models.trunk import MultitaskNet, masked_multitask_loss


@dataclass
class TaskMatrix:
    """Scaled features and a (molecules × tasks) label matrix with NaN where a label is missing, each task's
    kind, and ``relations`` marking censored labels (-1 "<", +1 ">", 0 exact; none: every label is exact)."""

    features: np.ndarray
    targets: np.ndarray
    is_classification: np.ndarray
    relations: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.features) != len(self.targets):
            raise ValueError("features and targets must have the same number of rows")


class BestEpoch:
    """Keeps the weights of the epoch with the lowest monitored value (improving by more than ``min_delta``)
    and says when ``patience`` epochs in a row brought no improvement."""

    def __init__(self, min_delta: float = 0.0, patience: int | None = None) -> None:
        self.min_delta, self.patience = min_delta, patience
        self.best, self.stale = float("inf"), 0
        self.state: dict[str, torch.Tensor] | None = None

    def start(self, net: torch.nn.Module) -> None:
        """Keep the initial weights, should no epoch improve on them."""
        self.state = copy.deepcopy(net.state_dict())

    def update(self, net: torch.nn.Module, value: float) -> bool:
        """Record one epoch; True when training should stop."""
        if value < self.best - self.min_delta:
            self.best, self.state, self.stale = value, copy.deepcopy(net.state_dict()), 0
            return False
        self.stale += 1
        return self.patience is not None and self.stale >= self.patience

    def restore(self, net: torch.nn.Module) -> None:
        if self.state is not None:
            net.load_state_dict(self.state)


@dataclass
class NetworkTrainer:
    """How a :class:`MultitaskNet` learns: optimiser settings and batch size (``learning_rate`` overrides
    the config's, as a federation's own setting does)."""

    config: TrunkConfig
    learning_rate: float | None = None

    def optimizer(self, net: MultitaskNet) -> torch.optim.Optimizer:
        rate = self.config.learning_rate if self.learning_rate is None else self.learning_rate
        return torch.optim.AdamW(net.parameters(), lr=rate, weight_decay=self.config.weight_decay)

    def run_epochs(
        self,
        net: MultitaskNet,
        data: TaskMatrix,
        epochs: int,
        generator: torch.Generator,
        optimizer: torch.optim.Optimizer,
        anchor: Mapping[str, torch.Tensor] | None = None,
        proximal_mu: float = 0.0,
    ) -> float:
        """Train ``net`` in place for ``epochs`` passes; ``anchor`` adds FedProx's proximal term.
        Returns the mean batch loss."""
        x, y = torch.as_tensor(data.features), torch.as_tensor(data.targets, dtype=torch.float32)
        kinds = torch.as_tensor(data.is_classification, dtype=torch.bool)
        relations = None if data.relations is None else torch.as_tensor(data.relations, dtype=torch.float32)
        parameters = dict(net.named_parameters())
        net.train()
        total, batches = 0.0, 0
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator)
            for start in range(0, len(order), self.config.batch_size):
                batch = order[start : start + self.config.batch_size]
                optimizer.zero_grad(set_to_none=True)
                censored = None if relations is None else relations[batch]
                loss = masked_multitask_loss(net(x[batch]), y[batch], kinds, censored)
                if anchor is not None:
                    proximal = sum(((parameters[k] - v) ** 2).sum() for k, v in anchor.items())
                    loss = loss + proximal_mu / 2 * proximal
                loss.backward()
                optimizer.step()
                total, batches = total + float(loss.detach()), batches + 1
        net.eval()
        return total / max(batches, 1)

    def fit(
        self, net: MultitaskNet, train: TaskMatrix, valid: TaskMatrix | None, seed: int, progress: bool = True
    ) -> list[float]:
        """Train ``net`` in place, stopping early on the validation loss, and keep the weights of the best
        epoch; returns the loss curve."""
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        optimizer = self.optimizer(net)
        monitored = valid if valid is not None else train
        return early_stopped(
            net,
            lambda: self.run_epochs(net, train, 1, generator, optimizer),
            lambda: evaluate_loss(net, monitored),
            self.config.max_epochs,
            self.config.patience,
            "trunk" if progress else None,
        )


def early_stopped(
    net: torch.nn.Module,
    train_one_epoch: Callable[[], object],
    validation_loss: Callable[[], float],
    max_epochs: int,
    patience: int,
    progress: str | None,
) -> list[float]:
    """Epochs of ``train_one_epoch`` until the validation loss has not improved for ``patience`` epochs, then
    the best epoch's weights back in ``net`` (in eval mode); the loss curve. ``progress``: the progress bar's
    label, None for none. Every network of the family (trunk, side tasks, graph member) stops this way."""
    best = BestEpoch(min_delta=1e-4, patience=patience)
    best.start(net)
    curve: list[float] = []
    bar = tqdm(range(max_epochs), desc=progress, unit="epoch", disable=progress is None)
    for _ in bar:
        train_one_epoch()
        curve.append(validation_loss())
        bar.set_postfix(valid_loss=f"{curve[-1]:.4f}")
        if best.update(net, curve[-1]):
            break
    bar.close()
    best.restore(net)
    net.eval()
    return curve


@torch.no_grad()
def evaluate_loss(net: MultitaskNet, data: TaskMatrix) -> float:
    """The masked (censored) multitask loss of ``net`` on ``data``, in eval mode."""
    net.eval()
    outputs = torch.as_tensor(predict_raw(net, data.features))
    kinds = torch.as_tensor(data.is_classification, dtype=torch.bool)
    relations = None if data.relations is None else torch.as_tensor(data.relations, dtype=torch.float32)
    return float(masked_multitask_loss(outputs, torch.as_tensor(data.targets), kinds, relations))


@torch.no_grad()
def predict_raw(net: MultitaskNet, features: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Raw outputs (logits, scaled values), one column per task, in eval mode and in blocks."""
    net.eval()
    blocks = [net(torch.as_tensor(features[i : i + batch_size])).numpy() for i in range(0, len(features), batch_size)]
    return np.concatenate(blocks) if blocks else np.zeros((0, len(net.tasks)), dtype=np.float32)
